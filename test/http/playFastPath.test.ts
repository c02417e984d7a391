/**
 * The play role's fast path (http/playFastPath.ts) answers what memory holds before Fastify; the route
 * (http/playback.ts) answers the first request for each file. A viewer must not be able to tell them
 * apart: same status, same headers, same bytes; and whatever the fast path cannot decide (a refusal, a
 * Range, a conditional request, a master with a token) is the route's.
 */
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { newVideoId } from '../../src/storage/keys.js';
import {
  type ChunkedLadder,
  makeChunkedLadder,
  playbackToken,
  publishReadyVideo,
} from '../helpers/chunked.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

let ladder: ChunkedLadder;
let t: TestReel;
beforeAll(async () => {
  [ladder, t] = await Promise.all([
    makeChunkedLadder('fast-path', { width: 320, height: 180, seconds: 4 }, [180]),
    startTestReel({ roles: 'upload,play' }),
  ]);
});
afterAll(async () => {
  await t?.close();
  await ladder?.cleanup();
});

const publishReady = (id: string, policy: 'public' | 'signed') =>
  publishReadyVideo(t, ladder, id, policy, [0]);
const tokenOf = (id: string) => playbackToken(t, id);

/** Requests answered by the fast path so far (its debug lines say `fast: true`). */
function fastAnswers(): number {
  return fs
    .readFileSync(t.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"fast":true')).length;
}

async function fetchAll(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const body = Buffer.from(await res.arrayBuffer());
  const headers = Object.fromEntries(
    [...res.headers].filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)),
  );
  return { status: res.status, headers, body };
}

describe('the play fast path', () => {
  it('answers the second request of each file exactly as the route answered the first', async () => {
    const pub = newVideoId();
    const sig = newVideoId();
    await publishReady(pub, 'public');
    await publishReady(sig, 'signed');
    const token = await tokenOf(sig);
    const master = await (await fetch(`${t.url}/play/${sig}/${token}/master.m3u8`)).text();
    const session = /^\.\.\/([^/]+)\/180p\/index\.m3u8$/m.exec(master)![1]!;
    const urls = [
      `${t.url}/play/${pub}/public/master.m3u8`,
      `${t.url}/play/${pub}/public/180p/index.m3u8`,
      `${t.url}/play/${pub}/public/180p/init.mp4`,
      `${t.url}/play/${pub}/public/180p/seg_00000.m4s`,
      `${t.url}/play/${pub}/public/audio/seg_00000.m4s`,
      `${t.url}/play/${sig}/${session}/180p/index.m3u8`,
      `${t.url}/play/${sig}/${session}/180p/seg_00000.m4s`,
      `${t.url}/play/${sig}/${token}/180p/init.mp4`,
    ];
    for (const edge of [false, true]) {
      for (const url of urls) {
        const init: RequestInit = edge ? { headers: { 'X-Reel-Edge': '1' } } : {};
        const first = await fetchAll(url, init);
        expect(first.status, url).toBe(200);
        const fastBefore = fastAnswers();
        const second = await fetchAll(url, init);
        expect(fastAnswers(), `the fast path answered ${url}`).toBe(fastBefore + 1);
        expect(second.status).toBe(200);
        expect(second.headers, url).toEqual(first.headers);
        expect(second.body.equals(first.body), url).toBe(true);
        const head = await fetch(url, { ...init, method: 'HEAD' });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(first.body.length));
        expect((await head.arrayBuffer()).byteLength).toBe(0);
        if (edge) expect(second.headers['x-accel-expires']).toBeDefined();
        else expect(second.headers['x-accel-expires']).toBeUndefined();
      }
    }
    const seg = await readFile(path.join(ladder.dir, '180p/seg_00000.m4s'));
    expect((await fetchAll(urls[3]!)).body.equals(seg)).toBe(true);
  });

  it('leaves to the route what it cannot decide: refusals, ranges, conditionals, a master with a token', async () => {
    const a = newVideoId();
    const b = newVideoId();
    await publishReady(a, 'signed');
    await publishReady(b, 'public');
    const token = await tokenOf(a);
    const seg = (id: string, access: string) => `${t.url}/play/${id}/${access}/180p/seg_00000.m4s`;
    expect((await fetchAll(seg(a, token))).status).toBe(200);
    expect((await fetchAll(seg(a, token))).status).toBe(200); // kept now

    const before = fastAnswers();
    // Another video's path with a kept token; the public word on a signed video; a made-up file.
    const other = await fetchAll(seg(b, token));
    expect([other.status, JSON.parse(other.body.toString()).code]).toEqual([
      403,
      errors.tokenForOtherVideo.code,
    ]);
    expect((await fetchAll(seg(a, 'public'))).status).toBe(401);
    expect((await fetchAll(`${t.url}/play/${a}/${token}/180p/seg_00042.m4s`)).status).toBe(404);
    // A Range, a conditional request: the route's (206, 304).
    const range = await fetchAll(seg(a, token), { headers: { Range: 'bytes=0-9' } });
    expect(range.status).toBe(206);
    expect(range.body.length).toBe(10);
    const etag = (await fetchAll(seg(a, token))).headers['etag']!;
    expect((await fetchAll(seg(a, token), { headers: { 'If-None-Match': etag } })).status).toBe(304);
    // A master with a token starts a session each time: the route signs it (counted below).
    for (let i = 0; i < 2; i++) {
      const m = await fetchAll(`${t.url}/play/${a}/${token}/master.m3u8`);
      expect(m.status).toBe(200);
      expect(m.body.toString()).toMatch(/^\.\.\/ey/m);
    }
    // Only the one plain request above went the fast way.
    expect(fastAnswers() - before).toBe(1);

    // A deleted video: its kept answers are gone at once.
    expect((await t.api(`/v1/videos/${a}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetchAll(seg(a, token))).status).toBe(404);
  });
});

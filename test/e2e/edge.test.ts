/**
 * The shipped nginx edge (deploy/nginx/reel-edge.conf) in front of a Reel: Debian's nginx started on a free
 * port with that file (test/helpers/nginx.ts), real chunked videos (fMP4 from a transcode), one signed and
 * several public. What a viewer and an operator would check: one cached copy for every token, tokens still
 * checked at the edge, Reel's own errors, ranges, Cache-Control, and a delete or a policy switch reaching the
 * edge within seconds. Also /play-auth itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { openTokenKeys } from '../../src/http/tokenKeyRing.js';
import { signPlaybackToken, signSessionToken, type TokenKeys } from '../../src/http/tokens.js';
import {
  type ChunkedLadder,
  insertChunkedVideo,
  makeChunkedLadder,
  markReady,
  publishSegments,
} from '../helpers/chunked.js';
import { haveNginx, renderEdgeConfig, startEdge, type TestNginx } from '../helpers/nginx.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';

const SEG = '240p/seg_00000.m4s';

describe('the nginx edge in front of Reel', () => {
  let t: TestReel;
  let edge: TestNginx;
  let ladder: ChunkedLadder;
  let keys: TokenKeys & { stop(): void };

  const token = async (id: string, ttl = 600) => (await signPlaybackToken(keys, id, ttl)).token;
  const get = async (url: string, init?: RequestInit) => {
    const res = await fetch(url, init);
    const body = Buffer.from(await res.arrayBuffer());
    const json = res.headers.get('content-type')?.includes('json')
      ? (JSON.parse(body.toString()) as { code: string; statusCode: number })
      : undefined;
    return { status: res.status, headers: res.headers, body, code: json?.code, json };
  };
  /** How many times Reel served this file of this video (its request log names it without the token). */
  const servedByReel = (id: string, file: string) =>
    fs
      .readFileSync(t.logFile, 'utf8')
      .split('\n')
      .filter(
        (l) =>
          l.includes('request completed') &&
          l.includes('"statusCode":200') &&
          new RegExp(`"url":"/play/${id}/[^/"]+/${file}"`).test(l),
      ).length;
  /**
   * The same, once Reel has logged it: Reel logs a request when its response has finished, which may be a
   * moment after nginx has passed the last byte on; then a little longer, for any later one to show.
   */
  const originHits = async (id: string, file: string) => {
    await waitFor(`Reel's log of ${file}`, async () => servedByReel(id, file) > 0, 3000, 50).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    return servedByReel(id, file);
  };
  /** How many access checks for this video and purpose reached Reel. */
  const authChecks = (id: string, purpose: string) =>
    fs
      .readFileSync(t.logFile, 'utf8')
      .split('\n')
      .filter(
        (l) =>
          l.includes('request completed') && new RegExp(`"url":"/play-auth/${id}/[^/"]+/${purpose}"`).test(l),
      ).length;
  const fileBytes = (file: string) => fs.readFileSync(path.join(ladder.dir, file));

  beforeAll(async () => {
    // Never skipped: without nginx the edge is untested, so the file fails and says how to get it.
    if (!haveNginx())
      throw new Error("Debian's nginx is missing: `bash scripts/setup.sh --test` installs it");
    // Reel starts while ffmpeg makes the ladder.
    [t, ladder] = await Promise.all([
      startTestReel({ roles: 'upload,play' }),
      makeChunkedLadder('edge-src', { width: 426, height: 240, seconds: 8, audio: true }, [240]),
    ]);
    keys = await openTokenKeys(t.reel.db, t.reel.config, pino({ level: 'silent' }));
    for (const [id, policy] of [
      ['edgeSigned', 'signed'],
      ['edgePublic', 'public'],
      ['edgeDeleted', 'public'],
      ['edgeSwitch', 'public'],
    ] as const) {
      await insertChunkedVideo(t, ladder, id, policy);
      await publishSegments(t, ladder, id, [0, 1]);
      await markReady(t, ladder, id);
    }
    // Planned, nothing published yet: not playable.
    await insertChunkedVideo(t, ladder, 'edgeEarly', 'public');
    edge = await startEdge({ upstreams: [new URL(t.url).host] });
  }, 120_000);
  afterAll(async () => {
    keys?.stop();
    await edge?.stop();
    await t?.close();
    await ladder?.cleanup();
    if (t) fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('/play-auth: 204 with X-Accel-Expires when /play would serve; 401/403 as /play otherwise', async () => {
    const auth = (p: string) => get(`${t.url}/play-auth/${p}`);
    const pub = await auth('edgePublic/public/media');
    expect(pub.status).toBe(204);
    expect(pub.headers.get('x-accel-expires')).toBe('5');
    expect(pub.headers.get('cache-control')).toBe('no-store');

    const ok = await auth(`edgeSigned/${await token('edgeSigned')}/start`);
    expect([ok.status, ok.headers.get('x-accel-expires')]).toEqual([204, '5']);
    // Never kept past the token's expiry.
    const soon = await auth(`edgeSigned/${await token('edgeSigned', 2)}/media`);
    expect(soon.status).toBe(204);
    expect(Number(soon.headers.get('x-accel-expires'))).toBeGreaterThanOrEqual(1);
    expect(Number(soon.headers.get('x-accel-expires'))).toBeLessThanOrEqual(2);

    const none = await auth('edgeSigned/public/media');
    expect([none.status, none.code]).toEqual([401, errors.missingToken.code]);
    expect(none.headers.get('x-accel-expires')).toBe('2');
    const other = await auth(`edgeSigned/${await token('edgePublic')}/media`);
    expect([other.status, other.code]).toEqual([403, errors.tokenForOtherVideo.code]);
    const session = await signSessionToken(keys, 'edgeSigned', Math.floor(Date.now() / 1000) + 600);
    expect((await auth(`edgeSigned/${session}/media`)).status).toBe(204);
    const start = await auth(`edgeSigned/${session}/start`);
    expect([start.status, start.code]).toEqual([403, errors.sessionTokenCannotStart.code]);
    const expired = await auth(`edgeSigned/${await token('edgeSigned', -60)}/media`);
    expect([expired.status, expired.code]).toEqual([403, errors.expiredToken.code]);

    for (const p of ['noSuchVideo/public/media', 'edgeEarly/public/start']) {
      const r = await auth(p);
      expect([r.status, r.headers.get('x-reel-status'), r.headers.get('x-accel-expires')]).toEqual([
        403,
        '404',
        '2',
      ]);
    }
  });

  it('/play-auth never answers nginx a status it cannot read: a malformed id is 403, X-Reel-Status 400', async () => {
    const bad = await get(`${t.url}/play-auth/bad.id/public/media`);
    expect([bad.status, bad.headers.get('x-reel-status')]).toEqual([403, '400']);
    expect((await get(`${t.url}/play/bad.id/public/${SEG}`)).status).toBe(400);
  });

  it('/play-auth is in the API document, with the playback routes', async () => {
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { tags?: string[]; responses: Record<string, unknown> }>>;
    };
    const op = doc.paths['/play-auth/{videoId}/{access}/{purpose}']?.get;
    expect(op?.tags).toEqual(['playback']);
    expect(Object.keys(op?.responses ?? {})).toContain('204');
  });

  it('a signed segment is fetched from Reel once for every token; the bytes are Reel’s', async () => {
    const a = await get(`${edge.url}/play/edgeSigned/${await token('edgeSigned', 600)}/${SEG}`);
    const b = await get(`${edge.url}/play/edgeSigned/${await token('edgeSigned', 601)}/${SEG}`);
    expect([a.status, a.headers.get('x-cache-status')]).toEqual([200, 'MISS']);
    expect([b.status, b.headers.get('x-cache-status')]).toEqual([200, 'HIT']);
    expect(a.body.equals(fileBytes(SEG))).toBe(true);
    expect(b.body.equals(fileBytes(SEG))).toBe(true);
    expect(await originHits('edgeSigned', SEG)).toBe(1);
    // The viewer sees Reel's Cache-Control (private: a token URL), never X-Accel-Expires.
    expect(b.headers.get('cache-control')).toMatch(/^private, max-age=\d+, immutable$/);
    expect(b.headers.get('x-accel-expires')).toBeNull();
  });

  it('many viewers asking at once for a new segment: Reel serves it once', async () => {
    const file = '240p/seg_00001.m4s';
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => token('edgeSigned', 900 + i)));
    const answers = await Promise.all(tokens.map((tk) => get(`${edge.url}/play/edgeSigned/${tk}/${file}`)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.equals(fileBytes(file))).toBe(true);
    }
    expect(await originHits('edgeSigned', file)).toBe(1);
  });

  it('tokens are still checked at the edge, for cached files too, with Reel’s own errors', async () => {
    const url = (access: string, file = SEG) => `${edge.url}/play/edgeSigned/${access}/${file}`;
    await get(url(await token('edgeSigned'))); // cached
    const none = await get(url('public'));
    expect([none.status, none.code]).toEqual([401, errors.missingToken.code]);
    // A public URL is not checked at the edge: Reel itself refused it (never a copy made with a token).
    expect(none.headers.get('x-cache-status')).not.toBe('HIT');
    const other = await get(url(await token('edgePublic')));
    expect([other.status, other.code]).toEqual([403, errors.tokenForOtherVideo.code]);
    const expired = await get(url(await token('edgeSigned', -60)));
    expect([expired.status, expired.code]).toEqual([403, errors.expiredToken.code]);
    const session = await signSessionToken(keys, 'edgeSigned', Math.floor(Date.now() / 1000) + 600);
    expect((await get(url(session))).status).toBe(200);
    const master = await get(url(session, 'master.m3u8'));
    expect([master.status, master.code]).toEqual([403, errors.sessionTokenCannotStart.code]);
    // A token for the signed video on the public video's path: refused, though that file is cached.
    await get(`${edge.url}/play/edgePublic/public/${SEG}`);
    const cross = await get(`${edge.url}/play/edgePublic/${await token('edgeSigned')}/${SEG}`);
    expect([cross.status, cross.code]).toEqual([403, errors.tokenForOtherVideo.code]);
    expect(await originHits('edgeSigned', SEG)).toBe(1);
  });

  it('the edge keeps its access checks for seconds: one /play-auth for many files', async () => {
    const before = authChecks('edgePublic', 'media');
    const signedBefore = authChecks('edgeSigned', 'media');
    const tok = await token('edgeSigned', 777); // a token no other test made (same second, same claims)
    for (const f of ['240p/init.mp4', '240p/seg_00001.m4s', 'audio/init.mp4', 'audio/seg_00000.m4s']) {
      expect((await get(`${edge.url}/play/edgePublic/public/${f}`)).status).toBe(200);
      expect((await get(`${edge.url}/play/edgeSigned/${tok}/${f}`)).status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 200)); // Reel logs a request just after answering it
    // Public URLs are not checked at the edge at all; a token is checked once for all its files.
    expect(authChecks('edgePublic', 'media') - before).toBe(0);
    expect(authChecks('edgeSigned', 'media') - signedBefore).toBe(1);
    // Reel logs /play-auth without the token, as it does /play.
    expect(fs.readFileSync(t.logFile, 'utf8')).toContain('"url":"/play-auth/edgeSigned/…/media"');
    expect(fs.readFileSync(t.logFile, 'utf8')).not.toMatch(/"url":"\/play-auth\/edgeSigned\/ey/);
  });

  it('a token that expires stops working at the edge within a second of its expiry', async () => {
    const short = await token('edgeSigned', 2);
    expect((await get(`${edge.url}/play/edgeSigned/${short}/${SEG}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3200));
    const late = await get(`${edge.url}/play/edgeSigned/${short}/${SEG}`);
    expect([late.status, late.code]).toEqual([403, errors.expiredToken.code]);
  });

  it('a master with a playback token is never cached: each fetch starts a new session', async () => {
    const url = `${edge.url}/play/edgeSigned/${await token('edgeSigned')}/master.m3u8`;
    const one = await get(url);
    await new Promise((r) => setTimeout(r, 1100)); // a session token is signed to the second
    const two = await get(url);
    expect([one.status, two.status]).toEqual([200, 200]);
    expect(one.headers.get('x-cache-status')).toBe('BYPASS');
    expect(two.headers.get('x-cache-status')).toBe('BYPASS');
    expect(one.body.toString()).toMatch(/^\.\.\/[^/\s]+\/240p\/index\.m3u8$/m);
    expect(one.body.toString()).not.toBe(two.body.toString());
    // Its media playlist (no token inside) is shared like a segment.
    const pl = `240p/index.m3u8`;
    const p1 = await get(`${edge.url}/play/edgeSigned/${await token('edgeSigned', 700)}/${pl}`);
    const p2 = await get(`${edge.url}/play/edgeSigned/${await token('edgeSigned', 701)}/${pl}`);
    expect([p1.headers.get('x-cache-status'), p2.headers.get('x-cache-status')]).toEqual(['MISS', 'HIT']);
    expect(p2.body.equals(p1.body)).toBe(true);
  });

  it('a public video plays without a token: master cached, ranges from the cached copy', async () => {
    const master = `${edge.url}/play/edgePublic/public/master.m3u8`;
    const m1 = await get(master);
    const m2 = await get(master);
    expect([m1.status, m1.headers.get('x-cache-status')]).toEqual([200, 'MISS']);
    expect([m2.status, m2.headers.get('x-cache-status')]).toEqual([200, 'HIT']);
    expect(m2.headers.get('cache-control')).toBe('public, max-age=10');
    expect(m2.headers.get('x-accel-expires')).toBeNull();

    const file = 'audio/seg_00001.m4s';
    const whole = await get(`${edge.url}/play/edgePublic/public/${file}`);
    expect(whole.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const part = await get(`${edge.url}/play/edgePublic/public/${file}`, {
      headers: { Range: 'bytes=100-299' },
    });
    expect([part.status, part.headers.get('x-cache-status')]).toEqual([206, 'HIT']);
    expect(part.headers.get('content-range')).toBe(`bytes 100-299/${fileBytes(file).length}`);
    expect(part.body.equals(fileBytes(file).subarray(100, 300))).toBe(true);
    expect(await originHits('edgePublic', file)).toBe(1);
  });

  it('a deleted video, and a video switched to signed, are refused at the edge within seconds', async () => {
    for (const id of ['edgeDeleted', 'edgeSwitch']) {
      const r = await get(`${edge.url}/play/${id}/public/${SEG}`);
      expect(r.status).toBe(200);
      expect((await get(`${edge.url}/play/${id}/public/${SEG}`)).headers.get('x-cache-status')).toBe('HIT');
    }
    const changedAt = Date.now();
    expect((await t.api('/v1/videos/edgeDeleted', { method: 'DELETE' })).status).toBeLessThan(300);
    const patch = await t.api('/v1/videos/edgeSwitch', {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ playbackPolicy: 'signed' }),
    });
    expect(patch.status).toBe(200);
    const deleted = await waitFor(
      'the edge to refuse the deleted video',
      async () => {
        const r = await get(`${edge.url}/play/edgeDeleted/public/${SEG}`);
        return r.status !== 200 && r;
      },
      8000,
      250,
    );
    expect([deleted.status, deleted.code]).toEqual([404, errors.videoNotFound.code]);
    const switched = await waitFor(
      'the edge to refuse the switched video',
      async () => {
        const r = await get(`${edge.url}/play/edgeSwitch/public/${SEG}`);
        return r.status !== 200 && r;
      },
      8000,
      250,
    );
    expect([switched.status, switched.code]).toEqual([401, errors.missingToken.code]);
    expect(Date.now() - changedAt).toBeLessThan(6500);
  });

  it('X-Reel-Edge: 1 sent straight to Reel grants nothing more', async () => {
    const edgeHeader = { 'X-Reel-Edge': '1' };
    const none = await get(`${t.url}/play/edgeSigned/public/${SEG}`, { headers: edgeHeader });
    expect([none.status, none.code]).toEqual([401, errors.missingToken.code]);
    const expired = await get(`${t.url}/play/edgeSigned/${await token('edgeSigned', -60)}/${SEG}`, {
      headers: edgeHeader,
    });
    expect(expired.status).toBe(403);
    // And at the edge, a viewer's own X-Reel-Edge changes nothing either.
    const viaEdge = await get(`${edge.url}/play/edgeSigned/public/${SEG}`, { headers: edgeHeader });
    expect(viaEdge.status).toBe(401);
  });

  it('a CORS preflight and a HEAD pass the edge; only images made on request are keyed by their query', async () => {
    const url = `${edge.url}/play/edgePublic/public/240p/init.mp4`;
    const pre = await fetch(url, {
      method: 'OPTIONS',
      headers: { Origin: 'https://player.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([
      200,
      String(fileBytes('240p/init.mp4').length),
    ]);
    // Made-up query strings on a file share its one copy (they cannot fill the cache).
    const seg = `${edge.url}/play/edgePublic/public/240p/seg_00001.m4s`;
    await get(seg);
    for (const q of ['?v=1', '?v=2', '?x=a&y=b']) {
      const r = await get(`${seg}${q}`);
      expect([r.status, r.headers.get('x-cache-status')]).toEqual([200, 'HIT']);
    }
    // A thumbnail's query names the image: each is its own copy.
    const thumb = `${edge.url}/play/edgePublic/public/thumbnail.jpg`;
    const statuses = [];
    for (const q of ['?time=1&width=64', '?time=1&width=64', '?time=2&width=64']) {
      const r = await get(`${thumb}${q}`);
      expect(r.status).toBe(200);
      statuses.push(r.headers.get('x-cache-status'));
    }
    expect(statuses).toEqual(['MISS', 'HIT', 'MISS']);
  });

  it('renders the shipped file for several Reel processes', () => {
    const conf = renderEdgeConfig({
      listen: 9999,
      upstreams: ['10.0.0.1:3000', '10.0.0.2:3000'],
      cacheDir: '/c',
    });
    expect(conf).toMatch(
      /^ {4}server 10\.0\.0\.1:3000 max_fails=0;\n {4}server 10\.0\.0\.2:3000 max_fails=0;$/m,
    );
    expect(conf).toMatch(/^ {4}listen 9999;$/m);
    expect(conf).toContain('proxy_cache_path /c/reel-media ');
    expect(conf).not.toMatch(/^proxy_cache_path \/var/m);
  });

  it('the API passes through the edge uncached', async () => {
    const res = await fetch(`${edge.url}/v1/videos/edgePublic`, { headers: t.auth });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('edgePublic');
    expect(res.headers.get('x-cache-status')).toBeNull();
  });
});

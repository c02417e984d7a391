/**
 * Playback of a chunked video while it processes: rows and objects laid out by hand as the worker side
 * publishes them (test/helpers/chunked.ts: a video row with output_prefix NULL, one `outputs` row per
 * published file, real fMP4 files from a transcode in the store), then /play answered from the database.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenditionInfo } from '../../src/core/types.js';
import { parseMediaPlaylist } from '../../src/media/playlist.js';
import { FFMPEG } from '../fixtures/generate.js';
import {
  type ChunkedLadder,
  insertChunkedVideo,
  type LadderFile,
  makeChunkedLadder,
  markPlayable,
  publishOutput,
} from '../helpers/chunked.js';
import { parseMasterPlaylist } from '../helpers/hls.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

const run = promisify(execFile);

describe('playback of a chunked video while it processes', () => {
  let t: TestReel;
  let ladder: ChunkedLadder;
  let work: string;
  let files: Map<string, LadderFile>;
  let measured: RenditionInfo[];
  let names: string[];

  const insertChunked = (id: string, policy: 'public' | 'signed') =>
    insertChunkedVideo(t, ladder, id, policy);
  const publish = (id: string, file: string) => publishOutput(t, ladder, id, file);
  const setPlayable = (id: string) => markPlayable(t, id);
  const playbackUrl = async (id: string) => {
    const res = await t.api(`/v1/videos/${id}/playback`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { url: string }).url;
  };
  const answer = async (url: string | URL, init?: RequestInit) => {
    const res = await fetch(url, init);
    const body = Buffer.from(await res.arrayBuffer());
    const code = res.status >= 400 ? (JSON.parse(body.toString()) as { code: string }).code : undefined;
    return { status: res.status, code, body, headers: res.headers };
  };

  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
    ladder = await makeChunkedLadder('chunked-src', { width: 640, height: 360, seconds: 12 }, [360, 240]);
    ({ files, measured, names, dir: work } = ladder);
    await publishFake(t, 'legacyL', 'public');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await ladder?.cleanup();
  });

  it('the transcode gave what the test needs: two rungs and audio, three segments each', async () => {
    expect(names).toEqual(['360p', '240p', 'audio']);
    for (const name of names) {
      expect((await readdir(path.join(work, name))).filter((f) => f.endsWith('.m4s'))).toHaveLength(3);
    }
  });

  it('404 before it is playable; then the master lists every rung and the audio group', async () => {
    await insertChunked('chunkA', 'public');
    // The first chunk of one rung is in, not yet of the others: not playable.
    await publish('chunkA', '360p/init.mp4');
    await publish('chunkA', '360p/seg_00000.m4s');
    const before = (await (await t.api('/v1/videos/chunkA')).json()) as Record<string, unknown>;
    expect(before).toMatchObject({ status: 'processing', playable: false, playableAt: null });
    const url = await playbackUrl('chunkA');
    expect(url).toBe(`${t.url}/play/chunkA/public/master.m3u8`);
    for (const u of [url, new URL('360p/index.m3u8', url), new URL('360p/seg_00000.m4s', url)]) {
      expect(await answer(u)).toMatchObject({ status: 404, code: 'REEL_VIDEO_NOT_READY' });
    }

    for (const f of ['240p/init.mp4', '240p/seg_00000.m4s', 'audio/init.mp4', 'audio/seg_00000.m4s'])
      await publish('chunkA', f);
    await setPlayable('chunkA');
    const after = (await (await t.api('/v1/videos/chunkA')).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ status: 'processing', playable: true, readyAt: null });
    expect(Math.abs(new Date(after.playableAt as string).getTime() - Date.now())).toBeLessThan(60_000);
    // The list shows the same.
    const list = (await (await t.api('/v1/videos')).json()) as { data: Record<string, unknown>[] };
    expect(list.data.find((v) => v.id === 'chunkA')).toMatchObject({ playable: true });
    // A ready video from before chunks is playable since it was ready.
    expect(await (await t.api('/v1/videos/legacyL')).json()).toMatchObject({ playable: true });

    const master = await answer(url);
    expect(master.status).toBe(200);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    const parsed = parseMasterPlaylist(master.body.toString());
    expect(parsed.media).toEqual([expect.objectContaining({ TYPE: 'AUDIO', URI: 'audio/index.m3u8' })]);
    expect(parsed.variants.map((v) => [v.uri, v.attributes.BANDWIDTH, v.attributes.AUDIO])).toEqual([
      ['360p/index.m3u8', '5000000', 'aud'],
      ['240p/index.m3u8', '5000000', 'aud'],
    ]);
    expect(parsed.variants[0]!.attributes.CODECS).toBe(measured[0]!.codecs);
  });

  it('an EVENT playlist lists only the contiguous published segments and grows as rows are added', async () => {
    const url = new URL('240p/index.m3u8', await playbackUrl('chunkA'));
    const get = async () => {
      const res = await answer(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=1');
      return { text: res.body.toString(), pl: parseMediaPlaylist(res.body.toString()) };
    };
    const first = await get();
    expect(first.text).toContain('#EXT-X-PLAYLIST-TYPE:EVENT\n');
    expect(first.text).toContain('#EXT-X-START:TIME-OFFSET=0\n');
    expect(first.pl.endList).toBe(false);
    expect(first.pl.mapUri).toBe('init.mp4');
    expect(first.pl.segments.map((s) => s.uri)).toEqual(['seg_00000.m4s']);
    expect(first.pl.segments[0]!.duration).toBeCloseTo(files.get('240p/seg_00000.m4s')!.duration!, 5);

    // The third chunk commits before the second: no gap is ever listed.
    await publish('chunkA', '240p/seg_00002.m4s');
    expect((await get()).pl.segments.map((s) => s.uri)).toEqual(['seg_00000.m4s']);
    expect(await answer(new URL('seg_00001.m4s', url))).toMatchObject({
      status: 404,
      code: 'REEL_NOT_FOUND',
    });
    await publish('chunkA', '240p/seg_00001.m4s');
    const grown = await get();
    expect(grown.pl.segments.map((s) => s.uri)).toEqual(['seg_00000.m4s', 'seg_00001.m4s', 'seg_00002.m4s']);
    expect(grown.pl.targetDuration).toBe(first.pl.targetDuration);
  });

  it('segments, init and poster are served by path with their bytes; ffmpeg plays what is published', async () => {
    const base = await playbackUrl('chunkA');
    const seg = await answer(new URL('240p/seg_00001.m4s', base));
    expect(seg.status).toBe(200);
    expect(seg.headers.get('content-type')).toBe('video/iso.segment');
    expect(seg.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(seg.body.equals(await readFile(path.join(work, '240p/seg_00001.m4s')))).toBe(true);
    const part = await answer(new URL('240p/seg_00001.m4s', base), { headers: { Range: 'bytes=4-11' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(seg.body.subarray(4, 12))).toBe(true);
    const init = await answer(new URL('240p/init.mp4', base));
    expect(init.headers.get('content-type')).toBe('video/mp4');
    expect(init.body.equals(await readFile(path.join(work, '240p/init.mp4')))).toBe(true);
    expect((await answer(new URL('poster.jpg', base))).status).toBe(404);
    await publish('chunkA', 'poster.jpg');
    const poster = await answer(new URL('poster.jpg', base));
    expect([poster.status, poster.headers.get('content-type')]).toEqual([200, 'image/jpeg']);

    // A real reader of the growing playlist (live to ffmpeg: from its first segment, for 11 s of the 12 s
    // published in 240p, or it would wait for more).
    const { stderr } = await run(
      FFMPEG,
      [
        '-hide_banner',
        '-nostdin',
        '-live_start_index',
        '0',
        '-i',
        new URL('240p/index.m3u8', base).href,
        '-map',
        '0:v:0',
        '-t',
        '11',
        '-f',
        'null',
        '-',
      ],
      { timeout: 30_000 },
    );
    const time = [...stderr.matchAll(/time=(\d+):(\d+):(\d+\.\d+)/g)].at(-1)!;
    expect(Number(time[1]) * 3600 + Number(time[2]) * 60 + Number(time[3])).toBeGreaterThan(10.9);
  });

  it('at ready the playlists become VOD with ENDLIST and the master has the measured bandwidths', async () => {
    for (const [p] of files) {
      const have = await t.reel.db.query('SELECT 1 FROM outputs WHERE video_id = $1 AND path = $2', [
        'chunkA',
        p,
      ]);
      if (have.length === 0) await publish('chunkA', p);
    }
    const base = await playbackUrl('chunkA');
    // Every segment is in, but the video is not ready yet: still EVENT.
    expect((await answer(new URL('audio/index.m3u8', base))).body.toString()).toContain('TYPE:EVENT');
    await t.reel.db.query(
      `UPDATE videos SET status = 'ready', ready_at = now(), progress = 1, renditions = $2::jsonb WHERE id = $1`,
      ['chunkA', JSON.stringify(measured)],
    );
    for (const name of names) {
      const res = await answer(new URL(`${name}/index.m3u8`, base));
      expect(res.headers.get('cache-control'), name).toBe('public, max-age=10');
      const text = res.body.toString();
      expect(text, name).toContain('#EXT-X-PLAYLIST-TYPE:VOD\n');
      expect(text, name).not.toContain('EXT-X-START');
      const pl = parseMediaPlaylist(text);
      expect(pl.endList, name).toBe(true);
      // The same segments and durations as the single-process ladder's own playlist.
      const own = parseMediaPlaylist(await readFile(path.join(work, name, 'index.m3u8'), 'utf8'));
      // Audio's target is 5 s from the start (its last segment may take in a tail of up to 1 s).
      expect(pl.targetDuration, name).toBe(name === 'audio' ? 5 : own.targetDuration);
      expect(pl.segments, name).toEqual(
        own.segments.map((s) => ({ uri: s.uri, duration: expect.closeTo(s.duration, 5) })),
      );
    }
    const master = parseMasterPlaylist((await answer(base)).body.toString());
    expect(master.variants.map((v) => Number(v.attributes.BANDWIDTH))).toEqual(
      measured.map((r) => Math.round(r.bandwidth)),
    );
    // The single-process ladder's master for the same renditions, word for word.
    expect((await answer(base)).body.toString()).toBe(await readFile(path.join(work, 'master.m3u8'), 'utf8'));
    expect(await (await t.api('/v1/videos/chunkA')).json()).toMatchObject({
      status: 'ready',
      playable: true,
    });
  });

  it('a video that failed after it became playable no longer plays', async () => {
    await insertChunked('chunkF', 'public');
    for (const name of names) {
      await publish('chunkF', `${name}/init.mp4`);
      await publish('chunkF', `${name}/seg_00000.m4s`);
    }
    await setPlayable('chunkF');
    const url = await playbackUrl('chunkF');
    expect((await answer(url)).status).toBe(200);
    await t.reel.db.query(`UPDATE videos SET status = 'failed', error = 'x' WHERE id = 'chunkF'`);
    expect(await answer(url)).toMatchObject({ status: 404, code: 'REEL_VIDEO_NOT_READY' });
    expect(await (await t.api('/v1/videos/chunkF')).json()).toMatchObject({
      playable: false,
      playableAt: null,
    });
  });

  it('hostile requests get the answers a legacy video gets', async () => {
    // chunkB has a file chunkA lacks (a rung of its own): A never serves it.
    await insertChunked('chunkB', 'public');
    await publish('chunkB', '360p/init.mp4');
    await t.reel.db.query(
      `INSERT INTO outputs (video_id, path, key, rendition, bytes) VALUES ('chunkB', '999p/init.mp4', 'videos/chunkB/chunked/360p/init.mp4', '999p', 1)`,
    );
    expect((await answer(`${t.url}/play/chunkB/public/999p/init.mp4`)).status).toBe(404); // not playable
    await setPlayable('chunkB');
    expect((await answer(`${t.url}/play/chunkB/public/999p/init.mp4`)).status).toBe(200);

    const cases = [
      '999p/init.mp4',
      '999p/index.m3u8',
      '360p/seg_00099.m4s',
      'secret.txt',
      '..%2F..%2F..%2Fetc%2Fpasswd',
      '360p/..%2F..%2F..%2F..%2Freel.lock',
      '%2e%2e/%2e%2e/%2e%2e/reel.log',
      '360p/index.m3u8%00',
      'audio/../360p/init.mp4x',
    ];
    for (const c of cases) {
      const legacy = await answer(`${t.url}/play/legacyL/public/${c}`);
      const chunked = await answer(`${t.url}/play/chunkA/public/${c}`);
      expect([chunked.status, chunked.code], c).toEqual([legacy.status, legacy.code]);
      expect(chunked.status, c).toBeGreaterThanOrEqual(400);
      expect(chunked.status, c).toBeLessThan(500);
    }
    expect((await answer(`${t.url}/play/chunkA/public/999p/init.mp4`)).code).toBe('REEL_NOT_FOUND');
  });

  it('signed: the master starts a session, its renditions play through it; tokens of another video are refused', async () => {
    await insertChunked('chunkS', 'signed');
    await insertChunked('chunkT', 'signed');
    for (const id of ['chunkS', 'chunkT']) {
      for (const name of names) {
        await publish(id, `${name}/init.mp4`);
        await publish(id, `${name}/seg_00000.m4s`);
      }
      await setPlayable(id);
    }
    const url = await playbackUrl('chunkS');
    const master = await answer(url);
    expect(master.status).toBe(200);
    expect(master.headers.get('cache-control')).toBe('private, max-age=10');
    const text = master.body.toString();
    const variant = text.trim().split('\n').pop()!;
    expect(variant).toMatch(/^\.\.\/[\w-]+\.[\w-]+\.[\w-]+\/240p\/index\.m3u8$/);
    expect(text).toMatch(/URI="\.\.\/[\w-]+\.[\w-]+\.[\w-]+\/audio\/index\.m3u8"/);
    const child = new URL(variant, url);
    const playlist = await answer(child);
    expect(playlist.status).toBe(200);
    expect(playlist.headers.get('cache-control')).toBe('private, max-age=1');
    expect(parseMediaPlaylist(playlist.body.toString()).segments).toHaveLength(1);
    const seg = await answer(new URL('seg_00000.m4s', child));
    expect(seg.status).toBe(200);
    expect(seg.headers.get('cache-control')).toMatch(/^private, max-age=\d+, immutable$/);
    // The session cannot start a playback.
    const session = new URL(child).pathname.split('/')[3]!;
    expect(await answer(`${t.url}/play/chunkS/${session}/master.m3u8`)).toMatchObject({
      status: 403,
      code: 'REEL_SESSION_TOKEN',
    });
    // chunkT's token and session on chunkS: refused as for a legacy video; no token: as for a legacy video.
    const tokenT = new URL(await playbackUrl('chunkT')).pathname.split('/')[3]!;
    for (const file of ['master.m3u8', '240p/index.m3u8', '240p/seg_00000.m4s']) {
      expect(await answer(`${t.url}/play/chunkS/${tokenT}/${file}`), file).toMatchObject({
        status: 403,
        code: 'REEL_TOKEN_WRONG_VIDEO',
      });
      expect(await answer(`${t.url}/play/chunkS/public/${file}`), file).toMatchObject({
        status: 401,
        code: 'REEL_MISSING_TOKEN',
      });
    }
  });
});

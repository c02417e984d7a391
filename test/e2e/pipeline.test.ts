/**
 * The whole pipeline over HTTP with real ffmpeg: a generated 1080p clip uploaded with tus-js-client,
 * transcoded by the in-process worker, played back through the playback URL and checked with ffprobe.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoView } from '../../src/db/videos.js';
import { makeAudioOnly, makeClip, makeEmptyFile, makeTextFile, makeTruncated } from '../fixtures/generate.js';
import {
  parseMasterPlaylist,
  parseMediaPlaylist,
  probeRendition,
  recomputeVariantBitrates,
} from '../helpers/hls.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const run = promisify(execFile);

/** What GET /v1/videos/{id} answers. */
type Video = VideoView;

describe('upload → HLS ladder → playback', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel();
  });
  afterAll(() => t.close());

  const getVideo = async (id: string) => (await (await t.api(`/v1/videos/${id}`)).json()) as Video;
  const settle = (id: string, seen?: Video[]) =>
    waitFor(
      `video ${id} to settle`,
      async () => {
        const v = await getVideo(id);
        seen?.push(v);
        return v.status === 'ready' || v.status === 'failed' ? v : undefined;
      },
      240_000,
      150,
    );

  it('a 1080p clip becomes a four-rung ladder that plays, with aligned keyframes and honest bandwidths', async () => {
    const clip = await makeClip('e2e-1080p', { width: 1920, height: 1080, seconds: 8 });
    const id = await tusUpload(t, fs.readFileSync(clip), { title: 'e2e', filename: 'e2e.mp4' });
    const seen: Video[] = [];
    const video = await settle(id, seen);
    expect(video.error).toBeNull();
    expect(video.status).toBe('ready');
    // Progress was visible while it ran, and never went backwards.
    const progress = seen.filter((v) => v.status === 'processing').map((v) => v.progress);
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(video.durationMs).toBeGreaterThan(7800);
    expect(video.durationMs).toBeLessThan(8200);
    expect([video.width, video.height]).toEqual([1920, 1080]);
    expect(video.renditions.map((r) => [r.name, r.width, r.height])).toEqual([
      ['1080p', 1920, 1080],
      ['720p', 1280, 720],
      ['480p', 854, 480],
      ['240p', 426, 240],
    ]);
    expect(video.readyAt).not.toBeNull();

    const { url } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
    const masterText = await (await fetch(url)).text();
    const master = parseMasterPlaylist(masterText);
    expect(master.independentSegments).toBe(true);
    expect(master.media).toHaveLength(1);
    expect(master.media[0]).toMatchObject({ TYPE: 'AUDIO', 'GROUP-ID': 'aud', CHANNELS: '2' });
    const keyframes: number[][] = [];
    for (const [i, variant] of master.variants.entries()) {
      const expected = video.renditions[i]!;
      expect(variant.attributes['RESOLUTION']).toBe(`${expected.width}x${expected.height}`);
      expect(variant.attributes['CODECS']).toMatch(/^avc1\.64[0-9A-F]{4},mp4a\.40\.2$/);
      expect(Number(variant.attributes['FRAME-RATE'])).toBeCloseTo(30, 1);
      const probe = await probeRendition(new URL(variant.uri, url).href);
      expect([probe.width, probe.height]).toEqual([expected.width, expected.height]);
      expect(probe.profile).toBe('High');
      expect(probe.pixFmt).toBe('yuv420p');
      expect(Math.abs(probe.durationSec - 8)).toBeLessThanOrEqual(0.2);
      keyframes.push(probe.keyframeTimes.map((k) => Math.round(k * 1000) / 1000));
    }
    // Keyframes every 2 s, at the same times in every rendition.
    const first = keyframes[0]!;
    expect(first.length).toBeGreaterThanOrEqual(4);
    first.forEach((k, i) => {
      if (i > 0) expect(k - first[i - 1]!).toBeCloseTo(2, 1);
    });
    for (const k of keyframes) expect(k).toEqual(first);
    // The audio rendition carries the source's sound.
    const audioUri = new URL(master.media[0]!['URI']!, url).href;
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-of',
      'json',
      '-show_streams',
      '-show_format',
      audioUri,
    ]);
    const audio = JSON.parse(stdout) as {
      streams: { codec_name: string; channels: number }[];
      format: { duration: string };
    };
    expect(audio.streams.map((s) => [s.codec_name, s.channels])).toEqual([['aac', 2]]);
    expect(Math.abs(Number(audio.format.duration) - 8)).toBeLessThanOrEqual(0.2);
    // Audio and video end together: no 21 ms audio segment of its own after the video's end.
    const audioPlaylist = parseMediaPlaylist(await (await fetch(audioUri)).text());
    expect(audioPlaylist.segments.map((s) => Math.round(s.duration))).toEqual([4, 4]);

    // BANDWIDTH is RFC 8216's peak segment bit rate (busiest 2–6 s of contiguous segments), within 2%.
    for (const v of await recomputeVariantBitrates(url)) {
      expect(Math.abs(v.declared.bandwidth - v.measured.rfcPeak) / v.measured.rfcPeak, v.uri).toBeLessThan(
        0.02,
      );
      expect(Math.abs(v.declared.average - v.measured.average) / v.measured.average).toBeLessThan(0.1);
    }
    // A poster frame was published with the ladder.
    const poster = await fetch(new URL('poster.jpg', url));
    expect(poster.status).toBe(200);
    expect(poster.headers.get('content-type')).toBe('image/jpeg');

    // Deleting the video removes every object and playback stops.
    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(fs.existsSync(path.join(t.dataDir, 'objects', 'videos', id))).toBe(false);
    expect(fs.existsSync(path.join(t.dataDir, 'objects', 'sources', id))).toBe(false);
    expect((await fetch(url)).status).toBe(404);
  });

  it('input that is not a playable video fails with a reason a person can act on; the worker goes on', async () => {
    const bad: [string, string, RegExp][] = [
      ['text', await makeTextFile(), /not a video/i],
      ['empty', await makeEmptyFile(), /empty/i],
      ['audio-only', await makeAudioOnly(), /no video stream/i],
      ['truncated (moov last)', await makeTruncated('moov-last'), /not a video|damaged|incomplete/i],
      ['truncated (moov first)', await makeTruncated('moov-first'), /damaged|incomplete/i],
    ];
    const ids = [];
    for (const [, file] of bad) ids.push(await tusUpload(t, fs.readFileSync(file)));
    const good = await makeClip('e2e-small', { width: 640, height: 360, seconds: 4 });
    const goodId = await tusUpload(t, fs.readFileSync(good), { playback_policy: 'public' });
    for (const [i, [label, , reason]] of bad.entries()) {
      const v = await settle(ids[i]!);
      expect(v.status, label).toBe('failed');
      expect(v.error, label).toMatch(reason);
      expect(v.error!.length, label).toBeGreaterThan(30);
      // The source is kept until the video is deleted.
      expect(fs.existsSync(path.join(t.dataDir, 'objects', 'sources', ids[i]!, 'original')), label).toBe(
        true,
      );
      const jobs = await t.reel.db.query<{ attempt: number }>(
        'SELECT attempt FROM jobs WHERE video_id = $1',
        [ids[i]],
      );
      expect(jobs[0]!.attempt, `${label}: failed at once, not retried`).toBe(1);
    }
    const ok = await settle(goodId);
    expect(ok.status).toBe('ready');
    expect(ok.renditions.map((r) => r.height)).toEqual([360, 240]); // the source's own size on top, then the rungs below it
  });

  it('deleting a video while it is processing stops its tasks and publishes nothing more', async () => {
    const clip = await makeClip('e2e-long', { width: 1280, height: 720, seconds: 40, audio: false });
    const id = await tusUpload(t, fs.readFileSync(clip));
    await waitFor(
      'a later chunk to be under way',
      async () => {
        const v = await getVideo(id);
        const running = await t.reel.db.query(
          `SELECT 1 FROM tasks WHERE video_id = $1 AND chunk > 0 AND state = 'running'`,
          [id],
        );
        return v.status === 'processing' && v.progress > 0 && running.length > 0;
      },
      120_000,
      50,
    );
    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    await waitFor(
      'the attempt to be abandoned',
      async () =>
        fs.readFileSync(t.logFile, 'utf8').includes('"videoId":"' + id + '"') &&
        /attempt abandoned: lease lost/.test(fs.readFileSync(t.logFile, 'utf8')),
      20_000,
    );
    expect(fs.existsSync(path.join(t.dataDir, 'objects', 'videos', id))).toBe(false);
    // The worker is free again: a new upload is processed.
    const next = await tusUpload(
      t,
      fs.readFileSync(await makeClip('e2e-small', { width: 640, height: 360, seconds: 4 })),
    );
    expect((await settle(next)).status).toBe('ready');
  });
});

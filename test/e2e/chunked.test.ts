/**
 * Chunked transcoding end to end in one embedded Reel: a video becomes playable long before it is ready,
 * its media playlists are EVENT playlists of the contiguous published segments while chunks remain and
 * VOD with ENDLIST at the end, the master lists every rung from the first moment, and the bit rates
 * announced while in progress are never below what is measured at the end.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { parseMasterPlaylist, parseMediaPlaylist, probeRendition, resolveUri } from '../helpers/hls.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const SECONDS = 40;
const LADDER = [720, 360, 240];

interface View {
  status: string;
  playable: boolean;
  playableAt: string | null;
  readyAt: string | null;
  progress: number;
  renditions: { name: string; height: number; bandwidth: number; averageBandwidth: number; codecs: string }[];
}

describe('chunked transcoding, end to end', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ ladder: LADDER.join(',') });
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('plays while processing (EVENT playlists of contiguous segments), then VOD at ready', async () => {
    const clip = await makeClip('chunked-40s-720p', {
      width: 1280,
      height: 720,
      seconds: SECONDS,
      audio: true,
    });
    const id = await tusUpload(t, fs.readFileSync(clip), { filename: 'chunked.mp4' });
    const uploadedAt = Date.now();
    const view = async () => (await (await t.api(`/v1/videos/${id}`)).json()) as View;

    // Before it can play, its playback URL answers 404 (not ready).
    const early = await view();
    const { url: earlyUrl } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
    if (!early.playable) expect((await fetch(earlyUrl)).status).toBe(404);

    const playable = await waitFor(
      'playable',
      async () => {
        const v = await view();
        if (v.status === 'failed') throw new Error('the video failed');
        return v.playable ? v : undefined;
      },
      60_000,
      50,
    );
    const playableSeconds = (Date.now() - uploadedAt) / 1000;
    expect(playable.status, 'playable well before ready').toBe('processing');
    expect(playable.playableAt).not.toBeNull();
    expect(playable.renditions.map((r) => r.height)).toEqual(LADDER);
    for (const r of playable.renditions) expect(r.codecs).toMatch(/^avc1\.64[0-9A-F]{4},mp4a\.40\.2$/);

    const { url } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
    const master = parseMasterPlaylist(await (await fetch(url)).text());
    expect(master.variants.map((v) => Number(v.attributes['RESOLUTION']?.split('x')[1]))).toEqual(LADDER);
    const audioUri = master.media.find((m) => m['TYPE'] === 'AUDIO')?.['URI'];
    expect(audioUri).toBeDefined();

    // While in progress: EVENT playlists, no ENDLIST, every listed segment served, numbered from 0 with no gap.
    const topUri = resolveUri(url, master.variants[0]!.uri);
    let sawEvent = 0;
    let lastCount = 0;
    for (;;) {
      const v = await view();
      const res = await fetch(topUri);
      expect(res.status).toBe(200);
      const text = await res.text();
      const media = parseMediaPlaylist(text);
      if (v.status === 'ready' && text.includes('#EXT-X-ENDLIST')) break;
      if (!text.includes('#EXT-X-PLAYLIST-TYPE:EVENT')) continue; // ready between the two reads
      expect(text).not.toContain('#EXT-X-ENDLIST');
      expect(media.segments.length).toBeGreaterThanOrEqual(lastCount);
      lastCount = media.segments.length;
      expect(media.segments.map((s) => s.uri)).toEqual(
        media.segments.map((_, i) => `seg_${String(i).padStart(5, '0')}.m4s`),
      );
      for (const s of media.segments.slice(-2)) {
        expect((await fetch(resolveUri(topUri, s.uri), { method: 'HEAD' })).status).toBe(200);
      }
      sawEvent++;
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(sawEvent, 'EVENT playlists were served while chunks remained').toBeGreaterThan(0);

    // At ready: VOD, the whole duration, the same segment names as before.
    const ready = await view();
    expect(ready.status).toBe('ready');
    const vod = await (await fetch(topUri)).text();
    expect(vod).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    const segments = parseMediaPlaylist(vod).segments;
    expect(segments[0]!.duration).toBeCloseTo(2, 1);
    for (const s of segments.slice(1, -1)) expect(s.duration).toBeCloseTo(4, 1);
    expect(segments.reduce((s, x) => s + x.duration, 0)).toBeCloseTo(SECONDS, 0);
    const probe = await probeRendition(topUri);
    expect(probe.height).toBe(720);
    expect(Math.abs(probe.durationSec - SECONDS)).toBeLessThan(0.2);
    const audio = parseMediaPlaylist(await (await fetch(resolveUri(url, audioUri!))).text());
    expect(Math.abs(audio.segments.reduce((s, x) => s + x.duration, 0) - SECONDS)).toBeLessThan(0.2);

    // Announced while in progress: never less than what was served.
    for (const [i, r] of ready.renditions.entries()) {
      expect(r.bandwidth, `${r.name} measured peak`).toBeLessThanOrEqual(playable.renditions[i]!.bandwidth);
      expect(r.bandwidth).toBeGreaterThan(0);
    }
    console.log(
      `chunked e2e: playable after ${playableSeconds.toFixed(2)} s, ready after ${(
        (new Date(ready.readyAt!).getTime() - new Date(playable.playableAt!).getTime()) / 1000 +
          playableSeconds
      ).toFixed(2)} s, ${sawEvent} EVENT playlist reads`,
    );
  }, 180_000);
});

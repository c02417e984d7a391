/**
 * Several audio tracks end to end in one embedded Reel: a source with two audio streams (eng stereo at
 * 440 Hz, fra mono at 880 Hz) becomes two renditions of the master's audio group, with LANGUAGE, NAME,
 * DEFAULT and CHANNELS as a player needs them, each playing its own stream; a source with one untagged
 * stream keeps the master it always had.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG, makeClip, makeRichClip } from '../fixtures/generate.js';
import {
  measureMediaPlaylist,
  parseMasterPlaylist,
  parseMediaPlaylist,
  probeAudioRendition,
  resolveUri,
} from '../helpers/hls.js';
import { rawRequest } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const run = promisify(execFile);
const SECONDS = 12;

/** The dominant frequency of a decoded rendition, from zero crossings over 4 s from its 2nd second. */
async function toneHz(url: string): Promise<number> {
  const rate = 16000;
  const { stdout } = await run(
    FFMPEG,
    [
      '-v',
      'error',
      '-i',
      url,
      '-ss',
      '2',
      '-t',
      '4',
      '-ac',
      '1',
      '-ar',
      String(rate),
      '-f',
      's16le',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
  );
  const pcm = stdout as Buffer;
  const n = Math.floor(pcm.length / 2);
  let crossings = 0;
  for (let i = 1; i < n; i++) {
    if (pcm.readInt16LE((i - 1) * 2) < 0 !== pcm.readInt16LE(i * 2) < 0) crossings++;
  }
  return crossings / 2 / (n / rate);
}

/** A 2 s Matroska clip whose second audio stream has no packets at all: that track cannot be made. */
async function makeSilentSecondTrack(dir: string): Promise<string> {
  const file = path.join(dir, 'silent-second.mkv');
  const tone = (hz: number) => ['-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=48000:duration=2`];
  await run(FFMPEG, [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=30:duration=2'],
    ...tone(440),
    ...tone(880),
    ...['-map', '0:v', '-map', '1:a', '-map', '2:a', '-c:v', 'libx264', '-preset', 'ultrafast'],
    ...['-c:a', 'aac', '-frames:a:1', '0', '-t', '2', file],
  ]);
  return file;
}

describe('audio tracks and languages', () => {
  let t: TestReel;
  let rich: string;
  let plain: string;
  let broken: string;
  let richUrl: string;
  let plainUrl: string;

  const waitReady = (id: string) =>
    waitFor(
      `${id} ready`,
      async () => {
        const v = (await (await t.api(`/v1/videos/${id}`)).json()) as { status: string };
        if (v.status === 'failed') throw new Error(`${id} failed`);
        return v.status === 'ready';
      },
      90_000,
      100,
    );
  const playbackUrl = async (id: string) =>
    ((await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string }).url;

  beforeAll(async () => {
    t = await startTestReel({ ladder: '240' });
    const [richClip, plainClip, brokenClip] = await Promise.all([
      makeRichClip(),
      makeClip('audio-one-untagged', { width: 320, height: 180, seconds: 4 }),
      makeSilentSecondTrack(t.dataDir),
    ]);
    [rich, plain, broken] = await Promise.all([
      tusUpload(t, fs.readFileSync(richClip), { filename: 'rich.mp4' }),
      tusUpload(t, fs.readFileSync(plainClip), { filename: 'plain.mp4' }),
      tusUpload(t, fs.readFileSync(brokenClip), { filename: 'broken.mkv' }),
    ]);
    await Promise.all([waitReady(rich), waitReady(plain), waitReady(broken)]);
    [richUrl, plainUrl] = await Promise.all([playbackUrl(rich), playbackUrl(plain)]);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    if (t) fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('the master lists both tracks in one group: LANGUAGE, NAME, DEFAULT on the first, CHANNELS', async () => {
    const master = parseMasterPlaylist(await (await fetch(richUrl)).text());
    const audio = master.media.filter((m) => m['TYPE'] === 'AUDIO');
    expect(audio).toHaveLength(2);
    expect(new Set(audio.map((m) => m['GROUP-ID'])).size).toBe(1);
    expect(
      audio.map((m) => [m['LANGUAGE'], m['NAME'], m['DEFAULT'], m['AUTOSELECT'], m['CHANNELS']]),
    ).toEqual([
      ['en', 'English', 'YES', 'YES', '2'],
      ['fr', 'Français', 'NO', 'YES', '1'],
    ]);
    expect(audio.map((m) => m['URI']?.split('/').slice(-2).join('/'))).toEqual([
      'audio/index.m3u8',
      'audio_1/index.m3u8',
    ]);
    for (const v of master.variants) expect(v.attributes['AUDIO']).toBe(audio[0]!['GROUP-ID']);
  });

  it('each rendition is its own stream: channels, duration ±0.1 s, the right tone; BANDWIDTH covers the larger', async () => {
    const master = parseMasterPlaylist(await (await fetch(richUrl)).text());
    const audio = master.media.filter((m) => m['TYPE'] === 'AUDIO');
    const uris = audio.map((m) => resolveUri(richUrl, m['URI']!));
    const probes = await Promise.all(uris.map((u) => probeAudioRendition(u)));
    expect(probes.map((p) => [p.codec, p.profile, p.channels, p.sampleRate, p.hasVideo])).toEqual([
      ['aac', 'LC', 2, 48000, false],
      ['aac', 'LC', 1, 48000, false],
    ]);
    for (const p of probes) expect(Math.abs(p.durationSec - SECONDS)).toBeLessThanOrEqual(0.1);
    const tones = await Promise.all(uris.map((u) => toneHz(u)));
    expect(Math.abs(tones[0]! - 440)).toBeLessThan(440 * 0.03);
    expect(Math.abs(tones[1]! - 880)).toBeLessThan(880 * 0.03);
    for (const u of uris) {
      const pl = parseMediaPlaylist(await (await fetch(u)).text());
      expect(pl.endList).toBe(true);
      expect(pl.segments.length).toBe(3);
    }

    // A variant may play with either track: its bit rates are the video's plus the larger track's.
    const tracks = await Promise.all(uris.map((u) => measureMediaPlaylist(u)));
    const v = master.variants[0]!;
    const video = await measureMediaPlaylist(resolveUri(richUrl, v.uri));
    const average = video.average + Math.max(...tracks.map((a) => a.average));
    expect(Number(v.attributes['AVERAGE-BANDWIDTH'])).toBeGreaterThanOrEqual(average * 0.98);
    expect(Number(v.attributes['AVERAGE-BANDWIDTH'])).toBeLessThanOrEqual(average * 1.02);
    for (const a of tracks)
      expect(Number(v.attributes['BANDWIDTH'])).toBeGreaterThanOrEqual((video.rfcPeak + a.rfcPeak) * 0.98);
  });

  it('a source with one untagged audio stream keeps the master it always had', async () => {
    const text = await (await fetch(plainUrl)).text();
    // (The signed master points its renditions at a session token: ../{session}/audio/index.m3u8.)
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('#EXT-X-MEDIA:'))
      .map((l) => l.replace(/URI="\.\.\/[\w.-]+\//, 'URI="'));
    expect(lines).toEqual([
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",' +
        'URI="audio/index.m3u8"',
    ]);
    const p = await probeAudioRendition(resolveUri(plainUrl, 'audio/index.m3u8'));
    expect([p.channels, Math.abs(p.durationSec - 4) <= 0.1]).toEqual([2, true]);
  });

  it('a later track that cannot be made is left out: the video is ready, its master lists the first only', async () => {
    const master = parseMasterPlaylist(await (await fetch(await playbackUrl(broken))).text());
    const audio = master.media.filter((m) => m['TYPE'] === 'AUDIO');
    expect(audio.map((m) => [m['NAME'], m['DEFAULT'], m['URI']?.split('/').slice(-2).join('/')])).toEqual([
      ['Track 1', 'YES', 'audio/index.m3u8'],
    ]);
    const p = await probeAudioRendition(resolveUri(await playbackUrl(broken), audio[0]!['URI']!));
    expect(Math.abs(p.durationSec - 2)).toBeLessThanOrEqual(0.1);
  });

  it('refuses what is not a track, other videos’ tokens, and path tricks', async () => {
    const base = (url: string) => url.slice(0, url.lastIndexOf('/') + 1);
    const status = async (url: string) => (await fetch(url)).status;
    const richBase = base(richUrl);
    expect(await status(`${richBase}audio_1/init.mp4`)).toBe(200);
    expect(await status(`${richBase}audio_1/seg_00002.m4s`)).toBe(200);
    for (const file of [
      'audio_2/index.m3u8',
      'audio_01/index.m3u8',
      'audio_1/seg_00099.m4s',
      'audio_1/seg_00003.m4s',
      'audio_-1/index.m3u8',
    ])
      expect(await status(`${richBase}${file}`), file).toBe(404);
    // The plain video has no second track.
    expect(await status(`${base(plainUrl)}audio_1/index.m3u8`)).toBe(404);
    // The plain video's token on the rich video's second track; no token at all.
    const plainToken = new URL(plainUrl).pathname.split('/')[3]!;
    for (const file of ['audio_1/index.m3u8', 'audio_1/init.mp4', 'audio_1/seg_00000.m4s']) {
      const res = await fetch(`${t.url}/play/${rich}/${plainToken}/${file}`);
      expect([res.status, ((await res.json()) as { code: string }).code], file).toEqual([
        403,
        'REEL_TOKEN_WRONG_VIDEO',
      ]);
      expect(await status(`${t.url}/play/${rich}/public/${file}`), file).toBe(401);
    }
    // Paths that climb out of a track, exactly as written.
    const richPath = new URL(richBase).pathname;
    for (const trick of [
      'audio_1/../audio/index.m3u8',
      'audio_1/%2e%2e/audio/index.m3u8',
      'audio_1/..%2F..%2Faudio%2Findex.m3u8',
      'audio_1/index.m3u8%00',
    ]) {
      const res = await rawRequest(t.url, `${richPath}${trick}`, 'GET', {});
      expect(res.status, trick).toBeGreaterThanOrEqual(400);
      expect(res.status, trick).toBeLessThan(500);
    }
  });
});

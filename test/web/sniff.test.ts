/**
 * The upload page's sniffer (src/web/assets/sniff.js) in Node: real files made by ffmpeg in every container
 * the server accepts are accepted, under the label ffprobe's verdict maps to (src/media/formats.ts), and
 * what is not a video (text renamed .mp4, audio, images, playlists, empty) is refused with what it is.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCEPTED_LABELS, containerOf } from '../../src/media/formats.js';
import {
  FFMPEG,
  FFPROBE,
  makeAudioOnly,
  makeClip,
  makeContainerClip,
  makeReferencingSource,
  makeStillImage,
  makeTextFile,
  OTHER_CONTAINERS,
} from '../fixtures/generate.js';

type Sniffed = { ok: true; container: string } | { ok: false; what: string };
interface SniffModule {
  SNIFF_BYTES: number;
  ACCEPTED: string[];
  sniff(bytes: Uint8Array): Sniffed;
  sniffRefusal(name: string, what: string): string;
}
// A browser script (// @ts-check JS, typed by tsconfig.web.json), imported by URL to leave its types there.
const { sniff, sniffRefusal, ACCEPTED, SNIFF_BYTES } = (await import(
  new URL('../../src/web/assets/sniff.js', import.meta.url).href
)) as SniffModule;

const run = promisify(execFile);

async function head(file: string): Promise<Uint8Array> {
  const fh = await fs.open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return new Uint8Array(buffer.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

async function formatName(file: string): Promise<string> {
  const { stdout } = await run(FFPROBE, [
    '-v',
    'error',
    '-show_entries',
    'format=format_name',
    '-of',
    'json',
    file,
  ]);
  return (JSON.parse(stdout) as { format: { format_name: string } }).format.format_name;
}

describe('sniff: a file’s first bytes', () => {
  const videos: Record<string, string> = {};
  const others: Record<string, string> = {};

  beforeAll(async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'reel-sniff-'));
    const ff = (name: string, args: string[]) =>
      run(FFMPEG, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args, path.join(dir, name)]).then(() =>
        path.join(dir, name),
      );
    const src = ['-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=15:duration=1'];
    const tone = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=1'];
    const containers = Object.keys(OTHER_CONTAINERS) as (keyof typeof OTHER_CONTAINERS)[];
    const [mp4, ...rest] = await Promise.all([
      makeClip('sniff-mp4', { width: 160, height: 90, seconds: 1 }),
      ...containers.map((c) => makeContainerClip(c, 1)),
    ]);
    videos['mp4'] = mp4!;
    containers.forEach((c, i) => {
      videos[c] = rest[i]!;
    });
    const made = await Promise.all([
      ff('theora.ogv', [...src, ...tone, '-c:v', 'libtheora', '-c:a', 'libvorbis', '-f', 'ogg']),
      ff('clip.m2ts', [
        ...src,
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-f',
        'mpegts',
        '-mpegts_m2ts_mode',
        '1',
      ]),
      ff('clip.mov', [...src, '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mov']),
      ff('vorbis.ogg', [...tone, '-c:a', 'libvorbis', '-f', 'ogg']),
      ff('tone.wav', [...tone, '-f', 'wav']),
      ff('tone.flac', [...tone, '-f', 'flac']),
      ff('tone.mp3', [...tone, '-c:a', 'libmp3lame', '-f', 'mp3']),
      ff('frame.png', [...src, '-frames:v', '1', '-f', 'image2']),
      makeAudioOnly(),
      makeStillImage(),
      makeTextFile(),
      makeReferencingSource('hls-absolute', '/etc/passwd', dir),
    ]);
    const [ogv, m2ts, mov, vorbis, wav, flac, mp3, png, m4a, jpeg, text, hls] = made;
    Object.assign(videos, { ogv, m2ts, mov });
    Object.assign(others, { vorbis, wav, flac, mp3, png, m4a, jpeg, text, hls });
  });

  it('lists the containers the server accepts, no more, no fewer', () => {
    expect(ACCEPTED.join(', ')).toBe(ACCEPTED_LABELS);
  });

  it('accepts a video in every allowed container, under the label the server gives it', async () => {
    const seen = new Set<string>();
    const verdicts = await Promise.all(
      Object.entries(videos).map(async ([name, file]) => ({
        name,
        sniffed: sniff(await head(file)),
        format: await formatName(file),
      })),
    );
    for (const { name, sniffed, format } of verdicts) {
      const expected = containerOf(format)?.label;
      expect(expected, `${name}: ffprobe says ${format}, an allowed container`).toBeDefined();
      expect(sniffed, name).toEqual({ ok: true, container: expected });
      seen.add(expected!);
    }
    expect([...seen].sort()).toEqual([...ACCEPTED].sort());
  });

  it('refuses what is not a video, saying what it is', async () => {
    const what = async (file: string) => {
      const s = sniff(await head(file));
      return s.ok ? `accepted as ${s.container}` : s.what;
    };
    expect(await what(others['text']!)).toBe('a text file');
    expect(await what(others['hls']!)).toBe('an HLS playlist (.m3u8)');
    // iTunes-style M4A says so in its brand; an audio-only MP4 branded "isom" (ffmpeg's .m4a) cannot be told
    // from a video by its first bytes when its index is at the end: the server refuses it when processing.
    const m4a = new Uint8Array([...Buffer.from('0000001c667479704d344120000000004d34412069736f6d', 'hex')]);
    expect(sniff(m4a)).toEqual({ ok: false, what: 'an audio file (M4A)' });
    expect(await what(others['m4a']!)).toBe('accepted as MP4/MOV');
    expect(await what(others['vorbis']!)).toBe('an audio file (Ogg)');
    expect(await what(others['wav']!)).toBe('an audio file (WAV)');
    expect(await what(others['flac']!)).toBe('an audio file (FLAC)');
    expect(await what(others['mp3']!)).toMatch(/^an audio file \(MP3/);
    expect(await what(others['png']!)).toBe('a still image (PNG)');
    expect(await what(others['jpeg']!)).toBe('a still image (JPEG)');
    expect(sniff(new Uint8Array())).toEqual({ ok: false, what: 'an empty file' });
    // Binary noise, and noise that starts with a TS sync byte but has no packets.
    const noise = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    expect(sniff(noise).ok).toBe(false);
    noise[0] = 0x47;
    expect(sniff(noise).ok).toBe(false);
    // "G" at the right places of a text file is still text.
    const gs = new TextEncoder().encode(`G${'x'.repeat(187)}G${'y'.repeat(187)}G${'z'.repeat(700)}`);
    expect(sniff(gs)).toEqual({ ok: false, what: 'a text file' });
  });

  it('says it in a sentence that names the file and what Reel accepts', () => {
    expect(sniffRefusal('notes.mp4', 'a text file')).toBe(
      '“notes.mp4” is not a video Reel can read: its first bytes are those of a text file. ' +
        'Reel accepts MP4/MOV, MKV/WebM, AVI, WMV, MPEG-TS, MPEG-PS, FLV and Ogg files.',
    );
  });
});

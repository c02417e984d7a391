/**
 * Storyboards and I-frame playlists of a chunked video (issue 13, items 2 and 6), end to end in one
 * embedded Reel: a 22 s clip (three chunks: 2 s, 16 s, 4 s) through the 360p/240p ladder, then what a
 * player fetches checked with ffprobe: the storyboard sheets and their WebVTT cues, the I-frame playlists'
 * byte ranges (each a moof through its sync sample, decoded alone), the master's I-frame streams. Prints
 * what the storyboard sheets cost against the chunk encodes (from the worker's log).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG, FFPROBE, makeClip } from '../fixtures/generate.js';
import { parseAttributes, parseMasterPlaylist, resolveUri } from '../helpers/hls.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const run = promisify(execFile);
const SECONDS = 22;

interface Cue {
  from: number;
  to: number;
  sheet: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

const seconds = (ts: string) => {
  const [h, m, s] = ts.split(':');
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
};

function parseCues(vtt: string): Cue[] {
  const cues: Cue[] = [];
  const lines = vtt.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$/.exec(lines[i]!);
    if (!m) continue;
    const ref = /^(storyboard\/\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[i + 1] ?? '');
    if (!ref) throw new Error(`cue without a sprite reference: ${lines[i + 1]}`);
    cues.push({
      from: seconds(m[1]!),
      to: seconds(m[2]!),
      sheet: ref[1]!,
      x: Number(ref[2]),
      y: Number(ref[3]),
      w: Number(ref[4]),
      h: Number(ref[5]),
    });
  }
  return cues;
}

interface IFrame {
  duration: number;
  length: number;
  offset: number;
  uri: string;
}

function parseIFrames(text: string): { tags: string[]; frames: IFrame[] } {
  const tags: string[] = [];
  const frames: IFrame[] = [];
  let duration: number | undefined;
  let range: [number, number] | undefined;
  for (const line of text.split('\n').filter(Boolean)) {
    if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8));
    else if (line.startsWith('#EXT-X-BYTERANGE:')) {
      const [len, off] = line.slice(17).split('@');
      range = [Number(len), Number(off)];
    } else if (line.startsWith('#')) tags.push(line);
    else {
      if (duration === undefined || !range) throw new Error(`${line} without EXTINF or BYTERANGE`);
      frames.push({ duration, length: range[0], offset: range[1], uri: line });
      duration = undefined;
      range = undefined;
    }
  }
  return { tags, frames };
}

/**
 * Decodes every file in one ffmpeg (an input and a showinfo per file, as ffprobe per file would cost a
 * process each): the frames each yields, with their presentation time, key flag and picture type.
 */
async function decodeEach(files: string[]): Promise<{ pts: number; key: boolean; type: string }[][]> {
  const graph = files.map((_, i) => `[${i}:v:0]showinfo[o${i}]`).join(';');
  const args = ['-hide_banner', '-nostdin', '-v', 'info', '-copyts', ...files.flatMap((f) => ['-i', f])];
  args.push('-filter_complex', graph, ...files.flatMap((_, i) => ['-map', `[o${i}]`, '-f', 'null', '-']));
  const { stderr } = await run(FFMPEG, args, { maxBuffer: 16 << 20 });
  const out: { pts: number; key: boolean; type: string }[][] = files.map(() => []);
  for (const m of stderr.matchAll(/Parsed_showinfo_(\d+) .* pts_time:\s*([-\d.]+) .*iskey:(\d) type:(\w)/g)) {
    out[Number(m[1])]!.push({ pts: Number(m[2]), key: m[3] === '1', type: m[4]! });
  }
  return out;
}

async function probeJson(file: string, args: string[]): Promise<Record<string, unknown[]>> {
  const { stdout } = await run(FFPROBE, ['-v', 'error', ...args, '-of', 'json', file]);
  return JSON.parse(stdout) as Record<string, unknown[]>;
}

describe('storyboards and I-frame playlists', () => {
  let t: TestReel;
  let id: string;
  let base: string;
  let token: string;
  let otherToken: string;
  let work: string;
  let clip: string;

  const get = async (file: string, init?: RequestInit, b = base) => {
    const res = await fetch(`${b}${file}`, init);
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-boards-'));
    t = await startTestReel({ ladder: '360,240' });
    clip = await makeClip('boards-22s', { width: 640, height: 360, seconds: SECONDS, audio: true });
    const started = Date.now();
    id = await tusUpload(t, fs.readFileSync(clip), { filename: 'boards.mp4', playback_policy: 'signed' });
    await waitUntilReady(t, id, 90_000);
    console.log(`boards: ${SECONDS} s clip ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const { url } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
    base = url.slice(0, url.lastIndexOf('/') + 1);
    token = base.split('/').at(-2)!;
    await publishFake(t, 'boardsOther', 'signed');
    const other = (await (await t.api('/v1/videos/boardsOther/playback')).json()) as { url: string };
    otherToken = other.url.split('/').at(-2)!;
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('storyboard.vtt: cues from 0 to the end without a gap, each region inside its sheet', async () => {
    const res = await get('storyboard.vtt');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/vtt/);
    const text = res.body.toString();
    expect(text.startsWith('WEBVTT\n')).toBe(true);
    const cues = parseCues(text);
    expect(cues.length).toBe(SECONDS / 2);
    expect(cues[0]!.from).toBe(0);
    for (let i = 1; i < cues.length; i++) expect(cues[i]!.from).toBeCloseTo(cues[i - 1]!.to, 3);
    expect(Math.abs(cues.at(-1)!.to - SECONDS)).toBeLessThanOrEqual(0.1);
    // One sheet per chunk (2 s, 16 s, 4 s): 1, 8 and 2 tiles of 160×90.
    const sheets = [...new Set(cues.map((c) => c.sheet))];
    expect(sheets).toEqual(['storyboard/0.jpg', 'storyboard/1.jpg', 'storyboard/2.jpg']);
    const sizes = new Map<string, { width: number; height: number }>();
    for (const s of sheets) {
      const jpg = await get(s);
      expect(jpg.status).toBe(200);
      expect(jpg.headers.get('content-type')).toBe('image/jpeg');
      const file = path.join(work, s.replace('/', '-'));
      fs.writeFileSync(file, jpg.body);
      const probe = await probeJson(file, ['-show_entries', 'stream=codec_name,width,height']);
      const st = probe['streams']![0] as { codec_name: string; width: number; height: number };
      expect(st.codec_name).toBe('mjpeg');
      sizes.set(s, st);
    }
    expect(sheets.map((s) => sizes.get(s))).toEqual([
      { codec_name: 'mjpeg', width: 160, height: 90 },
      { codec_name: 'mjpeg', width: 1280, height: 90 },
      { codec_name: 'mjpeg', width: 320, height: 90 },
    ]);
    for (const c of cues) {
      const size = sizes.get(c.sheet)!;
      expect([c.w, c.h]).toEqual([160, 90]);
      expect(c.x + c.w).toBeLessThanOrEqual(size.width);
      expect(c.y + c.h).toBeLessThanOrEqual(size.height);
    }
  });

  it('a tile shows the frame of its cue (SSIM against the source there, and higher than 2 s later)', async () => {
    const cues = parseCues((await get('storyboard.vtt')).body.toString());
    const cue = cues.find((c) => c.from === 8)!;
    const sheet = path.join(work, 'tile-sheet.jpg');
    fs.writeFileSync(sheet, (await get(cue.sheet)).body);
    const ssimAt = async (at: number) => {
      const graph =
        `[0:v]crop=${cue.w}:${cue.h}:${cue.x}:${cue.y},format=yuv420p[a];` +
        `[1:v]scale=${cue.w}:${cue.h},format=yuv420p,trim=end_frame=1[b];[a][b]ssim`;
      const args = ['-hide_banner', '-nostdin', '-i', sheet, '-ss', String(at), '-i', clip];
      const { stderr } = await run(FFMPEG, [...args, '-filter_complex', graph, '-f', 'null', '-']);
      return Number(/All:([\d.]+)/.exec(stderr)?.[1]);
    };
    const [here, later] = await Promise.all([ssimAt(cue.from), ssimAt(cue.from + 2)]);
    expect(here).toBeGreaterThan(0.9);
    expect(here).toBeGreaterThan(later);
  });

  it('I-frame playlists: each byte range is a moof through a sync sample, at the time the EXTINFs say', async () => {
    const masterUrl = `${base}master.m3u8`;
    const master = parseMasterPlaylist((await get('master.m3u8')).body.toString());
    const uris = master.tags
      .filter((l) => l.startsWith('#EXT-X-I-FRAME-STREAM-INF:'))
      .map((l) => parseAttributes(l.slice('#EXT-X-I-FRAME-STREAM-INF:'.length))['URI']!);
    expect(uris).toHaveLength(2);
    for (const uri of uris) {
      // As a player goes: from the master (through its session token) to the playlist, then the ranges.
      const playlistUrl = resolveUri(masterUrl, uri);
      const rung = playlistUrl.split('/').at(-2)!;
      const res = await get('', undefined, playlistUrl);
      expect(res.status).toBe(200);
      const text = res.body.toString();
      const { tags, frames } = parseIFrames(text);
      expect(tags).toEqual(
        expect.arrayContaining([
          '#EXTM3U',
          '#EXT-X-I-FRAMES-ONLY',
          '#EXT-X-PLAYLIST-TYPE:VOD',
          '#EXT-X-MEDIA-SEQUENCE:0',
          '#EXT-X-MAP:URI="init.mp4"',
          '#EXT-X-ENDLIST',
        ]),
      );
      expect(Number(/^#EXT-X-VERSION:(\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(4);
      const target = Number(/^#EXT-X-TARGETDURATION:(\d+)$/m.exec(text)?.[1]);
      // 2 s keyframe intervals: one I-frame every 2 s.
      expect(frames.length).toBe(SECONDS / 2);
      const media = (await get('', undefined, resolveUri(playlistUrl, 'index.m3u8'))).body.toString();
      const mediaSum = [...media.matchAll(/^#EXTINF:([\d.]+),/gm)].reduce((a, m) => a + Number(m[1]), 0);
      const sum = frames.reduce((a, f) => a + f.duration, 0);
      expect(Math.abs(sum - mediaSum)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(sum - SECONDS)).toBeLessThanOrEqual(0.1);
      const init = (await get('', undefined, resolveUri(playlistUrl, 'init.mp4'))).body;
      // Every range: fetched alone, it starts with a moof, and init + range decodes to one keyframe.
      const files = await Promise.all(
        frames.map(async (f, i) => {
          const range = { Range: `bytes=${f.offset}-${f.offset + f.length - 1}` };
          const part = await get('', { headers: range }, resolveUri(playlistUrl, f.uri));
          expect(part.status).toBe(206);
          expect(part.body.length).toBe(f.length);
          expect(part.body.toString('latin1', 4, 8)).toBe('moof');
          const file = path.join(work, `${rung}-${i}.mp4`);
          fs.writeFileSync(file, Buffer.concat([init, part.body]));
          return file;
        }),
      );
      const decoded = await decodeEach(files);
      let startsAt = 0;
      frames.forEach((f, i) => {
        expect(Math.round(f.duration)).toBeLessThanOrEqual(target);
        expect(decoded[i], `${rung} I-frame ${i}`).toHaveLength(1);
        expect(decoded[i]![0]).toMatchObject({ key: true, type: 'I' });
        // Its presentation time (after the 2-frame B-frame delay) is where the EXTINFs put it.
        expect(Math.abs(decoded[i]![0]!.pts - startsAt)).toBeLessThanOrEqual(0.1);
        startsAt += f.duration;
      });
    }
  });

  it('the master lists one I-frame stream per rung, with its resolution and video codec', async () => {
    const text = (await get('master.m3u8')).body.toString();
    const master = parseMasterPlaylist(text);
    const streams = master.tags
      .filter((l) => l.startsWith('#EXT-X-I-FRAME-STREAM-INF:'))
      .map((l) => parseAttributes(l.slice('#EXT-X-I-FRAME-STREAM-INF:'.length)));
    expect(streams).toHaveLength(master.variants.length);
    expect(master.variants).toHaveLength(2);
    for (const v of master.variants) {
      const rung = v.uri.split('/').at(-2)!;
      const s = streams.find((x) => x['URI']!.endsWith(`/${rung}/iframes.m3u8`));
      expect(s).toBeDefined();
      expect(s!['RESOLUTION']).toBe(v.attributes['RESOLUTION']);
      expect(s!['CODECS']).toBe(v.attributes['CODECS']!.split(',')[0]);
      expect(s!['CODECS']).toMatch(/^avc1\./);
      // Keyframes only: far below the variant's peak, well above nothing.
      expect(Number(s!['BANDWIDTH'])).toBeGreaterThan(10_000);
      expect(Number(s!['BANDWIDTH'])).toBeLessThan(Number(v.attributes['BANDWIDTH']));
    }
  });

  it('hostile: unknown rung, audio, missing sheet, other video token, lying ranges', async () => {
    const code = async (file: string, init?: RequestInit, b = base) => {
      const r = await get(file, init, b);
      return [r.status, r.status >= 400 ? (JSON.parse(r.body.toString()) as { code: string }).code : ''];
    };
    expect((await code('999p/iframes.m3u8'))[0]).toBe(404);
    expect((await code('audio/iframes.m3u8'))[0]).toBe(404);
    expect((await code('360p/iframes.m3u8x'))[0]).toBe(404);
    expect((await code('360p/iframes.m3u8/'))[0]).toBe(404);
    expect((await code('storyboard/999.jpg'))[0]).toBe(404);
    expect((await code('storyboard/00.jpg'))[0]).toBe(404);
    expect((await code('storyboard/-1.jpg'))[0]).toBe(404);
    expect((await code('storyboard.vtt/x'))[0]).toBe(404);
    // Another video's token, on this video's files; this video's token on the other's.
    const otherBase = base.replace(`/${token}/`, `/${otherToken}/`);
    for (const f of ['storyboard.vtt', 'storyboard/0.jpg', '360p/iframes.m3u8']) {
      expect((await code(f, undefined, otherBase))[0]).toBe(403);
      expect((await code(f, undefined, `${t.url}/play/boardsOther/${token}/`))[0]).toBe(403);
    }
    // The other (legacy) video has no storyboard or I-frame playlist.
    expect((await code('storyboard.vtt', undefined, `${t.url}/play/boardsOther/${otherToken}/`))[0]).toBe(
      404,
    );
    // A range past the sheet's end: 416.
    const sheet = await get('storyboard/0.jpg');
    expect(
      (await get('storyboard/0.jpg', { headers: { Range: `bytes=${sheet.body.length}-` } })).status,
    ).toBe(416);
  });
});

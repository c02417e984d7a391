/**
 * Thumbnails and animated previews by URL, against one processed video (makeRichClip, ladder 360,240) in
 * one embedded Reel: sizes and formats decoded with ffprobe, the frame compared with the one ffmpeg takes
 * from the source at that time, the store cache, the render bound, and the hostile list.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagesRendered } from '../../src/http/playThumbnails.js';
import { FFMPEG, FFPROBE, makeRichClip } from '../fixtures/generate.js';
import { publishFake } from '../helpers/publish.js';
import { rawRequest } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const run = promisify(execFile);

/** The frame as 8-bit grey pixels at w×h, decoded by ffmpeg from a file (an image or the source at `at`). */
async function grey(file: string, w: number, h: number, at?: number): Promise<Buffer> {
  const seek = at === undefined ? [] : ['-ss', String(at)];
  const { stdout } = await run(
    FFMPEG,
    [...seek, '-i', file, '-frames:v', '1', '-vf', `scale=${w}:${h},format=gray`, '-f', 'rawvideo', '-'],
    { encoding: 'buffer', maxBuffer: 1 << 24 },
  );
  return stdout as unknown as Buffer;
}

/** Mean absolute difference of two grey frames (0–255). */
function mad(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

async function probeImage(file: string): Promise<{ codec_name: string; width: number; height: number }> {
  const { stdout } = await run(FFPROBE, [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_name,width,height',
    '-of',
    'json',
    file,
  ]);
  return (JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number }[] })
    .streams[0]!;
}

/** An animated WebP's canvas and frame count, from its RIFF chunks (ffmpeg 5.1 cannot decode animations). */
function webpAnimation(buf: Buffer): { width: number; height: number; frames: number; loops: number } {
  expect(buf.toString('latin1', 0, 4)).toBe('RIFF');
  expect(buf.toString('latin1', 8, 12)).toBe('WEBP');
  let at = 12;
  let frames = 0;
  let width = 0;
  let height = 0;
  let loops = -1;
  while (at + 8 <= buf.length) {
    const type = buf.toString('latin1', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    if (type === 'VP8X') {
      width = buf.readUIntLE(at + 12, 3) + 1;
      height = buf.readUIntLE(at + 15, 3) + 1;
    } else if (type === 'ANIM') loops = buf.readUInt16LE(at + 12);
    else if (type === 'ANMF') frames++;
    at += 8 + size + (size & 1);
  }
  return { width, height, frames, loops };
}

/** REEL_THUMBNAILS_KEPT for this file: a few more than the other tests keep. */
const KEPT = 24;

describe('thumbnails and animated previews by URL', () => {
  let t: TestReel;
  let clip: string;
  let id: string;
  let base: string;
  let token: string;
  const work = fs.mkdtempSync('/tmp/reel-thumbs-test-');

  const get = async (file: string, init?: RequestInit) => {
    const res = await fetch(`${base}${file}`, init);
    const body = Buffer.from(await res.arrayBuffer());
    const code = res.status >= 400 ? (JSON.parse(body.toString()) as { code: string }).code : undefined;
    const message =
      res.status >= 400 ? (JSON.parse(body.toString()) as { message: string }).message : undefined;
    return { status: res.status, code, message, body, headers: res.headers };
  };
  const saved = (name: string, body: Buffer) => {
    const file = `${work}/${name}`;
    fs.writeFileSync(file, body);
    return file;
  };
  const renders = () => imagesRendered();

  beforeAll(async () => {
    clip = await makeRichClip();
    t = await startTestReel({ ladder: '360,240', 'thumbnail-renders': '1', 'thumbnails-kept': String(KEPT) });
    id = await tusUpload(t, fs.readFileSync(clip), { filename: 'rich.mp4' });
    await waitUntilReady(t, id, 60_000);
    const { url } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
    base = url.replace(/master\.m3u8$/, '');
    token = base.split('/').at(-2)!;
    await publishFake(t, 'legacyT', 'public');
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    fs.rmSync(work, { recursive: true, force: true });
    if (t) fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('jpg, webp and png decode to the size asked, aspect kept, capped at the top rung', async () => {
    const cases: [string, string, number, number][] = [
      ['thumbnail.jpg?time=3&width=320', 'mjpeg', 320, 180],
      ['thumbnail.webp?time=3&height=120', 'webp', 213, 120],
      ['thumbnail.png?time=3&width=5000', 'png', 640, 360],
      ['thumbnail.jpg?time=3&width=200&height=200', 'mjpeg', 200, 113],
      ['thumbnail.jpg?time=3', 'mjpeg', 640, 360],
    ];
    const answers = await Promise.all(cases.map(([file]) => get(file)));
    for (const [i, [file, codec, width, height]] of cases.entries()) {
      const res = answers[i]!;
      expect(res.status, file).toBe(200);
      const ext = file.slice(10, file.indexOf('?'));
      expect(res.headers.get('content-type')).toBe(
        { jpg: 'image/jpeg', webp: 'image/webp', png: 'image/png' }[ext],
      );
      expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+, immutable$/);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(Number(res.headers.get('content-length'))).toBe(res.body.length);
      expect(await probeImage(saved(`size${i}.${ext}`, res.body))).toEqual({
        codec_name: codec,
        width,
        height,
      });
    }
  });

  it('is the frame at that time: close to the frame ffmpeg takes from the source, far from another', async () => {
    const at = async (time: number) => saved(`f${time}.png`, (await get(`thumbnail.png?time=${time}`)).body);
    const [t3, t75] = await Promise.all([at(3), at(7.5)]);
    const [src3, src75, src6] = await Promise.all([
      grey(clip, 640, 360, 3),
      grey(clip, 640, 360, 7.5),
      grey(clip, 640, 360, 6),
    ]);
    const mine3 = await grey(t3, 640, 360);
    const mine75 = await grey(t75, 640, 360);
    expect(mad(mine3, src3)).toBeLessThan(2);
    expect(mad(mine75, src75)).toBeLessThan(2);
    expect(mad(mine3, src75)).toBeGreaterThan(6);
    expect(mad(mine75, src3)).toBeGreaterThan(6);
    // No time: the middle of the video.
    const byDefault = await grey(saved('default.png', (await get('thumbnail.png')).body), 640, 360);
    expect(mad(byDefault, src6)).toBeLessThan(2);
    // The last instant takes the last frame.
    expect((await get('thumbnail.jpg?time=12')).status).toBe(200);
  });

  it('is made once, kept in the store and served from it next time; identical requests share one render', async () => {
    const before = renders();
    const first = await get('thumbnail.webp?time=4.2&width=160');
    expect(first.headers.get('x-reel-image')).toBe('rendered');
    const kept = await t.reel.store.list(`videos/${id}/thumbs/`);
    expect(kept).toContain(`videos/${id}/thumbs/360p/f126-160x90.webp`);
    const again = await get('thumbnail.webp?time=4.2&width=160');
    expect(again.headers.get('x-reel-image')).toBe('cached');
    expect(again.body.equals(first.body)).toBe(true);
    // The same frame (time quantised to the frame grid) is the same image.
    expect((await get('thumbnail.webp?time=4.21&width=160')).headers.get('x-reel-image')).toBe('cached');
    expect(renders()).toBe(before + 1);

    const together = await Promise.all([1, 2, 3].map(() => get('thumbnail.jpg?time=9&width=300')));
    expect(together.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(together[1]!.body.equals(together[0]!.body)).toBe(true);
    expect(renders()).toBe(before + 2);
  });

  it('animated.webp: the frames and size asked, from the smallest rung large enough', async () => {
    const res = await get('animated.webp?start=1&end=3&width=200&fps=10');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(webpAnimation(res.body)).toEqual({ width: 200, height: 113, frames: 20, loops: 0 });
    expect(await t.reel.store.list(`videos/${id}/thumbs/240p/`)).toEqual([
      `videos/${id}/thumbs/240p/anim-10-30-200x113-10.webp`,
    ]);
    // Defaults: 320 wide, to 5 s after the start, cut at the video's end (12 s); across segments.
    expect(webpAnimation((await get('animated.webp?start=9&fps=4')).body)).toEqual({
      width: 320,
      height: 180,
      frames: 12,
      loops: 0,
    });
    // A width above the cap (640) is capped; the top rung (360p) is the one large enough.
    expect(webpAnimation((await get('animated.webp?start=11&end=12&fps=5&width=9999')).body)).toEqual({
      width: 640,
      height: 360,
      frames: 5,
      loops: 0,
    });
  });

  it('refuses malformed, zero, negative and out-of-range values with 400 naming the parameter', async () => {
    const bad: [string, string][] = [
      ['thumbnail.jpg?time=abc', 'time'],
      ['thumbnail.jpg?time=-1', 'time'],
      ['thumbnail.jpg?time=1e1', 'time'],
      ['thumbnail.jpg?time=0x10', 'time'],
      ['thumbnail.jpg?time=Infinity', 'time'],
      ['thumbnail.jpg?time=NaN', 'time'],
      ['thumbnail.jpg?time=', 'time'],
      ['thumbnail.jpg?time=12.5', 'time'],
      ['thumbnail.jpg?time=1&time=2', 'time'],
      ['thumbnail.jpg?time=1.2.3', 'time'],
      [`thumbnail.jpg?time=${'9'.repeat(5000)}`, 'time'],
      ['thumbnail.jpg?width=0', 'width'],
      ['thumbnail.jpg?width=12.5', 'width'],
      ['thumbnail.jpg?width=-320', 'width'],
      ['thumbnail.png?height=8', 'height'],
      [`thumbnail.webp?width=${'1'.repeat(400)}`, 'width'],
      ['animated.webp?start=2&end=1', 'end'],
      ['animated.webp?start=0&end=10.5', 'end'],
      ['animated.webp?fps=0', 'fps'],
      ['animated.webp?start=13', 'start'],
      ['animated.webp?width=1.5', 'width'],
    ];
    for (const [file, param] of bad) {
      const res = await get(file);
      expect({ file, status: res.status, code: res.code }).toEqual({
        file,
        status: 400,
        code: 'REEL_INVALID_IMAGE_PARAMETER',
      });
      expect(res.message).toContain(`"${param}"`);
    }
  });

  it('obeys playback access, and nothing else than the named images is served', async () => {
    const raw = (p: string) => rawRequest(t.url, p, 'GET', {});
    const code = (r: { body: string }) => (JSON.parse(r.body) as { code: string }).code;
    // A signed video asked with `public`, or with a token that is not a token.
    const pub = await raw(`/play/${id}/public/thumbnail.jpg?time=1`);
    expect([pub.status, code(pub)]).toEqual([401, 'REEL_MISSING_TOKEN']);
    expect((await raw(`/play/${id}/not-a-token/thumbnail.jpg`)).status).toBe(401);
    // Another video's token.
    const signedOther = 'otherSig';
    await publishFake(t, signedOther, 'signed');
    const { url: otherUrl } = (await (await t.api(`/v1/videos/${signedOther}/playback`)).json()) as {
      url: string;
    };
    const otherToken = otherUrl.split('/').at(-2)!;
    const wrong = await raw(`/play/${id}/${otherToken}/thumbnail.jpg?time=1`);
    expect([wrong.status, code(wrong)]).toEqual([403, 'REEL_TOKEN_WRONG_VIDEO']);
    // Unknown video; a legacy video (no per-segment rows) has none.
    expect((await raw(`/play/nosuchvideo00000/${token}/thumbnail.jpg`)).status).toBe(404);
    expect((await raw(`/play/legacyT/public/thumbnail.jpg?time=1`)).status).toBe(404);
    // Path tricks: nothing but the image names reaches the image code, nothing escapes the video.
    for (const p of [
      `/play/${id}/${token}/../thumbnail.jpg`,
      `/play/${id}/${token}/360p/../thumbnail.jpg`,
      `/play/${id}/${token}/%2e%2e/thumbnail.jpg`,
      `/play/${id}/${token}/thumbnail.gif?time=1`,
      `/play/${id}/${token}/thumbnail.jpg/..%2f..%2fx`,
      `/play/${id}/${token}/thumbs/360p/f90-640x360.jpg`,
    ]) {
      const res = await raw(p);
      expect({ p, status: res.status }).toEqual({ p, status: 404 });
    }
  });

  it('while processing: a time not yet published is 404, a published one is made and cached briefly', async () => {
    // A copy of the video as it stood after its first chunk: processing, only segment 0 of each rung.
    const copy = 'thumbsProcessing';
    await t.reel.db.query(
      `INSERT INTO videos (id, title, filename, status, playback_policy, duration_ms, width, height,
                           renditions, audio, playable_at)
       SELECT $2, title, filename, 'processing', 'public', duration_ms, width, height, renditions, audio, now()
         FROM videos WHERE id = $1`,
      [id, copy],
    );
    await t.reel.db.query(
      `INSERT INTO outputs (video_id, path, key, rendition, seq, duration, bytes, task_id, iframes)
       SELECT $2, path, key, rendition, seq, duration, bytes, task_id, iframes FROM outputs
        WHERE video_id = $1 AND (seq = 0 OR seq IS NULL)`,
      [id, copy],
    );
    const early = await fetch(`${t.url}/play/${copy}/public/thumbnail.jpg?time=1&width=320`);
    expect(early.status).toBe(200);
    expect(early.headers.get('cache-control')).toBe('public, max-age=10');
    const later = await fetch(`${t.url}/play/${copy}/public/thumbnail.jpg?time=5`);
    expect(later.status).toBe(404);
    expect(((await later.json()) as { code: string }).code).toBe('REEL_FRAME_NOT_PUBLISHED');
    // The default time (the middle) is not published yet either.
    expect((await fetch(`${t.url}/play/${copy}/public/thumbnail.jpg`)).status).toBe(404);
    const anim = await fetch(`${t.url}/play/${copy}/public/animated.webp?start=0&end=3`);
    expect(anim.status).toBe(404);
  });

  it('refuses with 503 and Retry-After beyond the renders and queue it may hold', async () => {
    // 1 render at once (thumbnail-renders 1) and 4 waiting: 12 different images asked at once.
    const widths = Array.from({ length: 12 }, (_, i) => 100 + i);
    const answers = await Promise.all(widths.map((w) => get(`thumbnail.png?time=11&width=${w}`)));
    const busy = answers.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(busy.every((r) => r.code === 'REEL_IMAGE_BUSY' && r.headers.get('retry-after') === '1')).toBe(
      true,
    );
    expect(busy.every((r) => r.headers.get('cache-control') === null)).toBe(true);
  });

  it('keeps at most REEL_THUMBNAILS_KEPT images a video: past it, images are made but not kept', async () => {
    const held = async () => (await t.reel.store.list(`videos/${id}/thumbs/`)).length;
    for (let w = 16; (await held()) < KEPT; w += 2) {
      expect((await get(`thumbnail.jpg?time=1&width=${w}`)).status).toBe(200);
    }
    const past = await get('thumbnail.jpg?time=1&width=200');
    expect([past.status, past.headers.get('x-reel-image')]).toEqual([200, 'rendered']);
    expect(await held()).toBe(KEPT);
    expect((await get('thumbnail.jpg?time=1&width=200')).headers.get('x-reel-image')).toBe('rendered');
  });

  it('deleting the video removes its images', async () => {
    expect((await t.reel.store.list(`videos/${id}/thumbs/`)).length).toBeGreaterThan(0);
    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await t.reel.store.list(`videos/${id}/`)).toEqual([]);
  });
});

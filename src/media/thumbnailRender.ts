/**
 * Runs ffmpeg for a thumbnail or an animated preview. ffmpeg opens one local file only: the rung's init
 * segment and the span's media segments, copied from the store into a temp directory of its own, read
 * with the mp4 demuxer forced and only the file protocol allowed; the image is written next to it.
 */
import { createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { errors } from '../core/errors.js';
import type { ObjectStore } from '../core/ports.js';
import { capture, cleanToolMessage } from './exec.js';
import type { ImageFormat, ImageRequest, SegmentSpan } from './thumbnailPlan.js';

/** An image that takes longer than this is given up (the request fails with REEL_IMAGE_FAILED). */
const RENDER_TIMEOUT_MS = 30_000;

const ENCODERS: Record<ImageFormat, readonly string[]> = {
  jpg: ['-c:v', 'mjpeg', '-q:v', '3', '-f', 'image2'],
  webp: ['-c:v', 'libwebp', '-quality', '80', '-f', 'webp'],
  png: ['-c:v', 'png', '-f', 'image2'],
};

/** Pure: ffmpeg's arguments to make `req` from `input` (init + segments) into `output`. */
export function imageArgs(req: ImageRequest, span: SegmentSpan, input: string, output: string): string[] {
  const { width, height } = req.size;
  const scale = `scale=${width}:${height}:flags=lanczos,setsar=1`;
  const head = ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-protocol_whitelist', 'file', '-f', 'mp4'];
  const seek = ['-ss', String(span.seekSeconds)];
  const tail = ['-map', '0:v:0', '-an', '-sn', '-dn', '-map_metadata', '-1'];
  if (req.kind === 'still')
    return [
      ...head,
      ...seek,
      '-i',
      input,
      ...tail,
      '-frames:v',
      '1',
      '-vf',
      scale,
      ...ENCODERS[req.format],
      output,
    ];
  return [
    ...head,
    ...seek,
    '-t',
    String(span.spanSeconds),
    '-i',
    input,
    ...tail,
    '-vf',
    `fps=${req.fps},${scale}`,
    '-c:v',
    'libwebp_anim',
    '-loop',
    '0',
    '-quality',
    '70',
    '-f',
    'webp',
    output,
  ];
}

/** Makes the image from the published objects `initKey` + `segmentKeys`; its bytes. */
export async function renderImage(
  store: ObjectStore,
  ffmpegPath: string,
  req: ImageRequest,
  span: SegmentSpan,
  initKey: string,
  segmentKeys: readonly string[],
): Promise<Buffer> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'reel-image-'));
  try {
    const input = path.join(dir, 'in.mp4');
    const out = createWriteStream(input);
    try {
      for (const key of [initKey, ...segmentKeys]) await pipeline(await store.get(key), out, { end: false });
      await new Promise<void>((resolve, reject) =>
        out.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
    } finally {
      out.destroy();
    }
    const output = path.join(dir, req.kind === 'still' ? `out.${req.format}` : 'out.webp');
    const result = await capture(
      ffmpegPath,
      imageArgs(req, span, input, output),
      AbortSignal.timeout(RENDER_TIMEOUT_MS),
    ).catch((err: unknown) => {
      throw err instanceof Error && err.name === 'TimeoutError' ? errors.imageFailed() : err;
    });
    const bytes = result.code === 0 ? await fsp.readFile(output).catch(() => null) : null;
    if (!bytes || bytes.length === 0) {
      const why = cleanToolMessage(result.stderr.split('\n').filter(Boolean).pop() ?? 'no frame', {
        [dir]: '',
      });
      throw Object.assign(errors.imageFailed(), { detail: why });
    }
    return bytes;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

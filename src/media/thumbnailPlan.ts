/**
 * Pure: what a thumbnail or an animated preview request asks for, checked and bounded, and where in the
 * published segments it comes from.
 *
 * - thumbnail.{jpg,webp,png}?time=&width=&height=: the frame at `time` (default: the middle of the video),
 *   quantised to the rung's frame grid, from the top rung (the best picture there is). The size keeps the
 *   aspect ratio, fits in width × height when both are given, and is capped at the top rung's size.
 * - animated.webp?start=&end=&width=&height=&fps=: start and end quantised to 0.1 s (end defaults to start +
 *   5 s and is cut at the video's end), a span of at most 10 s, `fps` default 10 and capped at 30 and at the
 *   rung's rate, width default 320 and capped at 640; from the smallest rung at least that large.
 *
 * Malformed, zero, negative or out-of-range values are refused (400) with the parameter named; sizes and
 * frame rates above the caps are capped, not refused. Cache keys follow from the quantised values, so the
 * number of distinct images a video can have is bounded.
 */
import { errors } from '../core/errors.js';
import { keys } from '../storage/keys.js';

export type ImageFormat = 'jpg' | 'webp' | 'png';

export interface Rung {
  name: string;
  width: number;
  height: number;
  frameRate: number;
}

export interface Size {
  width: number;
  height: number;
}

/** What the video offers, as far as images are concerned. */
export interface ImageSource {
  videoId: string;
  /** The source's duration, seconds. */
  durationSeconds: number;
  rungs: readonly Rung[];
}

export interface StillRequest {
  kind: 'still';
  format: ImageFormat;
  rung: Rung;
  /** Index of the frame on the rung's frame grid (frame n is shown from n / frameRate on). */
  frame: number;
  size: Size;
}

export interface AnimatedRequest {
  kind: 'animated';
  rung: Rung;
  /** Tenths of a second. */
  startDs: number;
  endDs: number;
  fps: number;
  size: Size;
}

export type ImageRequest = StillRequest | AnimatedRequest;

/** Limits of animated previews. */
export const ANIMATED = {
  maxSpanSeconds: 10,
  defaultSpanSeconds: 5,
  defaultFps: 10,
  maxFps: 30,
  defaultWidth: 320,
  maxWidth: 640,
} as const;
/** Smallest width or height accepted (a thumbnail smaller than this is no use to anyone). */
export const MIN_SIDE = 16;

const DECIMAL = /^\d{1,6}(?:\.\d{1,6})?$/;
const WHOLE = /^\d{1,5}$/;

type Query = Record<string, unknown>;

/** The raw text of one query parameter, or undefined; repeated or empty → 400. */
function raw(query: Query, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw errors.invalidImageParameter(name, 'give it once');
  if (v === '') throw errors.invalidImageParameter(name, 'it is empty');
  return v;
}

/** A time in seconds: digits with an optional fraction, no sign, exponent or hex. */
function seconds(query: Query, name: string, durationSeconds: number): number | undefined {
  const v = raw(query, name);
  if (v === undefined) return undefined;
  if (!DECIMAL.test(v)) throw errors.invalidImageParameter(name, 'expected seconds, such as 12.5');
  const n = Number(v);
  if (n > durationSeconds)
    throw errors.invalidImageParameter(name, `${n} s is beyond the video's end (${durationSeconds} s)`);
  return n;
}

/** A whole number ≥ min (pixels, frames per second). */
function whole(query: Query, name: string, min: number): number | undefined {
  const v = raw(query, name);
  if (v === undefined) return undefined;
  if (!WHOLE.test(v)) throw errors.invalidImageParameter(name, 'expected a whole number, such as 320');
  const n = Number(v);
  if (n < min) throw errors.invalidImageParameter(name, `it must be at least ${min}`);
  return n;
}

/** The rungs, largest first. */
function bySize(rungs: readonly Rung[]): Rung[] {
  if (rungs.length === 0) throw errors.objectNotFound('a rendition to take images from');
  return [...rungs].sort((a, b) => b.width * b.height - a.width * a.height);
}

/**
 * The size of an image of `frame` asked as width and/or height: aspect kept, inside width × height when
 * both are given, never larger than `frame` (asking for more is capped, not refused).
 */
export function fitSize(frame: Size, width?: number, height?: number): Size {
  const scale = Math.min(
    1,
    width === undefined ? 1 : width / frame.width,
    height === undefined ? 1 : height / frame.height,
  );
  return {
    width: Math.max(1, Math.round(frame.width * scale)),
    height: Math.max(1, Math.round(frame.height * scale)),
  };
}

const FORMATS: Record<string, ImageFormat> = {
  'thumbnail.jpg': 'jpg',
  'thumbnail.webp': 'webp',
  'thumbnail.png': 'png',
};

/** thumbnail.{jpg,webp,png}: the frame and size asked for. */
export function stillRequest(file: string, query: Query, source: ImageSource): StillRequest {
  const format = FORMATS[file];
  if (!format) throw errors.objectNotFound(file);
  const top = bySize(source.rungs)[0]!;
  const time = seconds(query, 'time', source.durationSeconds) ?? source.durationSeconds / 2;
  const width = whole(query, 'width', MIN_SIDE);
  const height = whole(query, 'height', MIN_SIDE);
  return {
    kind: 'still',
    format,
    rung: top,
    frame: Math.floor(time * top.frameRate + 1e-6),
    size: fitSize(top, width, height),
  };
}

/** animated.webp: the span, rate and size asked for, and the cheapest rung that gives that size. */
export function animatedRequest(query: Query, source: ImageSource): AnimatedRequest {
  const rungs = bySize(source.rungs);
  const durationDs = Math.floor(source.durationSeconds * 10 + 1e-6);
  const start = seconds(query, 'start', source.durationSeconds) ?? 0;
  const startDs = Math.floor(start * 10 + 1e-6);
  const askedEnd = seconds(query, 'end', Number.POSITIVE_INFINITY);
  let endDs =
    askedEnd === undefined ? startDs + ANIMATED.defaultSpanSeconds * 10 : Math.floor(askedEnd * 10 + 1e-6);
  if (endDs <= startDs) throw errors.invalidImageParameter('end', 'it must be at least 0.1 s after start');
  if (endDs - startDs > ANIMATED.maxSpanSeconds * 10)
    throw errors.invalidImageParameter('end', `a preview spans at most ${ANIMATED.maxSpanSeconds} s`);
  endDs = Math.min(endDs, durationDs);
  if (endDs <= startDs) throw errors.invalidImageParameter('start', "it is at the video's very end");

  const width = whole(query, 'width', MIN_SIDE);
  const height = whole(query, 'height', MIN_SIDE);
  const asked = fitSize(
    rungs[0]!,
    width ?? (height === undefined ? ANIMATED.defaultWidth : undefined),
    height,
  );
  const size = asked.width > ANIMATED.maxWidth ? fitSize(rungs[0]!, ANIMATED.maxWidth) : asked;
  // The smallest rung at least as large as the preview (decoding it costs least); the top one otherwise.
  const rung =
    [...rungs].reverse().find((r) => r.width >= size.width && r.height >= size.height) ?? rungs[0]!;
  const fps = Math.min(
    whole(query, 'fps', 1) ?? ANIMATED.defaultFps,
    ANIMATED.maxFps,
    Math.max(1, Math.floor(rung.frameRate)),
  );
  return { kind: 'animated', rung, startDs, endDs, fps, size };
}

/** Where a video's images are kept once made: under its prefix, so deleting it removes them. */
export const imageCachePrefix = (videoId: string) => `${keys.videoPrefix(videoId)}thumbs/`;

/** Where a request's image is kept once made. */
export function imageCacheKey(videoId: string, req: ImageRequest): string {
  const { width, height } = req.size;
  const base = `${imageCachePrefix(videoId)}${req.rung.name}/`;
  return req.kind === 'still'
    ? `${base}f${req.frame}-${width}x${height}.${req.format}`
    : `${base}anim-${req.startDs}-${req.endDs}-${width}x${height}-${req.fps}.webp`;
}

/** A published segment of a rung, as `outputs` lists it. */
export interface SegmentEntry {
  seq: number;
  duration: number;
}

/** The segments an image is made from and where in them to start. */
export interface SegmentSpan {
  /** Consecutive sequence numbers. */
  seqs: number[];
  /** Seconds from the start of the first segment's first frame to the first frame wanted. */
  seekSeconds: number;
  /** The seconds wanted (animated), or null: one frame. */
  spanSeconds: number | null;
}

/**
 * The segments that hold the request's frames, from the contiguous run of published segments from seq 0
 * (their durations place them; a segment's timestamps are absolute, so the file made of the init segment and
 * these segments starts at the first one's start). Null when they are not all published yet (the video is
 * processing). A ready video's last frames: a time past the last published frame takes that frame.
 */
export function locateSpan(
  req: ImageRequest,
  published: readonly SegmentEntry[],
  ready: boolean,
): SegmentSpan | null {
  const starts: number[] = [];
  let end = 0;
  for (const [i, s] of published.entries()) {
    if (s.seq !== i) break;
    starts.push(end);
    end += s.duration;
  }
  if (starts.length === 0) return null;
  const frameTime = 1 / req.rung.frameRate;
  let from: number;
  let to: number;
  if (req.kind === 'still') {
    from = req.frame * frameTime;
    if (ready && from > end - frameTime) from = Math.max(0, end - frameTime);
    to = from;
  } else {
    from = req.startDs / 10;
    to = req.endDs / 10;
    if (ready) {
      to = Math.min(to, end);
      if (from >= to) from = Math.max(0, to - frameTime);
    }
  }
  if (from >= end || (req.kind === 'animated' && to > end + 1e-6)) return null;
  const segAt = (t: number) => {
    let i = starts.length - 1;
    while (i > 0 && starts[i]! > t + 1e-6) i--;
    return i;
  };
  const first = segAt(from);
  const last = req.kind === 'still' ? first : segAt(Math.max(from, to - 1e-3));
  const seqs = [];
  for (let i = first; i <= last; i++) seqs.push(i);
  // A quarter of a frame early: ffmpeg keeps the first frame at or after the seek point.
  const seek = Math.max(0, from - starts[first]! - (req.kind === 'still' ? frameTime / 4 : 0));
  return {
    seqs,
    seekSeconds: Math.round(seek * 1e6) / 1e6,
    spanSeconds: req.kind === 'still' ? null : Math.round((to - from) * 1e6) / 1e6,
  };
}

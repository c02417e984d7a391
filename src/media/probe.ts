/**
 * Reads a source with ffprobe and turns what it reports into display terms (SourceInfo).
 *
 * A source is opened only as one of the self-contained containers in formats.ts, and only through the
 * `file` protocol: ffprobe is given `-format_whitelist` and `-protocol_whitelist`, so a playlist or list
 * that names other files (hls, dash, concat, …) is refused before its demuxer reads anything.
 */
import { stat } from 'node:fs/promises';
import { errors } from '../core/errors.js';
import type { SourceInfo } from '../core/types.js';
import { capture, cleanToolMessage } from './exec.js';
import { ACCEPTED_LABELS, ALLOWED_DEMUXERS, containerOf, refusalOf, SOURCE_PROTOCOLS } from './formats.js';
import { checkSourceLimits, type SourceLimits } from './limits.js';

interface FfStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  sample_aspect_ratio?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  bit_rate?: string;
  nb_frames?: string;
  channels?: number;
  disposition?: { attached_pic?: number; still_image?: number; hearing_impaired?: number; forced?: number };
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

interface FfProbeOutput {
  streams?: FfStream[];
  format?: { format_name?: string; duration?: string; bit_rate?: string };
}

/** Demuxers that read single pictures (image2, png_pipe, jpeg_pipe, webp_pipe, …). */
const IMAGE_FORMAT = /^image2$|_pipe$/;
/** Codecs that, with a single frame, are a photo rather than a video. */
const STILL_CODECS = new Set(['mjpeg', 'png', 'bmp', 'webp', 'tiff', 'jpegls', 'jpeg2000']);

/** A probed source: what it shows, and how ffmpeg must open it. */
export interface ProbedSource extends SourceInfo {
  /** The demuxer ffmpeg must be forced to (`-f`), one of the allowed containers. */
  demuxer: string;
  /** Size of the file in bytes. */
  bytes: number;
}

export async function probe(
  file: string,
  opts: { ffprobePath: string; signal?: AbortSignal; limits?: SourceLimits },
): Promise<ProbedSource> {
  // Sources are always local files (a source on S3 is downloaded first): no URL is ever opened.
  const st = await stat(file);
  if (st.size === 0) throw errors.emptySource();
  const res = await capture(
    opts.ffprobePath,
    [
      '-v',
      'error',
      '-protocol_whitelist',
      SOURCE_PROTOCOLS,
      '-format_whitelist',
      ALLOWED_DEMUXERS,
      '-print_format',
      'json',
      '-show_format',
      '-show_streams',
      `file:${file}`,
    ],
    opts.signal,
  );
  if (res.code !== 0) {
    if (/Format not on whitelist/.test(res.stderr)) {
      throw refuse((await detectFormat(file, opts)) ?? 'unknown');
    }
    throw errors.notMedia(ffprobeDetail(res.stderr, file));
  }
  let parsed: FfProbeOutput;
  try {
    parsed = JSON.parse(res.stdout) as FfProbeOutput;
  } catch {
    throw errors.notMedia('ffprobe printed no readable description of it');
  }
  const formatName = parsed.format?.format_name ?? '';
  const container = containerOf(formatName);
  if (!container) throw refuse(formatName || 'unknown');
  const info = describeSource(parsed);
  if (opts.limits) checkSourceLimits(info, st.size, opts.limits);
  return { ...info, demuxer: container.demuxer, bytes: st.size };
}

/**
 * The demuxer ffmpeg's probe picks for a file, WITHOUT opening it: a whitelist that names no demuxer makes
 * ffprobe stop right after the probe (before the demuxer reads the file's header or anything it names);
 * the debug log says what was found.
 */
async function detectFormat(
  file: string,
  opts: { ffprobePath: string; signal?: AbortSignal },
): Promise<string | undefined> {
  const res = await capture(
    opts.ffprobePath,
    [
      '-loglevel',
      'level+debug',
      '-protocol_whitelist',
      SOURCE_PROTOCOLS,
      '-format_whitelist',
      'reel-probe-only',
      `file:${file}`,
    ],
    opts.signal,
  );
  return /Format (\S+) probed with size=\d+ and score=\d+/.exec(res.stderr)?.[1];
}

/** The permanent error for a format that is not on the list. */
function refuse(formatName: string) {
  const r = refusalOf(formatName);
  if (r.kind === 'image') return errors.notMedia(`it is ${r.what}, not a video`);
  if (r.kind === 'audio') return errors.noVideoStream();
  return errors.unsupportedFormat(r.what, ACCEPTED_LABELS, r.kind === 'references');
}

/** Pure: ffprobe's JSON → SourceInfo, or the permanent error that says why the file cannot be used. */
export function describeSource(p: FfProbeOutput): SourceInfo {
  const streams = p.streams ?? [];
  if (streams.length === 0) throw errors.notMedia('it contains no audio or video streams');
  const formatName = p.format?.format_name ?? '';
  const videos = streams.filter((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const hasAudio = streams.some((s) => s.codec_type === 'audio');
  const v = videos[0];
  // Audio only, or audio with cover art (an attached picture is not a video), or data only.
  if (!v) throw errors.noVideoStream();
  const codec = v.codec_name ?? 'unknown';
  if (IMAGE_FORMAT.test(formatName) || (STILL_CODECS.has(codec) && v.nb_frames === '1')) {
    throw errors.notMedia(`it is a still image (${codec}), not a video`);
  }
  const width = v.width ?? 0;
  const height = v.height ?? 0;
  if (width <= 0 || height <= 0) throw errors.notMedia(`its ${codec} video stream has no frame size`);

  const rotation = rotationOf(v);
  // Non-square pixels (anamorphic DV, some broadcast files): the viewer sees the frame stretched by the SAR.
  const sar = parseRatio(v.sample_aspect_ratio);
  const shownWidth = sar && sar > 0 && Math.abs(sar - 1) > 1e-3 ? Math.round(width * sar) : width;
  const swap = rotation === 90 || rotation === 270;

  const durationSec =
    positive(Number(p.format?.duration)) ??
    positive(Number(v.duration)) ??
    Math.max(0, ...streams.map((s) => positive(Number(s.duration)) ?? 0));
  const fps = positive(parseRatio(v.avg_frame_rate)) ?? positive(parseRatio(v.r_frame_rate)) ?? 0;

  const videoSec = positive(Number(v.duration));
  return {
    durationMs: Math.round(durationSec * 1000),
    videoDurationMs: videoSec === undefined ? undefined : Math.round(videoSec * 1000),
    width,
    height,
    rotation,
    displayWidth: swap ? height : shownWidth,
    displayHeight: swap ? shownWidth : height,
    fps,
    pixFmt: v.pix_fmt ?? 'unknown',
    videoCodec: codec,
    videoBitRate: positive(Number(v.bit_rate)) ?? positive(Number(bpsTag(v.tags))),
    hasAudio,
    audioStreams: streams
      .filter((s) => s.codec_type === 'audio')
      .map((s, index) => ({
        index,
        language: languageTag(s.tags),
        title: s.tags?.['title'] || undefined,
        channels: s.channels ?? 2,
      })),
    subtitleStreams: streams
      .filter((s) => s.codec_type === 'subtitle')
      .map((s, index) => ({
        index,
        codec: s.codec_name ?? 'unknown',
        language: languageTag(s.tags),
        title: s.tags?.['title'] || undefined,
        hearingImpaired: s.disposition?.hearing_impaired === 1,
        forced: s.disposition?.forced === 1,
      })),
  };
}

/** A stream's language tag as the container writes it, unless absent or undetermined. */
function languageTag(tags: Record<string, string> | undefined): string | undefined {
  const lang = tags?.['language']?.trim();
  return lang && !/^(und|unk|zxx|mis|mul)$/i.test(lang) ? lang : undefined;
}

/**
 * Clockwise display rotation. ffprobe's display-matrix `rotation` is counterclockwise (a phone held
 * upright, whose picture must be turned 90° clockwise, reports -90); the legacy `rotate` tag is clockwise.
 */
export function rotationOf(s: Pick<FfStream, 'side_data_list' | 'tags'>): 0 | 90 | 180 | 270 {
  const matrix = s.side_data_list?.find((d) => typeof d.rotation === 'number');
  let clockwise: number | undefined;
  if (matrix?.rotation !== undefined) clockwise = -matrix.rotation;
  else if (s.tags?.['rotate'] !== undefined) clockwise = Number(s.tags['rotate']);
  if (clockwise === undefined || !Number.isFinite(clockwise)) return 0;
  const quarter = (((Math.round(clockwise / 90) * 90) % 360) + 360) % 360;
  return quarter as 0 | 90 | 180 | 270;
}

function parseRatio(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  const [a, b] = raw.split(/[/:]/).map(Number);
  if (a === undefined || !Number.isFinite(a)) return undefined;
  if (b === undefined) return a;
  if (!Number.isFinite(b) || b === 0) return undefined;
  return a / b;
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Matroska stores the bit rate as a BPS (or BPS-eng) tag. */
function bpsTag(tags: Record<string, string> | undefined): string | undefined {
  if (!tags) return undefined;
  const key = Object.keys(tags).find((k) => /^BPS(-\w+)?$/i.test(k));
  return key ? tags[key] : undefined;
}

function ffprobeDetail(stderr: string, file: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => cleanToolMessage(l, { [`file:${file}`]: 'file', [file]: 'file' }))
    .filter(Boolean);
  const last = lines.at(-1);
  if (!last) return 'ffprobe could not read it';
  // "file: Invalid data found when processing input" → "Invalid data found when processing input"
  return last.replace(/^file: /, '');
}

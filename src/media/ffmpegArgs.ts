/**
 * Pure: the argument list of the ONE ffmpeg process that decodes the source once and writes every
 * rendition (and the audio rendition, and the poster) as fMP4 HLS.
 */
import path from 'node:path';
import type { TranscodePlan } from '../core/types.js';
import { SOURCE_PROTOCOLS } from './formats.js';
import type { PosterPlan } from './ladder.js';

export const AUDIO_GROUP = 'aud';
export const AUDIO_NAME = 'audio';
export const MEDIA_PLAYLIST = 'index.m3u8';
export const INIT_SEGMENT = 'init.mp4';
export const POSTER_FILE = 'poster.jpg';
export const SEGMENT_PATTERN = 'seg_%05d.m4s';

/** ffmpeg's spelling of a frame rate: NTSC rates as exact fractions (29.97 → 30000/1001). */
export function fpsArg(fps: number): string {
  if (Number.isInteger(fps)) return String(fps);
  const ntsc = fps * 1.001;
  if (Math.abs(ntsc - Math.round(ntsc)) < 1e-6) return `${Math.round(ntsc) * 1000}/1001`;
  return String(Math.round(fps * 1000) / 1000);
}

/** Frames between keyframes: the same in every rendition, since they all share one frame rate. */
export function keyint(plan: Pick<TranscodePlan, 'fps' | 'keyframeSeconds'>): number {
  return Math.max(1, Math.round(plan.fps * plan.keyframeSeconds));
}

/** One rung's branch of the filter graph, after the split. */
export function scaleChain(r: { width: number; height: number }): string {
  return `scale=w=${r.width}:h=${r.height}:flags=bicubic,setsar=1`;
}

/** The poster's branch: passes the frames from `fromSeconds` on (the poster output keeps the first). */
export function posterChain(p: PosterPlan, fromSeconds: number): string {
  return `trim=start=${round3(fromSeconds)},scale=w=${p.width}:h=${p.height}:flags=lanczos,setsar=1,format=yuvj420p`;
}

/** Constant frame rate (variable-rate phone clips) and 8-bit 4:2:0 (10-bit sources), once, before the split. */
export function frameRateChain(plan: Pick<TranscodePlan, 'fps'>): string {
  return `fps=${fpsArg(plan.fps)},format=yuv420p`;
}

export function buildFilterGraph(plan: TranscodePlan & { poster?: PosterPlan | null }): string {
  const branches = plan.renditions.map((r, i) => ({ from: `s${i}`, chain: scaleChain(r), to: `v${i}` }));
  if (plan.poster)
    branches.push({ from: 'sp', chain: posterChain(plan.poster, plan.poster.atSeconds), to: 'poster' });
  return joinGraph(`[0:v:0]${frameRateChain(plan)}`, branches);
}

/** `head` then a split into the branches (no split for one). */
export function joinGraph(head: string, branches: { from: string; chain: string; to: string }[]): string {
  if (branches.length === 1) return `${head},${branches[0]!.chain}[${branches[0]!.to}]`;
  const split = `${head},split=${branches.length}${branches.map((b) => `[${b.from}]`).join('')}`;
  return [split, ...branches.map((b) => `[${b.from}]${b.chain}[${b.to}]`)].join(';');
}

/** AAC-LC as every rendition set carries it. */
export function audioEncoderArgs(audio: NonNullable<TranscodePlan['audio']>): string[] {
  return [
    '-c:a',
    'aac',
    '-profile:a',
    'aac_low',
    '-b:a',
    `${audio.bitrateKbps}k`,
    '-ac',
    String(audio.channels),
    '-ar',
    String(audio.sampleRate),
  ];
}

export function varStreamMap(plan: Pick<TranscodePlan, 'renditions' | 'audio'>): string {
  const group = plan.audio ? `,agroup:${AUDIO_GROUP}` : '';
  const video = plan.renditions.map((r, i) => `v:${i}${group},name:${r.name}`);
  const audio = plan.audio ? [`a:0${group},name:${AUDIO_NAME}`] : [];
  return [...video, ...audio].join(' ');
}

/** A local source file and the demuxer its probe found (one of the allowed containers, formats.ts). */
export interface SourceFile {
  path: string;
  demuxer: string;
}

/**
 * How ffmpeg opens a source: the one local file (protocol `file` only, an explicit `file:` URL so that no
 * character of the path can select another protocol), as the one container the probe found (`-f`, and a
 * format whitelist of just that demuxer): ffmpeg never probes again and never opens another file.
 */
export function sourceInputArgs(source: SourceFile): string[] {
  return [
    '-protocol_whitelist',
    SOURCE_PROTOCOLS,
    '-format_whitelist',
    source.demuxer,
    '-f',
    source.demuxer,
    '-i',
    `file:${source.path}`,
  ];
}

export function buildTranscodeArgs(
  plan: TranscodePlan & { poster?: PosterPlan | null },
  source: SourceFile,
  outDir: string,
): string[] {
  const k = keyint(plan);
  const args = ['-hide_banner', '-nostdin', '-y', '-v', 'error', '-nostats', '-progress', 'pipe:1'];
  args.push(...sourceInputArgs(source), '-filter_complex', buildFilterGraph(plan));

  // HLS output: every video rendition, then the audio once.
  for (let i = 0; i < plan.renditions.length; i++) args.push('-map', `[v${i}]`);
  if (plan.audio) args.push('-map', '0:a:0');
  // No source metadata (phone location, device names) and no chapters in what is published.
  args.push('-map_metadata', '-1', '-map_chapters', '-1');
  args.push(
    '-c:v',
    'libx264',
    '-profile:v',
    'high',
    '-pix_fmt',
    'yuv420p',
    '-preset',
    plan.preset,
    '-crf',
    String(plan.crf),
  );
  plan.renditions.forEach((r, i) => {
    args.push(`-maxrate:v:${i}`, `${r.maxrateKbps}k`, `-bufsize:v:${i}`, `${r.bufsizeKbps}k`);
  });
  // Keyframes at the same instants in every rendition, never at scene cuts: clean switching, and
  // segments that each start with an IDR frame.
  args.push(
    '-force_key_frames',
    `expr:gte(t,n_forced*${plan.keyframeSeconds})`,
    '-forced-idr',
    '1',
    '-sc_threshold',
    '0',
    '-x264-params',
    `keyint=${k}:min-keyint=${k}:scenecut=0`,
  );
  if (plan.audio) args.push(...audioEncoderArgs(plan.audio));
  args.push(
    '-f',
    'hls',
    '-hls_time',
    String(plan.segmentSeconds),
    '-hls_playlist_type',
    'vod',
    '-hls_segment_type',
    'fmp4',
    '-hls_flags',
    'independent_segments',
    // With several variant streams ffmpeg 5.1 names these init_<n>.mp4; finaliseInitSegments renames them.
    '-hls_fmp4_init_filename',
    INIT_SEGMENT,
    '-hls_segment_filename',
    path.join(outDir, '%v', SEGMENT_PATTERN),
    '-var_stream_map',
    varStreamMap(plan),
    path.join(outDir, '%v', MEDIA_PLAYLIST),
  );

  if (plan.poster) {
    args.push('-map', '[poster]', '-map_metadata', '-1', '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '3');
    args.push('-update', '1', path.join(outDir, POSTER_FILE));
  }
  return args;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Pure: the ffmpeg arguments of one video chunk (every rung from one decode of the chunk's span, each as a
 * fragmented MP4) and of the audio task (the whole file's audio as fragmented MP4 on stdout).
 */
import path from 'node:path';
import type { ChunkSpec } from './chunkPlan.js';
import {
  audioEncoderArgs,
  fpsArg,
  joinGraph,
  keyint,
  POSTER_FILE,
  posterChain,
  type SourceFile,
  scaleChain,
  sourceInputArgs,
} from './ffmpegArgs.js';
import { type AudioTrackPlan, audioTrackOf, type MediaPlan } from './ladder.js';
import { type ChunkStoryboard, sheetPath, storyboardChain } from './storyboard.js';

/** One fragment per GOP, one init that does not depend on the chunk (no edit list, no sidx, no mfra). */
export const FRAGMENTED_MP4 = [
  '-f',
  'mp4',
  '-movflags',
  'frag_keyframe+empty_moov+default_base_moof',
  '-use_editlist',
  '0',
];

/** x264's presets: sub-pixel refinement and lookahead, to never ask the fast first chunk for more than these. */
const PRESET_SUBME: Record<string, number> = {
  ultrafast: 0,
  superfast: 1,
  veryfast: 2,
  faster: 4,
  fast: 6,
  medium: 7,
  slow: 8,
  slower: 9,
  veryslow: 10,
  placebo: 11,
};

/**
 * x264 settings added for the first chunk, on top of the configured preset, so that the video is playable
 * as soon as possible. They only cut analysis (motion search `me=dia`, `subme` ≤ 1, no partition search,
 * B-frame placement without trial encodes `b-adapt=0`, a 2-frame rate-control lookahead); everything the
 * SPS/PPS (the avcC of the init segment) carries stays as the preset has it — profile, level, CABAC,
 * B-frames count and pyramid, references, weighted prediction, 8×8 transform, chroma QP offset — so the
 * first chunk's init is byte-identical to the others' (chunked.test.ts checks it). x264 lowers the PPS
 * chroma QP offset by 2 when psy-rd is active, which needs subme ≥ 6 (presets fast and slower): there the
 * fast chunk's subme 1 would leave it at 0, so chroma-qp-offset=-2 puts it back.
 *
 * Kept on purpose: mbtree and adaptive quantisation, whose absence makes the chunk 1.4–2.5× larger (more
 * to write, upload and download before the first frame) for no speed gain; deblocking (no gain measured).
 *
 * Measured (2 s of 1080p30 testsrc2 → 1080p/720p/480p/240p, one ffmpeg, veryfast, CRF 23, the 2-core
 * machine shared by other sessions, load 5–11): ffmpeg CPU time 5.8 s → 3.1–3.5 s (−40 %); wall 2.2–2.5 s
 * against 3.0–3.6 s at best (its median under load 6.2 s → 3.9 s); 1,518 KiB against 1,647 KiB.
 * Also tried: subme=0, threads=1, no-deblock (no further gain), aq-mode=0 (+43 % bytes), rc-lookahead=0 +
 * mbtree=0 (+100–150 % bytes). Of the 3.1 s CPU left, ~0.9 s is decoding and scaling (0.5 s decoding alone):
 * x264 on the 1080p rung is most of the rest. At 640×360 (2 rungs) the knobs save little (first chunk
 * 0.6–1.0 s wall either way, chunked.test.ts prints it): there start-up dominates.
 */
export function fastX264(preset: string): string {
  const subme = PRESET_SUBME[preset] ?? PRESET_SUBME['medium']!;
  if (subme === 0) return ''; // ultrafast: nothing left to cut
  const knobs = ['me=dia', `subme=${Math.min(1, subme)}`, 'partitions=none', 'b-adapt=0', 'sync-lookahead=0'];
  if (subme >= 2) knobs.push('rc-lookahead=2');
  if (subme >= 6) knobs.push('chroma-qp-offset=-2');
  return knobs.join(':');
}

export function chunkOutputFile(outDir: string, rendition: string): string {
  return path.join(outDir, rendition, 'chunk.mp4');
}

/** `-ss` value: the chunk's first output frame time, in microseconds precision. */
function secondsArg(s: number): string {
  return (Math.round(s * 1e6) / 1e6).toFixed(6);
}

/**
 * The chunk's filter graph: constant rate with its grid anchored at the chunk start (fps start_time=0:
 * frames decoded before the edge, from the keyframe the seek landed on, are dropped there, and a source
 * frame missing at the edge is filled as the single-process encode fills it), then exactly the chunk's
 * frames (trim), then one branch per rung, the poster and the storyboard sheet.
 */
export function buildChunkFilterGraph(
  plan: MediaPlan,
  chunk: ChunkSpec,
  storyboard: ChunkStoryboard | null = null,
): string {
  const startSec = chunk.startFrame / plan.fps;
  let head = `[0:v:0]fps=fps=${fpsArg(plan.fps)}:start_time=0,format=yuv420p`;
  if (chunk.frames !== null) head += `,trim=end_frame=${chunk.frames}`;
  const branches = plan.renditions.map((r, i) => ({ from: `s${i}`, chain: scaleChain(r), to: `v${i}` }));
  if (chunk.poster && plan.poster) {
    branches.push({
      from: 'sp',
      chain: posterChain(plan.poster, Math.max(0, plan.poster.atSeconds - startSec)),
      to: 'poster',
    });
  }
  if (storyboard) branches.push({ from: 'sb', chain: storyboardChain(storyboard), to: 'storyboard' });
  return joinGraph(head, branches);
}

export function buildChunkArgs(
  plan: MediaPlan,
  source: SourceFile,
  chunk: ChunkSpec,
  outDir: string,
  /**
   * x264 threads per rung (default: x264's own, 1.5 per core). The short first chunk is latency-bound:
   * one thread per core for each rung encodes its 60 frames sooner (2 s of 1080p → 4 rungs on 2 cores:
   * 1.63–1.65 s against 1.79–2.10 s with x264's default; the same bytes and the same init segment).
   */
  opts: { threads?: number; storyboard?: ChunkStoryboard | null } = {},
): string[] {
  const k = keyint(plan);
  const args = ['-hide_banner', '-nostdin', '-y', '-v', 'error', '-nostats', '-progress', 'pipe:1'];
  if (chunk.startFrame > 0) {
    // Seek to the keyframe before the edge and let the filter graph drop what comes before it (the fps
    // filter's start_time), rather than ffmpeg's accurate seek, whose cut depends on float rounding.
    args.push('-noaccurate_seek', '-ss', secondsArg(chunk.startFrame / plan.fps));
  }
  args.push(
    ...sourceInputArgs(source),
    '-filter_complex',
    buildChunkFilterGraph(plan, chunk, opts.storyboard),
  );
  const fast = chunk.fast ? fastX264(plan.preset) : '';
  const x264 = `keyint=${k}:min-keyint=${k}:scenecut=0${fast ? `:${fast}` : ''}`;
  plan.renditions.forEach((r, i) => {
    args.push('-map', `[v${i}]`, '-map_metadata', '-1', '-map_chapters', '-1');
    args.push('-c:v', 'libx264', '-profile:v', 'high', '-pix_fmt', 'yuv420p');
    args.push('-preset', plan.preset, '-crf', String(plan.crf));
    args.push('-maxrate', `${r.maxrateKbps}k`, '-bufsize', `${r.bufsizeKbps}k`);
    // Keyframes by frame number (the chunk starts on one): the same frames in every rung and every chunk.
    args.push('-force_key_frames', `expr:eq(mod(n,${k}),0)`, '-forced-idr', '1', '-sc_threshold', '0');
    if (opts.threads) args.push('-threads', String(opts.threads));
    args.push('-x264-params', x264, '-an', '-sn', '-dn');
    args.push(...FRAGMENTED_MP4, chunkOutputFile(outDir, r.name));
  });
  if (chunk.poster && plan.poster) {
    args.push('-map', '[poster]', '-map_metadata', '-1', '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '3');
    args.push('-update', '1', path.join(outDir, POSTER_FILE));
  }
  if (opts.storyboard) {
    // The chunk's storyboard sheet (media/storyboard.ts): one image of its tiles.
    args.push('-map', '[storyboard]', '-map_metadata', '-1', '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '5');
    args.push('-update', '1', path.join(outDir, sheetPath(chunk.index)));
  }
  return args;
}

/**
 * An audio task: one audio stream of the whole file (`0:a:N`, the track's, mono kept mono) as AAC,
 * fragmented MP4 on stdout, a fragment about every `plan.segmentSeconds` (ffmpeg closes a fragment once it
 * holds that much: 188 AAC frames, 4.011 s at 48 kHz; the same cut every run, the AAC frame grid does not
 * depend on anything else).
 */
export function buildAudioArgs(
  plan: MediaPlan,
  source: SourceFile,
  track: Pick<AudioTrackPlan, 'stream' | 'channels' | 'bitrateKbps'> = audioTrackOf(plan, 0),
): string[] {
  if (!plan.audio) throw new TypeError('buildAudioArgs: the plan has no audio');
  return [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-nostats',
    ...sourceInputArgs(source),
    '-map',
    `0:a:${track.stream}`,
    '-vn',
    '-sn',
    '-dn',
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    // Audio on the file's timeline from 0, as the video chunks are (fps start_time=0): silence in front
    // of an audio stream that starts late, samples before 0 dropped. Without it a late start is lost.
    '-af',
    'aresample=first_pts=0',
    ...audioEncoderArgs({ ...plan.audio, channels: track.channels, bitrateKbps: track.bitrateKbps }),
    '-f',
    'mp4',
    '-movflags',
    'empty_moov+default_base_moof',
    '-frag_duration',
    String(Math.round(plan.segmentSeconds * 1e6)),
    '-use_editlist',
    '0',
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

/**
 * Runs ffmpeg for one video chunk (every rung, fragmented MP4, then cut into init + segments on the global
 * segment grid with their decode times shifted to the chunk's place) and for the audio task (streamed:
 * each segment is handed over as soon as ffmpeg has finished it).
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errors } from '../core/errors.js';
import { buildAudioArgs, buildChunkArgs, chunkOutputFile } from './chunkArgs.js';
import { type ChunkSpec, frameOfSeq, segmentGrid, seqOfFrame } from './chunkPlan.js';
import { INIT_SEGMENT, POSTER_FILE, type SourceFile } from './ffmpegArgs.js';
import { fragmentKeyframe, type KeyframeRange } from './keyframes.js';
import { type AudioTrackPlan, audioTrackOf, type MediaPlan } from './ladder.js';
import {
  codecsString,
  FragmentReader,
  fragmentInfo,
  shiftTfdt,
  splitFragmented,
  trackTimescale,
} from './mp4Boxes.js';
import { isDamageLine } from './pipeline.js';
import { chunkStoryboard, sheetPath, sheetSpan } from './storyboard.js';
import { runTranscode } from './transcode.js';

export interface ChunkOutput {
  /** As played: `${rendition}/seg_${String(seq).padStart(5,'0')}.m4s`, `${rendition}/init.mp4`, `poster.jpg`. */
  path: string;
  /** Local file to upload. */
  file: string;
  /** Rung name (plan.renditions[i].name) or the audio track's (`audio`, `audio_1`, …); null for the poster. */
  rendition: string | null;
  /** Segments only. */
  seq: number | null;
  /** Seconds, segments only (from the boxes). */
  duration: number | null;
  bytes: number;
  /** Video segments: each fragment's keyframe as a byte range of the file (I-frame playlists). */
  iframes?: KeyframeRange[];
}

export function segmentPath(rendition: string, seq: number): string {
  return `${rendition}/seg_${String(seq).padStart(5, '0')}.m4s`;
}

/**
 * Frames between a video's first decode time and its first presentation time: x264 with B-frames and
 * b-pyramid (every preset but ultrafast) delays presentation by 2 frames, 1 without pyramid, 0 without
 * B-frames (ultrafast). The audio is shifted by the same time so that both start together.
 */
export function videoPtsDelayFrames(preset: string): number {
  return preset === 'ultrafast' ? 0 : 2;
}

/** Samples of encoder delay in front of ffmpeg's AAC output (its initial_padding), at the output rate. */
export const AAC_PRIMING_SAMPLES = 1024;

/**
 * Where the audio's first sample goes, in the audio timescale: at the video's presentation delay, less the
 * AAC encoder's priming samples (which a player decodes and plays, as there is no edit list to hide them),
 * so that the first sound of the source plays with its first picture. Never below 0 (a preset without
 * B-frames: the audio then lags by the 21 ms of priming, within a frame).
 */
export function audioOffset(plan: Pick<MediaPlan, 'fps' | 'preset' | 'audio'>, timescale: number): number {
  const delay = (videoPtsDelayFrames(plan.preset) / plan.fps) * timescale;
  const priming = (AAC_PRIMING_SAMPLES * timescale) / (plan.audio?.sampleRate ?? timescale);
  return Math.max(0, Math.round(delay - priming));
}

const MAX_WARNINGS = 5;

export interface EncodeVideoChunkOptions {
  source: SourceFile;
  plan: MediaPlan;
  chunk: ChunkSpec;
  outDir: string;
  ffmpegPath: string;
  signal?: AbortSignal;
  timeLimitMs?: number;
  onProgress?: (fraction: number) => void;
  /** The source's duration, for the last chunk's progress (its frame count is unknown). */
  sourceDurationMs?: number;
  /** x264 threads per rung (buildChunkArgs); x264's default when absent. */
  threads?: number;
  /** The video's planned duration, which sets the storyboard's interval; no storyboard sheet when absent. */
  storyboardDurationMs?: number;
}

export async function encodeVideoChunk(opts: EncodeVideoChunkOptions): Promise<{
  outputs: ChunkOutput[];
  codecs: Record<string, string>;
  frames: number;
  warnings: string[];
}> {
  const { source, plan, chunk, outDir } = opts;
  const { k, segFrames } = segmentGrid(plan);
  await Promise.all(plan.renditions.map((r) => mkdir(path.join(outDir, r.name), { recursive: true })));
  const board =
    opts.storyboardDurationMs !== undefined ? chunkStoryboard(plan, chunk, opts.storyboardDurationMs) : null;
  if (board) await mkdir(path.join(outDir, path.dirname(sheetPath(chunk.index))), { recursive: true });
  const startMs = (chunk.startFrame / plan.fps) * 1000;
  const spanMs =
    chunk.frames !== null
      ? (chunk.frames / plan.fps) * 1000
      : Math.max(1, (opts.sourceDurationMs ?? startMs + 1) - startMs);
  const warnings: string[] = [];
  await runTranscode({
    ffmpegPath: opts.ffmpegPath,
    args: buildChunkArgs(plan, source, chunk, outDir, { threads: opts.threads, storyboard: board }),
    durationMs: spanMs,
    signal: opts.signal,
    timeLimitMs: opts.timeLimitMs,
    onProgress: opts.onProgress,
    onStderrLine: (line) => {
      if (warnings.length < MAX_WARNINGS && isDamageLine(line)) warnings.push(line);
    },
    redact: { [`file:${source.path}`]: 'source', [source.path]: 'source', [outDir]: 'output' },
  });
  opts.signal?.throwIfAborted();

  const outputs: ChunkOutput[] = [];
  const codecs: Record<string, string> = {};
  let frames: number | undefined;
  for (const r of plan.renditions) {
    const whole = chunkOutputFile(outDir, r.name);
    const { init, fragments } = splitFragmented(await readFile(whole));
    const timescale = trackTimescale(init);
    codecs[r.name] = codecsString(init);
    // The chunk's fragments start at decode time 0: move them to the chunk's place in the video.
    const offset = Math.round((chunk.startFrame * timescale) / plan.fps);
    const initFile = path.join(outDir, r.name, INIT_SEGMENT);
    await writeFile(initFile, init);
    outputs.push(fileOutput(`${r.name}/${INIT_SEGMENT}`, initFile, r.name, null, null, init.length));

    let at = chunk.startFrame;
    const groups: {
      seq: number;
      parts: Buffer[];
      samples: number;
      duration: number;
      iframes: KeyframeRange[];
      bytes: number;
    }[] = [];
    for (const frag of fragments) {
      const info = fragmentInfo(frag, init);
      if (info.sampleCount === 0) continue;
      const seq = seqOfFrame(at, k, segFrames);
      const group = groups.at(-1);
      // Every fragment starts at a keyframe (frag_keyframe): its range for the I-frame playlist.
      const key = fragmentKeyframe(frag, init);
      if (!key.sync)
        throw errors.transcodeFailed(`rendition ${r.name}: a fragment at frame ${at} is not a keyframe`);
      const iframe = (into: number) => ({
        offset: into,
        length: key.length,
        duration: key.duration / timescale,
      });
      if (group && group.seq === seq) {
        group.parts.push(shiftTfdt(frag, offset));
        group.samples += info.sampleCount;
        group.duration += info.duration;
        group.iframes.push(iframe(group.bytes));
        group.bytes += frag.length;
      } else {
        if (at !== frameOfSeq(seq, k, segFrames) || !info.startsWithSync) {
          throw errors.transcodeFailed(
            `rendition ${r.name}: a fragment at frame ${at} is not on a keyframe at a segment start`,
          );
        }
        groups.push({
          seq,
          parts: [shiftTfdt(frag, offset)],
          samples: info.sampleCount,
          duration: info.duration,
          iframes: [iframe(0)],
          bytes: frag.length,
        });
      }
      at += info.sampleCount;
    }
    for (const g of groups) {
      const rel = segmentPath(r.name, g.seq);
      const file = path.join(outDir, rel);
      const data = Buffer.concat(g.parts);
      await writeFile(file, data);
      outputs.push({
        ...fileOutput(rel, file, r.name, g.seq, g.duration / timescale, data.length),
        iframes: g.iframes,
      });
    }
    await rm(whole, { force: true });
    const made = at - chunk.startFrame;
    if (frames !== undefined && made !== frames) {
      throw errors.transcodeFailed(`the renditions of one chunk have ${frames} and ${made} frames`);
    }
    frames = made;
  }
  const made = frames ?? 0;
  if (made === 0 || (chunk.frames !== null && made < chunk.frames)) {
    const from = (chunk.startFrame / plan.fps).toFixed(1);
    const why = warnings[0] ? `; ffmpeg: ${warnings[0]}` : '';
    throw errors.truncatedSource(
      chunk.frames === null
        ? `no video from ${from} s on${why}`
        : `${made} of the ${chunk.frames} frames expected from ${from} s${why}`,
    );
  }
  if (chunk.poster && plan.poster) {
    const file = path.join(outDir, POSTER_FILE);
    const size = await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    if (size > 0) outputs.push(fileOutput(POSTER_FILE, file, null, null, null, size));
  }
  if (board) {
    const rel = sheetPath(chunk.index);
    const file = path.join(outDir, rel);
    // None when a last chunk ended before its first tile's frame (a source shorter than it declared).
    const size = await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    // Its duration: the seconds of video the sheet stands for (storyboard.vtt adds them up).
    const span = sheetSpan(board, chunk.startFrame, made, plan.fps);
    if (size > 0) outputs.push(fileOutput(rel, file, null, null, span, size));
  }
  return { outputs, codecs, frames: made, warnings };
}

function fileOutput(
  rel: string,
  file: string,
  rendition: string | null,
  seq: number | null,
  duration: number | null,
  bytes: number,
): ChunkOutput {
  return { path: rel, file, rendition, seq, duration, bytes };
}

/** A last audio segment shorter than this is merged into the one before (the encoder's final AAC frame). */
const SHORT_AUDIO_TAIL_SECONDS = 1;

/** The audio's nice value (see EncodeAudioOptions.nice). */
const AUDIO_NICE = 5;

export interface EncodeAudioOptions {
  source: SourceFile;
  plan: MediaPlan;
  outDir: string;
  ffmpegPath: string;
  signal?: AbortSignal;
  timeLimitMs?: number;
  /**
   * The source's duration: segments are then handed over as soon as they are complete except near the end
   * (without it, each waits for the next to begin: about one segment's encode later). Also for the
   * time-budget message.
   */
  sourceDurationMs?: number;
  /** init first, then each segment as soon as it is complete, in order; awaited. */
  onOutput: (out: ChunkOutput) => Promise<void>;
  /** Which source stream, into which rendition (its name), how many channels: the first track by default. */
  track?: Pick<AudioTrackPlan, 'stream' | 'name' | 'channels' | 'bitrateKbps'>;
  /**
   * ffmpeg's nice value (default 5): the video chunks beside it, the first one above all, get the cores
   * first. Its first segment needs a fraction of a second of CPU and is out long before the first chunk;
   * after that the audio only has to be done by the last chunk.
   */
  nice?: number;
}

/**
 * The whole file's audio, one ffmpeg, segments handed over as ffmpeg finishes them; near the end (or
 * everywhere when sourceDurationMs is not given) each is held until the next one begins, so that a sliver
 * at the very end can join the last segment. Decode times are shifted
 * by audioOffset (the video's presentation delay less the AAC priming), rounded to the audio timescale, so
 * that the source's first sound plays with its first picture. A retry re-encodes from the start and cuts the same
 * segments (the AAC frame grid and the fragment duration are all that decide them).
 */
export async function encodeAudio(opts: EncodeAudioOptions): Promise<{ segments: number; codecs: string }> {
  const { plan, outDir } = opts;
  if (!plan.audio) throw new TypeError('encodeAudio: the plan has no audio');
  const track = opts.track ?? audioTrackOf(plan, 0);
  const name = track.name;
  const dir = path.join(outDir, name);
  await mkdir(dir, { recursive: true });
  const reader = new FragmentReader();
  let init: Buffer | undefined;
  let codecs = '';
  let timescale = 0;
  let offset = 0;
  let seq = 0;
  let held: { data: Buffer; duration: number } | undefined;
  let encodedTicks = 0;
  const endSec = opts.sourceDurationMs !== undefined ? opts.sourceDurationMs / 1000 : undefined;
  const mayBeFollowedByTail = (atSec: number) =>
    endSec === undefined || atSec >= endSec - plan.segmentSeconds - 2 * SHORT_AUDIO_TAIL_SECONDS;

  const emit = async (data: Buffer, duration: number) => {
    const rel = segmentPath(name, seq);
    const file = path.join(outDir, rel);
    await writeFile(file, data);
    await opts.onOutput(fileOutput(rel, file, name, seq, duration / timescale, data.length));
    seq++;
  };
  const take = async (got: { init?: Buffer; fragments: Buffer[] }) => {
    if (got.init) {
      init = got.init;
      timescale = trackTimescale(init);
      codecs = codecsString(init);
      offset = audioOffset(plan, timescale);
      const file = path.join(dir, INIT_SEGMENT);
      await writeFile(file, init);
      await opts.onOutput(fileOutput(`${name}/${INIT_SEGMENT}`, file, name, null, null, init.length));
    }
    for (const frag of got.fragments) {
      if (!init) throw errors.transcodeFailed('audio fragments before the init segment');
      const info = fragmentInfo(frag, init);
      if (info.sampleCount === 0) continue;
      const next = { data: shiftTfdt(frag, offset), duration: info.duration };
      if (held) await emit(held.data, held.duration);
      held = undefined;
      encodedTicks += info.duration;
      // Held back only where the next fragment may be the last and a sliver (see SHORT_AUDIO_TAIL_SECONDS):
      // elsewhere handed over at once, which is what the first audio segment's latency needs.
      if (mayBeFollowedByTail(encodedTicks / timescale)) held = next;
      else await emit(next.data, next.duration);
    }
  };

  await runTranscode({
    ffmpegPath: opts.ffmpegPath,
    args: buildAudioArgs(plan, opts.source, track),
    signal: opts.signal,
    timeLimitMs: opts.timeLimitMs,
    durationMs: opts.sourceDurationMs ?? 0,
    redact: { [`file:${opts.source.path}`]: 'source', [opts.source.path]: 'source' },
    onStdout: (chunk) => take(reader.push(chunk)),
    onSpawn: (pid) => {
      try {
        os.setPriority(pid, opts.nice ?? AUDIO_NICE);
      } catch {
        // gone already, or not allowed: it then runs at the same priority as the chunks
      }
    },
  });
  const rest = reader.end();
  if (rest.init) await take({ init: rest.init, fragments: [] });
  const last = rest.fragments.at(-1);
  for (const frag of rest.fragments.slice(0, -1)) await take({ fragments: [frag] });
  if (last && init) {
    const info = fragmentInfo(last, init);
    const tail = { data: shiftTfdt(last, offset), duration: info.duration };
    if (held && info.sampleCount > 0 && tail.duration < SHORT_AUDIO_TAIL_SECONDS * timescale) {
      held = { data: Buffer.concat([held.data, tail.data]), duration: held.duration + tail.duration };
    } else if (info.sampleCount > 0) {
      if (held) await emit(held.data, held.duration);
      held = tail;
    }
  }
  if (held) await emit(held.data, held.duration);
  if (!init || seq === 0) throw errors.truncatedSource('the audio stream yields no sound');
  return { segments: seq, codecs };
}

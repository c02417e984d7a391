/** Source file → HLS ladder in outDir: probe, plan, one ffmpeg run, verify, master playlist. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../core/errors.js';
import type { RenditionInfo, SourceInfo, TranscodePlan } from '../core/types.js';
import { AUDIO_NAME, buildTranscodeArgs } from './ffmpegArgs.js';
import { type MediaPlan, planTranscode } from './ladder.js';
import { type SourceLimits, type TimeBudget, transcodeBudgetSeconds } from './limits.js';
import { finaliseInitSegments, measureRendition, mergeShortTails, writeMasterPlaylist } from './playlist.js';
import { probe } from './probe.js';
import { runTranscode } from './transcode.js';

export interface MediaSettings {
  rungs: number[];
  preset: string;
  crf: number;
  ffmpegPath: string;
  ffprobePath: string;
  /** Sources beyond these are refused when probed (none when absent). */
  limits?: SourceLimits;
  /** The transcode's time budget, from the source's duration (none when absent). */
  budget?: TimeBudget;
}

export interface TranscodeToHlsOptions {
  input: string;
  /** Created if missing; receives master.m3u8, poster.jpg and one directory per rendition. */
  outDir: string;
  settings: MediaSettings;
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

export interface TranscodeResult {
  source: SourceInfo;
  plan: TranscodePlan;
  renditions: RenditionInfo[];
  /** ffmpeg's complaints about damaged data it decoded past (the output is complete). */
  warnings: string[];
}

/** An output shorter than this share of the source means the source ended early. */
const MIN_DURATION_SHARE = 0.9;

/** ffmpeg stderr lines that mean the source is damaged or cut short. */
const DAMAGE = [
  /partial file/i,
  /invalid data found/i,
  /error while decoding/i,
  /invalid nal unit/i,
  /moov atom not found/i,
];

export function isDamageLine(line: string): boolean {
  return DAMAGE.some((re) => re.test(line));
}

export async function transcodeToHls(opts: TranscodeToHlsOptions): Promise<TranscodeResult> {
  const { input, outDir, settings, signal } = opts;
  const source = await probe(input, { ffprobePath: settings.ffprobePath, signal, limits: settings.limits });
  const plan: MediaPlan = planTranscode(source, settings);
  if (outDir.includes('%')) {
    // ffmpeg's HLS muxer reads % in its output paths as a pattern (%v, %05d).
    throw errors.invalidConfig(
      `the output directory ${outDir} contains "%"; choose a data directory without it`,
    );
  }
  await mkdir(outDir, { recursive: true });

  const damage: string[] = [];
  await runTranscode({
    ffmpegPath: settings.ffmpegPath,
    args: buildTranscodeArgs(plan, { path: input, demuxer: source.demuxer }, outDir),
    durationMs: source.durationMs,
    timeLimitMs: settings.budget
      ? transcodeBudgetSeconds(source.durationMs, settings.budget) * 1000
      : undefined,
    signal,
    onProgress: opts.onProgress,
    onStderrLine: (line) => {
      if (damage.length < 5 && isDamageLine(line)) damage.push(line);
    },
    redact: { [`file:${input}`]: 'source', [input]: 'source', [outDir]: 'output' },
  });
  signal?.throwIfAborted();

  const names = [...plan.renditions.map((r) => r.name), ...(plan.audio ? [AUDIO_NAME] : [])];
  await finaliseInitSegments(outDir, names);
  // The encoder's last AAC frame (21 ms) after the video's end must not be a segment of its own.
  await mergeShortTails(outDir, names);
  await verifyComplete(outDir, plan, source, damage);
  const renditions = await writeMasterPlaylist(outDir, plan, { ffprobePath: settings.ffprobePath });
  return { source, plan, renditions, warnings: damage };
}

/**
 * Throws truncatedSource when the encode ended early. Damaged data that ffmpeg decoded past (one glitched
 * frame in a phone clip) does not fail the video: it is returned as a warning for the log.
 */
async function verifyComplete(outDir: string, plan: TranscodePlan, source: SourceInfo, damage: string[]) {
  const top = await measureRendition(path.join(outDir, plan.renditions[0]!.name));
  const audio = plan.audio ? await measureRendition(path.join(outDir, AUDIO_NAME)) : undefined;
  // Audio may legitimately outlast the video (and set the container's duration): count the longer one.
  const outSec = Math.max(top.durationSec, audio?.durationSec ?? 0);
  const srcSec = source.durationMs / 1000;
  if (srcSec > 0 && outSec < srcSec * MIN_DURATION_SHARE) {
    const why = damage[0] ? `; ffmpeg: ${damage[0]}` : '';
    throw errors.truncatedSource(
      `the media stops at ${outSec.toFixed(1)} s of the ${srcSec.toFixed(1)} s it declares${why}`,
    );
  }
}

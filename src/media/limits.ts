/**
 * Pure: what one source may cost. Sources too long, too large or whose header is implausible are refused
 * when probed, before any transcoding; the transcode itself gets a time budget proportional to the
 * duration (transcode.ts stops ffmpeg when it runs out).
 */
import { errors } from '../core/errors.js';
import type { SourceInfo } from '../core/types.js';

export interface SourceLimits {
  /** Longest accepted duration, seconds. */
  maxDurationSeconds: number;
  /** Widest and tallest accepted frame side, pixels. */
  maxDimension: number;
  /** Largest accepted frame area, pixels. */
  maxPixels: number;
}

export interface TimeBudget {
  /** Seconds any video gets. */
  floorSeconds: number;
  /** Seconds per second of video on top of that. */
  factor: number;
}

/**
 * Below this average rate (bits per second of declared duration) a file cannot hold the video it claims:
 * even a still picture encoded as one frame a second with a keyframe every 250 frames stays near
 * 2 kbit/s, and anything with sound is far above. A 7 KB file claiming 10 hours is 1.6 bit/s.
 */
export const MIN_PLAUSIBLE_BITS_PER_SECOND = 1000;
/** Short clips are small anyway; the rate check starts above this declared duration. */
const PLAUSIBILITY_FROM_SECONDS = 60;

/** Throws the permanent error that says which limit the source breaks; returns when it breaks none. */
export function checkSourceLimits(source: SourceInfo, bytes: number, limits: SourceLimits): void {
  const durationSec = source.durationMs / 1000;
  if (durationSec > limits.maxDurationSeconds) {
    throw errors.sourceTooLong(durationSec, limits.maxDurationSeconds);
  }
  // The coded frame is what the decoder must hold; the displayed one (non-square pixels) what is scaled.
  const width = Math.max(source.width, source.displayWidth);
  const height = Math.max(source.height, source.displayHeight);
  const side = Math.max(source.width, source.height, source.displayWidth, source.displayHeight);
  if (side > limits.maxDimension || source.width * source.height > limits.maxPixels) {
    const mpx = Math.round(limits.maxPixels / 100_000) / 10;
    throw errors.frameTooLarge(
      width,
      height,
      `${limits.maxDimension} pixels on either side and ${mpx} million pixels in all (REEL_MAX_DIMENSION, REEL_MAX_PIXELS)`,
    );
  }
  if (durationSec > PLAUSIBILITY_FROM_SECONDS && (bytes * 8) / durationSec < MIN_PLAUSIBLE_BITS_PER_SECOND) {
    throw errors.implausibleDuration(durationSec, bytes);
  }
}

/** Seconds one transcode of a source this long may take before ffmpeg is stopped. */
export function transcodeBudgetSeconds(durationMs: number, budget: TimeBudget): number {
  return budget.floorSeconds + (budget.factor * Math.max(0, durationMs)) / 1000;
}

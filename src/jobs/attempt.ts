/**
 * What every attempt (a video's planning step, a chunk, the audio) shares: how a failure is classified and
 * settled, uploads of an attempt's files into the store, and retries of a commit whose database
 * connection dropped. A lost lease aborts everything at once and publishes nothing more.
 */
import type { Logger } from 'pino';
import { errors, isReelError, type ReelError } from '../core/errors.js';
import type { ObjectStore } from '../core/ports.js';
import type { FailureOutcome } from '../db/jobs.js';
import { isConnectionError } from '../db/postgres.js';

/** The fenced operations a failed attempt settles through (JobLease, TaskLease). */
export interface SettleableLease {
  readonly signal: AbortSignal;
  readonly lost: boolean;
  fail(err: ReelError, retryBaseSeconds: number): Promise<FailureOutcome>;
  requeue(err: ReelError, delaySeconds: number): Promise<FailureOutcome>;
  recordStale(why: string): Promise<void>;
}

/**
 * Classifies a failed attempt and settles it: a lost lease publishes nothing and `cleanUp` removes what it
 * wrote; an abort (the worker stopping) leaves the work to be handed back; a full disk requeues without
 * spending an attempt; anything else is retried with backoff or fails the video.
 */
export async function settleFailure(
  lease: SettleableLease,
  log: Logger,
  raw: unknown,
  opts: {
    startedAt: number;
    retryBaseSeconds: number;
    noSpaceRetrySeconds: number;
    cleanUp: () => Promise<void>;
  },
): Promise<void> {
  const signal = lease.signal;
  const err = isReelError(raw) ? raw : isReelError(signal.reason) ? signal.reason : raw;
  if (lease.lost || (isReelError(err) && err.code === errors.leaseLost.code)) {
    log.warn(
      { wastedSeconds: (Date.now() - opts.startedAt) / 1000 },
      'attempt abandoned: lease lost, nothing more published',
    );
    await lease.recordStale('lease lost').catch(() => undefined);
    await opts.cleanUp().catch(() => undefined);
    return;
  }
  if (signal.aborted) {
    log.info('attempt aborted: worker stopping');
    return;
  }
  const noSpace = isNoSpaceError(raw);
  const e = noSpace
    ? errors.processingNoSpace(noSpace)
    : isReelError(err)
      ? err
      : errors.transcodeFailed(err instanceof Error ? err.message : String(err));
  // A full disk is the machine's trouble, not the video's: retry later without spending an attempt.
  const settle = noSpace ? lease.requeue(e, opts.noSpaceRetrySeconds) : lease.fail(e, opts.retryBaseSeconds);
  let recorded = true;
  const res = await settle.catch((dbErr) => {
    log.error({ err: dbErr }, 'recording the failure failed; the lease will expire and the work be retried');
    recorded = false;
    const stale: FailureOutcome = { outcome: 'stale' };
    return stale;
  });
  if (res.outcome === 'stale' && recorded) {
    // The lease was gone by the time the failure was recorded (the video was deleted, or the work taken
    // over): the failure is a consequence, not the video's; nothing more is published.
    log.warn(
      { wastedSeconds: (Date.now() - opts.startedAt) / 1000, cause: e.message },
      'attempt abandoned: lease lost, nothing more published',
    );
    await lease.recordStale('lease lost').catch(() => undefined);
    await opts.cleanUp().catch(() => undefined);
    return;
  }
  log[res.outcome === 'retry' ? 'warn' : 'error'](
    { code: e.code, outcome: res.outcome, retryInSeconds: res.retryInSeconds },
    `attempt failed: ${e.message}`,
  );
}

const NO_SPACE = /No space left on device/i;

/**
 * What says that a failure came from a full disk, or undefined: an fs error with code ENOSPC (writing the
 * work directory, downloading the source, moving outputs into the store), or ffmpeg's "No space left on
 * device" in its message or in the last lines of its stderr.
 */
export function isNoSpaceError(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (e.code === 'ENOSPC') return 'no space left on device';
  const cause = e.cause as { stderr?: unknown } | undefined;
  const stderr: unknown[] = Array.isArray(cause?.stderr) ? cause.stderr : [];
  const text = [e.message, ...stderr].filter((l): l is string => typeof l === 'string');
  return text.some((l) => NO_SPACE.test(l)) ? 'no space left on device' : undefined;
}

/** Parallel uploads of one attempt's files: enough to hide S3 latency, few enough to bound memory. */
const UPLOAD_CONCURRENCY = 4;

/** Moves local files into the store under the given keys. */
export async function uploadFiles(
  store: ObjectStore,
  files: readonly { file: string; key: string }[],
  signal: AbortSignal,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < files.length) {
      signal.throwIfAborted();
      const f = files[next++]!;
      await store.putFile(f.key, f.file, { move: true });
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, files.length) }, lane));
}

/** Retries an operation that failed because the database connection dropped (a few times, with backoff). */
export async function withRetries<T>(fn: () => Promise<T>, signal: AbortSignal, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isConnectionError(err) || signal.aborted) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** i));
    }
  }
}

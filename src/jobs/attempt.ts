/**
 * One attempt at a leased job: a work directory, the source, one ffmpeg transcode, the outputs written
 * under the attempt's own prefix, and the fenced publish; on failure, what kind of failure it was and
 * what the queue should do about it. A lost lease aborts everything at once and publishes nothing.
 */
import { createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { errors, isReelError } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { type FailureOutcome, forgetOrphan, recordAttemptPrefix } from '../db/jobs.js';
import { isConnectionError } from '../db/postgres.js';
import { transcodeToHls } from '../media/pipeline.js';
import type { Metrics } from '../metrics.js';
import { keys } from '../storage/keys.js';
import { assembleUpload } from '../uploads/assemble.js';
import { workDirOf } from './housekeeping.js';
import type { JobLease } from './lease.js';
import type { WorkerConfig } from './worker.js';

export interface AttemptDeps {
  db: Db;
  store: ObjectStore;
  config: WorkerConfig;
  workerId: string;
  metrics?: Metrics | undefined;
}

/** Runs one attempt of the leased job and settles it (published, failed, requeued or stale); never throws. */
export async function runAttempt(deps: AttemptDeps, lease: JobLease, log: Logger): Promise<void> {
  const { store, config } = deps;
  const job = lease.job;
  const signal = lease.signal;
  const startedAt = Date.now();
  const workDir = workDirOf(config.dataDir, job.videoId, job.attempt);
  const outputPrefix = keys.attemptPrefix(job.videoId, job.attempt);
  try {
    if (job.attempt > job.maxAttempts) {
      throw errors.tooManyAttempts(job.maxAttempts);
    }
    await fsp.rm(workDir, { recursive: true, force: true });
    const outDir = path.join(workDir, 'out');
    await fsp.mkdir(outDir, { recursive: true });
    const input = await sourcePath(deps, job, workDir);

    let lastReport = 0;
    const result = await transcodeToHls({
      input,
      outDir,
      settings: {
        rungs: config.ladder,
        preset: config.x264Preset,
        crf: config.crf,
        ffmpegPath: config.ffmpegPath,
        ffprobePath: config.ffprobePath,
        limits: {
          maxDurationSeconds: config.maxDurationSeconds,
          maxDimension: config.maxDimension,
          maxPixels: config.maxPixels,
        },
        budget: { floorSeconds: config.attemptBudgetSeconds, factor: config.attemptBudgetFactor },
      },
      signal,
      onProgress: (fraction) => {
        const now = Date.now();
        if (now - lastReport < 500) return;
        lastReport = now;
        // Leave the last 2% for writing and publishing the outputs.
        void lease.reportProgress(Math.min(0.98, fraction)).catch(() => undefined);
      },
    });
    signal.throwIfAborted();
    if (result.warnings.length > 0)
      log.warn({ ffmpeg: result.warnings }, 'the source has damaged data; decoded past it');

    await recordAttemptPrefix(deps.db, outputPrefix);
    await uploadDir(store, outDir, outputPrefix, signal);
    signal.throwIfAborted();

    const top = result.renditions[0]!;
    // A dropped connection must not waste the encode: try the (idempotent, fenced) commit again.
    const published = await withRetries(
      () =>
        lease.publish({
          outputPrefix,
          durationMs: result.source.durationMs,
          width: top.width,
          height: top.height,
          renditions: result.renditions,
        }),
      signal,
    );
    if (!published) throw errors.leaseLost();
    const seconds = (Date.now() - startedAt) / 1000;
    deps.metrics?.observeTranscode(deps.workerId, seconds);
    log.info({ seconds, renditions: result.renditions.map((r) => r.name) }, 'video ready');
  } catch (raw) {
    await settleFailure(deps, lease, log, raw, { startedAt, outputPrefix });
  } finally {
    lease.stopHeartbeat();
    await fsp.rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Classifies a failed attempt and settles it: a lost lease publishes nothing and cleans up after itself;
 * an abort (the worker stopping) leaves the job to be handed back; a full disk requeues without spending
 * an attempt; anything else is retried with backoff or fails the video.
 */
async function settleFailure(
  deps: AttemptDeps,
  lease: JobLease,
  log: Logger,
  raw: unknown,
  at: { startedAt: number; outputPrefix: string },
): Promise<void> {
  const { db, store, config } = deps;
  const signal = lease.signal;
  const err = isReelError(raw) ? raw : isReelError(signal.reason) ? signal.reason : raw;
  if (lease.lost || (isReelError(err) && err.code === errors.leaseLost.code)) {
    log.warn(
      { wastedSeconds: (Date.now() - at.startedAt) / 1000 },
      'attempt abandoned: lease lost, nothing published',
    );
    await lease.recordStale('lease lost').catch(() => undefined);
    await store.deletePrefix(at.outputPrefix).catch(() => undefined);
    await forgetOrphan(db, at.outputPrefix).catch(() => undefined);
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
  const settle = noSpace
    ? lease.requeue(e, config.noSpaceRetrySeconds)
    : lease.fail(e, config.retryBaseSeconds);
  const res = await settle.catch((dbErr) => {
    log.error({ err: dbErr }, 'recording the failure failed; the lease will expire and the job be retried');
    const stale: FailureOutcome = { outcome: 'stale' };
    return stale;
  });
  log[res.outcome === 'retry' ? 'warn' : 'error'](
    { code: e.code, outcome: res.outcome, retryInSeconds: res.retryInSeconds },
    `job failed: ${e.message}`,
  );
}

/**
 * A path ffmpeg can read: the object itself on a filesystem store, else a download into the work dir
 * (after joining the parts of a tus upload that were stored but not yet joined).
 */
async function sourcePath(
  deps: AttemptDeps,
  job: { videoId: string; sourceKey: string },
  workDir: string,
): Promise<string> {
  const { store } = deps;
  if (store.localPath) return store.localPath(job.sourceKey);
  if (store.multipart) await assembleUpload(deps.db, store, job.videoId);
  const dest = path.join(workDir, 'source');
  await pipeline(await store.get(job.sourceKey), createWriteStream(dest));
  return dest;
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

/** Parallel uploads of one ladder: enough to hide S3 latency, few enough to bound memory and sockets. */
const UPLOAD_CONCURRENCY = 4;

async function uploadDir(
  store: ObjectStore,
  dir: string,
  prefix: string,
  signal: AbortSignal,
): Promise<void> {
  const entries = await fsp.readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  let next = 0;
  const lane = async () => {
    while (next < files.length) {
      signal.throwIfAborted();
      const full = files[next++]!;
      const rel = path.relative(dir, full).split(path.sep).join('/');
      await store.putFile(prefix + rel, full, { move: true });
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, files.length) }, lane));
}

/** Retries an operation that failed because the database connection dropped (a few times, with backoff). */
async function withRetries<T>(fn: () => Promise<T>, signal: AbortSignal, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isConnectionError(err) || signal.aborted) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** i));
    }
  }
}

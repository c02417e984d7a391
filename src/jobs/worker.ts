/**
 * The worker role: claims jobs through the lease queue, keeps the lease alive with heartbeats, transcodes
 * with one ffmpeg process, writes the outputs under a per-attempt prefix and publishes them with the
 * fenced commit. A lost lease aborts ffmpeg at once and publishes nothing.
 */
import crypto from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { errors, isReelError, ReelError } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { isConnectionError } from '../db/postgres.js';
import { processAlive } from '../lock.js';
import { transcodeToHls } from '../media/pipeline.js';
import type { Metrics } from '../metrics.js';
import { keys } from '../storage/keys.js';
import { assembleUpload } from '../uploads/assemble.js';
import {
  type ClaimedJob,
  claimJob,
  collectableOrphans,
  type FailureOutcome,
  failJob,
  forgetOrphan,
  heartbeat,
  publishJob,
  recordAttemptPrefix,
  recordStale,
  releaseJob,
  reportProgress,
  requeueWithoutAttempt,
} from './queue.js';
import { Wakeup } from './wakeup.js';

export type WorkerConfig = Pick<
  Config,
  | 'dataDir'
  | 'leaseSeconds'
  | 'heartbeatSeconds'
  | 'maxAttempts'
  | 'retryBaseSeconds'
  | 'concurrency'
  | 'pollMs'
  | 'ladder'
  | 'x264Preset'
  | 'crf'
  | 'ffmpegPath'
  | 'ffprobePath'
  | 'maxDurationSeconds'
  | 'maxDimension'
  | 'maxPixels'
  | 'attemptBudgetSeconds'
  | 'attemptBudgetFactor'
  | 'noSpaceRetrySeconds'
>;

export interface WorkerDeps {
  db: Db;
  store: ObjectStore;
  config: WorkerConfig;
  log: Logger;
  workerId?: string;
  metrics?: Metrics;
}

interface Running {
  job: ClaimedJob;
  abort: AbortController;
  done: Promise<void>;
}

export class Worker {
  readonly id: string;
  readonly wakeup = new Wakeup();
  private readonly stopping = new AbortController();
  private readonly running = new Map<number, Running>();
  private loops: Promise<void>[] = [];
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: WorkerDeps) {
    this.id = deps.workerId ?? `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  }

  start(): void {
    const { config, log } = this.deps;
    log.info({ workerId: this.id, concurrency: config.concurrency }, 'worker started');
    void sweepDeadWorkDirs(path.join(config.dataDir, 'work'), log);
    for (let i = 0; i < config.concurrency; i++) this.loops.push(this.loop());
    const gcEvery = Math.max(1000, config.leaseSeconds * 1000);
    this.gcTimer = setInterval(() => void this.collectOrphans(), gcEvery);
    this.gcTimer.unref();
  }

  /** Called when a job was queued in this process (and by LISTEN/NOTIFY on Postgres). */
  notify(): void {
    this.wakeup.wake();
  }

  /**
   * Stops claiming; running jobs get `graceMs` to finish, then are aborted and handed back at once so
   * another worker can start them without waiting for the lease to expire.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping.abort();
    clearInterval(this.gcTimer);
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut) {
      for (const r of this.running.values()) r.abort.abort(new Error('worker stopping'));
      await Promise.all(
        [...this.running.values()].map(async (r) => {
          await r.done;
          if (await releaseJob(this.deps.db, r.job).catch(() => false)) {
            this.deps.log.info({ videoId: r.job.videoId, jobId: r.job.jobId }, 'job handed back on shutdown');
          }
        }),
      );
    }
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    const { db, config, log } = this.deps;
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      let job: ClaimedJob | null = null;
      try {
        job = await claimJob(db, this.id, config.leaseSeconds);
        if (failures > 0) log.info('the database answers again');
        failures = 0;
      } catch (err) {
        // The database is away (restarting, network): say so once, then back off quietly.
        if (failures++ === 0) log.error({ err }, 'claiming a job failed; retrying with backoff');
        await this.wakeup.sleep(Math.min(5000, config.pollMs * 2 ** failures), this.stopping.signal);
        continue;
      }
      if (!job) {
        await this.wakeup.sleep(config.pollMs, this.stopping.signal);
        continue;
      }
      const abort = new AbortController();
      const running: Running = { job, abort, done: Promise.resolve() };
      running.done = this.process(job, abort);
      this.running.set(job.jobId, running);
      await running.done;
      this.running.delete(job.jobId);
    }
  }

  /** Processes one claimed job; never throws. */
  private async process(job: ClaimedJob, abort: AbortController): Promise<void> {
    const { db, store, config } = this.deps;
    const log = this.deps.log.child({ videoId: job.videoId, jobId: job.jobId, attempt: job.attempt });
    const startedAt = Date.now();
    log.info(
      { reclaimed: job.reclaimed },
      job.reclaimed ? 'job reclaimed after an expired lease' : 'job claimed',
    );

    let leaseLost = false;
    const beat = setInterval(async () => {
      try {
        if (!(await heartbeat(db, job, config.leaseSeconds))) {
          leaseLost = true;
          log.warn('lease lost: aborting this attempt');
          abort.abort(errors.leaseLost());
        }
      } catch (err) {
        log.warn({ err }, 'heartbeat failed; will try again');
      }
    }, config.heartbeatSeconds * 1000);

    const workDir = path.join(config.dataDir, 'work', `${job.videoId}-a${job.attempt}-${process.pid}`);
    const outputPrefix = keys.attemptPrefix(job.videoId, job.attempt);
    try {
      if (job.attempt > job.maxAttempts) {
        throw new ReelError(
          'REEL_TOO_MANY_ATTEMPTS',
          500,
          `Processing was interrupted ${job.maxAttempts} times (the worker stopped or crashed each time); giving up.`,
          true,
        );
      }
      await fsp.rm(workDir, { recursive: true, force: true });
      const outDir = path.join(workDir, 'out');
      await fsp.mkdir(outDir, { recursive: true });
      const input = await this.sourcePath(job, workDir);

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
        signal: abort.signal,
        onProgress: (fraction) => {
          const now = Date.now();
          if (now - lastReport < 500) return;
          lastReport = now;
          // Leave the last 2% for writing and publishing the outputs.
          void reportProgress(db, job, Math.min(0.98, fraction)).catch(() => undefined);
        },
      });
      abort.signal.throwIfAborted();
      if (result.warnings.length > 0)
        log.warn({ ffmpeg: result.warnings }, 'the source has damaged data; decoded past it');

      await recordAttemptPrefix(db, outputPrefix);
      await uploadDir(store, outDir, outputPrefix, abort.signal);
      abort.signal.throwIfAborted();

      const top = result.renditions[0]!;
      // A dropped connection must not waste the encode: try the (idempotent, fenced) commit again.
      const published = await withRetries(
        () =>
          publishJob(db, job, {
            outputPrefix,
            durationMs: result.source.durationMs,
            width: top.width,
            height: top.height,
            renditions: result.renditions,
          }),
        abort.signal,
      );
      if (!published) {
        leaseLost = true;
        throw errors.leaseLost();
      }
      const seconds = (Date.now() - startedAt) / 1000;
      this.deps.metrics?.observeTranscode(this.id, seconds);
      log.info({ seconds, renditions: result.renditions.map((r) => r.name) }, 'video ready');
    } catch (raw) {
      const err = isReelError(raw) ? raw : isReelError(abort.signal.reason) ? abort.signal.reason : raw;
      if (leaseLost || (isReelError(err) && err.code === 'REEL_LEASE_LOST')) {
        log.warn(
          { wastedSeconds: (Date.now() - startedAt) / 1000 },
          'attempt abandoned: lease lost, nothing published',
        );
        await recordStale(db, job, 'lease lost').catch(() => undefined);
        await store.deletePrefix(outputPrefix).catch(() => undefined);
        await forgetOrphan(db, outputPrefix).catch(() => undefined);
      } else if (abort.signal.aborted) {
        log.info('attempt aborted: worker stopping');
      } else {
        const noSpace = isNoSpaceError(raw);
        const e = noSpace
          ? errors.processingNoSpace(noSpace)
          : isReelError(err)
            ? err
            : errors.transcodeFailed(err instanceof Error ? err.message : String(err));
        // A full disk is the machine's trouble, not the video's: retry later without spending an attempt.
        const settle = noSpace
          ? requeueWithoutAttempt(db, job, e, config.noSpaceRetrySeconds)
          : failJob(db, job, e, config.retryBaseSeconds);
        const res = await settle.catch((dbErr) => {
          log.error(
            { err: dbErr },
            'recording the failure failed; the lease will expire and the job be retried',
          );
          const stale: FailureOutcome = { outcome: 'stale' };
          return stale;
        });
        log[res.outcome === 'retry' ? 'warn' : 'error'](
          { code: e.code, outcome: res.outcome, retryInSeconds: res.retryInSeconds },
          `job failed: ${e.message}`,
        );
      }
    } finally {
      clearInterval(beat);
      await fsp.rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * A path ffmpeg can read: the object itself on a filesystem store, else a download into the work dir
   * (after joining the parts of a tus upload that were stored but not yet joined).
   */
  private async sourcePath(job: ClaimedJob, workDir: string): Promise<string> {
    const { store } = this.deps;
    if (store.localPath) return store.localPath(job.sourceKey);
    if (store.multipart) await assembleUpload(this.deps.db, store, job.videoId);
    const dest = path.join(workDir, 'source');
    await pipeline(await store.get(job.sourceKey), createWriteStream(dest));
    return dest;
  }

  /** Removes the outputs of attempts that never published. */
  private async collectOrphans(): Promise<void> {
    const { db, store, config, log } = this.deps;
    try {
      for (const prefix of await collectableOrphans(db, config.leaseSeconds * 2)) {
        await store.deletePrefix(prefix);
        await forgetOrphan(db, prefix);
        log.info({ prefix }, 'removed outputs of an attempt that did not publish');
      }
    } catch (err) {
      log.warn({ err }, 'collecting orphaned outputs failed; will try again');
    }
  }
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

/** Work directories are named {video}-a{attempt}-{pid}: those of processes that died are removed. */
async function sweepDeadWorkDirs(dir: string, log: Logger): Promise<void> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(name.split('-').pop());
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await fsp.rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
    log.info({ dir: name }, 'removed the work directory of a worker that died');
  }
}

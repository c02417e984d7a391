/**
 * A lease on one claimed unit of work. It owns the fencing token, the heartbeat that keeps the lease, and
 * the lost signal: an AbortSignal that fires when a heartbeat finds the lease gone (expired and taken,
 * cancelled, deleted) or when the holder gives up (shutdown). Every fenced operation goes through the
 * lease, and after a loss is a no-op that answers "stale".
 *
 * `Lease` knows nothing of videos: what it renews and what its fenced operations write is given to it,
 * so the chunked transcoding that follows can lease many small tasks per video the same way. `JobLease`
 * is the lease on a transcoding job; its SQL stays in the queue module.
 */
import type { Logger } from 'pino';
import { errors, type ReelError } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { type ClaimedJob, type FailureOutcome, heartbeat, recordStale } from '../db/jobs.js';
import { type ClaimedTask, heartbeatTask } from '../db/tasks.js';
import { failJob, releaseJob, requeueWithoutAttempt } from './queue.js';
import {
  failTask,
  type PlannedVideo,
  type PublishOutcome,
  planVideo,
  publishTask,
  recordTaskStale,
  requeueTask,
} from './taskQueue.js';

/** The fencing token: the leased row and the attempt that holds it (each claim increments it). */
export interface LeaseToken {
  id: number;
  attempt: number;
}

export interface LeaseOptions {
  /** Extends the lease in the database; false means it is lost. */
  renew: () => Promise<boolean>;
  heartbeatSeconds: number;
  log: Logger;
}

export class Lease {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private isLost = false;

  constructor(
    readonly token: LeaseToken,
    private readonly opts: LeaseOptions,
  ) {}

  /** Aborted when the lease is lost or the holder gives up; pass it to everything the attempt runs. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The holder's logger (it names the leased work). */
  get log(): Logger {
    return this.opts.log;
  }

  /** True once the lease is known to be someone else's (a heartbeat or a fenced write found it gone). */
  get lost(): boolean {
    return this.isLost;
  }

  /** Starts the heartbeat. */
  keep(): this {
    const { renew, heartbeatSeconds, log } = this.opts;
    this.timer ??= setInterval(async () => {
      try {
        if (!(await renew())) {
          log.warn('lease lost: aborting this attempt');
          this.markLost();
        }
      } catch (err) {
        log.warn({ err }, 'heartbeat failed; will try again');
      }
    }, heartbeatSeconds * 1000);
    return this;
  }

  /** Stops the heartbeat (the attempt is over); the lease itself is settled by a fenced operation. */
  stopHeartbeat(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The lease is gone: abort with REEL_LEASE_LOST. */
  markLost(): void {
    this.isLost = true;
    this.stopHeartbeat();
    if (!this.controller.signal.aborted) this.controller.abort(errors.leaseLost());
  }

  /** The holder gives up (e.g. the worker stops): aborts the signal; the lease is still held. */
  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  /**
   * Runs a fenced write unless the lease is lost (then answers `stale`); a write that finds the lease
   * gone (answers `stale`) marks it lost.
   */
  async fenced<R>(write: () => Promise<R>, stale: R, isStale: (r: R) => boolean): Promise<R> {
    if (this.isLost) return stale;
    const r = await write();
    if (isStale(r)) this.markLost();
    return r;
  }
}

const STALE: FailureOutcome = { outcome: 'stale' };
const isStaleOutcome = (r: FailureOutcome) => r.outcome === 'stale';

/** The lease on a claimed transcoding job, with the job's fenced operations. */
export class JobLease extends Lease {
  constructor(
    private readonly db: Db,
    readonly job: ClaimedJob,
    opts: { leaseSeconds: number; heartbeatSeconds: number; log: Logger },
  ) {
    super(
      { id: job.jobId, attempt: job.attempt },
      {
        renew: () => heartbeat(db, job, opts.leaseSeconds),
        heartbeatSeconds: opts.heartbeatSeconds,
        log: opts.log,
      },
    );
  }

  /**
   * The fenced planning commit (taskQueue.ts planVideo): the tasks leased to this worker, or null (and
   * nothing planned) when the lease is lost.
   */
  plan(planned: PlannedVideo, leaseSeconds: number): Promise<ClaimedTask[] | null> {
    return this.fenced(
      () => planVideo(this.db, this.job, planned, leaseSeconds),
      null,
      (r) => r === null,
    );
  }

  /** Records a failed attempt: retry with backoff or give up (see failJob). */
  fail(err: ReelError, retryBaseSeconds: number): Promise<FailureOutcome> {
    return this.fenced(() => failJob(this.db, this.job, err, retryBaseSeconds), STALE, isStaleOutcome);
  }

  /** Requeues after `delaySeconds` without spending an attempt (see requeueWithoutAttempt). */
  requeue(err: ReelError, delaySeconds: number): Promise<FailureOutcome> {
    return this.fenced(
      () => requeueWithoutAttempt(this.db, this.job, err, delaySeconds),
      STALE,
      isStaleOutcome,
    );
  }

  /** Hands the job back at once (graceful shutdown); false when it was no longer held. */
  release(): Promise<boolean> {
    return this.fenced(
      () => releaseJob(this.db, this.job),
      false,
      (ok) => !ok,
    );
  }

  /** Records in the audit trail that this attempt lost its lease and published nothing. */
  recordStale(why: string): Promise<void> {
    return recordStale(this.db, this.job, why);
  }
}

const isStalePublish = (r: PublishOutcome) => r === 'stale';

/** The lease on a claimed task of a chunked video (a chunk or the audio), with its fenced operations. */
export class TaskLease extends Lease {
  constructor(
    private readonly db: Db,
    readonly task: ClaimedTask,
    opts: { leaseSeconds: number; heartbeatSeconds: number; log: Logger },
  ) {
    super(
      { id: task.taskId, attempt: task.attempt },
      {
        renew: () => heartbeatTask(db, task, opts.leaseSeconds),
        heartbeatSeconds: opts.heartbeatSeconds,
        log: opts.log,
      },
    );
  }

  /** Publishes files (and completes the task when `complete`); 'stale' (nothing published) when lost. */
  publish(pub: Parameters<typeof publishTask>[2]): Promise<PublishOutcome> {
    return this.fenced(() => publishTask(this.db, this.task, pub), 'stale', isStalePublish);
  }

  fail(err: ReelError, retryBaseSeconds: number): Promise<FailureOutcome> {
    return this.fenced(() => failTask(this.db, this.task, err, retryBaseSeconds), STALE, isStaleOutcome);
  }

  requeue(err: ReelError, delaySeconds: number): Promise<FailureOutcome> {
    return this.fenced(() => requeueTask(this.db, this.task, err, delaySeconds), STALE, isStaleOutcome);
  }

  /** Hands the task back at once (graceful shutdown); false when it was no longer held. */
  async release(): Promise<boolean> {
    const r = await this.fenced(() => requeueTask(this.db, this.task, null, 0), STALE, isStaleOutcome);
    return r.outcome !== 'stale';
  }

  recordStale(why: string): Promise<void> {
    return recordTaskStale(this.db, this.task, why);
  }
}

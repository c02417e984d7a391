/**
 * The worker role: claims jobs through the lease queue and runs one attempt per claim (attempt.ts) under
 * a JobLease (lease.ts) that keeps the lease alive and aborts the attempt at once when it is lost; the
 * housekeeping (housekeeping.ts) runs beside the claim loops. Stopping hands running jobs back.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { QueueConfig, StorageConfig, TranscodeConfig } from '../config.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { type ClaimedJob, claimJob } from '../db/jobs.js';
import type { Metrics } from '../metrics.js';
import { runAttempt } from './attempt.js';
import { collectOrphans, sweepDeadWorkDirs } from './housekeeping.js';
import { JobLease } from './lease.js';
import { Wakeup } from './wakeup.js';

export type WorkerConfig = StorageConfig & QueueConfig & TranscodeConfig;

export interface WorkerDeps {
  db: Db;
  store: ObjectStore;
  config: WorkerConfig;
  log: Logger;
  workerId?: string;
  metrics?: Metrics;
}

interface Running {
  lease: JobLease;
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
    this.gcTimer = setInterval(() => void collectOrphans(this.deps, config.leaseSeconds * 2), gcEvery);
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
      for (const r of this.running.values()) r.lease.abort(new Error('worker stopping'));
      await Promise.all(
        [...this.running.values()].map(async ({ lease, done }) => {
          await done;
          if (await lease.release().catch(() => false)) {
            const { videoId, jobId } = lease.job;
            this.deps.log.info({ videoId, jobId }, 'job handed back on shutdown');
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
      const lease = new JobLease(db, job, {
        leaseSeconds: config.leaseSeconds,
        heartbeatSeconds: config.heartbeatSeconds,
        log: log.child({ videoId: job.videoId, jobId: job.jobId, attempt: job.attempt }),
      });
      const running: Running = { lease, done: this.process(lease) };
      this.running.set(job.jobId, running);
      await running.done;
      this.running.delete(job.jobId);
    }
  }

  /** Processes one claimed job under its lease; never throws. */
  private async process(lease: JobLease): Promise<void> {
    const job = lease.job;
    const log = lease.log;
    log.info(
      { reclaimed: job.reclaimed },
      job.reclaimed ? 'job reclaimed after an expired lease' : 'job claimed',
    );
    lease.keep();
    await runAttempt({ ...this.deps, workerId: this.id }, lease, log);
  }
}

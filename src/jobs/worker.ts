/**
 * The worker role: claims work through the lease queue, in fair order: a video's planning step (its job,
 * planAttempt.ts) first, then tasks (a chunk or the audio, taskAttempt.ts), the ones a video needs before
 * it can play before the rest. Each claim runs under a lease (lease.ts) that keeps it alive and aborts the
 * attempt at once when it is lost. A planning attempt goes straight on to the first chunk and the audio,
 * which it leased in its own commit. `concurrency` claim loops run side by side; housekeeping
 * (housekeeping.ts) runs beside them. Stopping hands running work back.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type {
  IntegrationConfig,
  QueueConfig,
  StorageConfig,
  TranscodeConfig,
  UploadsConfig,
} from '../config.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { claimJob } from '../db/jobs.js';
import { type ClaimedTask, claimTask } from '../db/tasks.js';
import type { Metrics } from '../metrics.js';
import { collectOrphans, sweepDeadWorkDirs } from './housekeeping.js';
import { JobLease, TaskLease } from './lease.js';
import { runPlanAttempt } from './planAttempt.js';
import { SourceCache } from './sourceCache.js';
import { runTaskAttempt } from './taskAttempt.js';
import { Wakeup } from './wakeup.js';

export type WorkerConfig = StorageConfig &
  QueueConfig &
  TranscodeConfig &
  IntegrationConfig &
  Pick<UploadsConfig, 'maxUploadBytes'>;

export interface WorkerDeps {
  db: Db;
  store: ObjectStore;
  config: WorkerConfig;
  log: Logger;
  workerId?: string;
  metrics?: Metrics;
}

interface Running {
  lease: JobLease | TaskLease;
  done: Promise<unknown>;
}

export class Worker {
  readonly id: string;
  readonly wakeup = new Wakeup();
  private readonly stopping = new AbortController();
  private readonly running = new Set<Running>();
  private readonly sources: SourceCache;
  /** Audio tasks started by a planning attempt, running beside the claim loops. */
  private readonly beside = new Set<Promise<void>>();
  private loops: Promise<void>[] = [];
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: WorkerDeps) {
    this.id = deps.workerId ?? `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
    this.sources = new SourceCache(deps, path.join(deps.config.dataDir, 'cache'));
  }

  start(): void {
    const { config, log } = this.deps;
    log.info({ workerId: this.id, concurrency: config.concurrency }, 'worker started');
    void sweepDeadWorkDirs(path.join(config.dataDir, 'work'), log);
    void sweepDeadWorkDirs(this.sources.dir, log);
    for (let i = 0; i < config.concurrency; i++) this.loops.push(this.loop());
    const gcEvery = Math.max(1000, config.leaseSeconds * 1000);
    this.gcTimer = setInterval(() => {
      void collectOrphans(this.deps, config.leaseSeconds * 2);
      void this.sources.sweep();
    }, gcEvery);
    this.gcTimer.unref();
  }

  /** Called when work was queued in this process (and by LISTEN/NOTIFY on Postgres). */
  notify(): void {
    this.wakeup.wake();
  }

  /**
   * Stops claiming; running work gets `graceMs` to finish, then is aborted and handed back at once so
   * another worker can start it without waiting for the lease to expire.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping.abort();
    clearInterval(this.gcTimer);
    const all = Promise.all([...this.running].map((r) => r.done));
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut) {
      for (const r of this.running) r.lease.abort(new Error('worker stopping'));
      await Promise.all(
        [...this.running].map(async ({ lease, done }) => {
          await done;
          if (await lease.release().catch(() => false))
            this.deps.log.info({ lease: lease.token }, 'work handed back on shutdown');
        }),
      );
    }
    await Promise.all(this.loops);
    await Promise.all(this.beside);
  }

  private async loop(): Promise<void> {
    const { db, config, log } = this.deps;
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      let claimed: { job: Awaited<ReturnType<typeof claimJob>>; task: ClaimedTask | null };
      try {
        const job = await claimJob(db, this.id, config.leaseSeconds);
        claimed = { job, task: job ? null : await claimTask(db, this.id, config.leaseSeconds) };
        if (failures > 0) log.info('the database answers again');
        failures = 0;
      } catch (err) {
        // The database is away (restarting, network): say so once, then back off quietly.
        if (failures++ === 0) log.error({ err }, 'claiming work failed; retrying with backoff');
        await this.wakeup.sleep(Math.min(5000, config.pollMs * 2 ** failures), this.stopping.signal);
        continue;
      }
      if (claimed.job) {
        const lease = new JobLease(
          db,
          claimed.job,
          this.leaseOptions(claimed.job.videoId, { jobId: claimed.job.jobId, attempt: claimed.job.attempt }),
        );
        lease.log.info(
          { reclaimed: claimed.job.reclaimed },
          claimed.job.reclaimed ? 'job reclaimed after an expired lease' : 'job claimed: planning',
        );
        const tasks = await this.track(
          lease,
          runPlanAttempt({ ...this.deps, sources: this.sources }, lease.keep(), lease.log),
        );
        // The first chunk and the audio were leased in the planning commit. The audio (one light
        // thread for the whole file, publishing as it goes) runs beside this slot; the slot goes on with
        // the first chunk and then claims again.
        for (const t of tasks) {
          if (t.kind !== 'audio') continue;
          const audio = this.runTask(t);
          this.beside.add(audio);
          void audio.finally(() => this.beside.delete(audio));
        }
        await Promise.all(tasks.filter((t) => t.kind !== 'audio').map((t) => this.runTask(t)));
        if (tasks.length === 0) await this.sources.drop(claimed.job.videoId);
      } else if (claimed.task) {
        await this.runTask(claimed.task);
      } else {
        await this.wakeup.sleep(config.pollMs, this.stopping.signal);
      }
    }
  }

  private leaseOptions(videoId: string, ids: Record<string, number | string>) {
    const { config, log } = this.deps;
    return {
      leaseSeconds: config.leaseSeconds,
      heartbeatSeconds: config.heartbeatSeconds,
      log: log.child({ videoId, ...ids }),
    };
  }

  private async runTask(task: ClaimedTask): Promise<void> {
    const lease = new TaskLease(
      this.deps.db,
      task,
      this.leaseOptions(task.videoId, {
        taskId: task.taskId,
        kind: task.kind,
        chunk: task.chunk,
        attempt: task.attempt,
      }),
    );
    if (task.reclaimed) lease.log.info('task reclaimed after an expired lease');
    const outcome = await this.track(
      lease,
      runTaskAttempt({ ...this.deps, sources: this.sources, workerId: this.id }, lease.keep(), lease.log),
    );
    if (outcome === 'ready' || outcome === 'stale') await this.sources.drop(task.videoId);
  }

  private async track<T>(lease: JobLease | TaskLease, done: Promise<T>): Promise<T> {
    const r: Running = { lease, done };
    this.running.add(r);
    try {
      return await done;
    } finally {
      this.running.delete(r);
    }
  }
}

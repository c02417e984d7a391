/**
 * The jobs table and its companions (job_events, the audit trail; orphan_prefixes, outputs to collect):
 * every statement on them, and nothing else. A worker claims a job for a lease; each claim increments
 * `attempt`, which is the fencing token for everything the attempt does afterwards. Only the database
 * clock (now()) decides expiry. Every write below is guarded by `attempt = token AND state = 'running'`,
 * so a stale worker changes nothing.
 *
 * The claim also writes the video row (it becomes processing), on purpose in ONE statement, so that the
 * write happens only if the claim matched, atomically and in one round trip. A job is a video's planning
 * step: its commit (markJobPlanned) hands the work to tasks (db/tasks.ts). Transactions that span tables
 * are composed in jobs/queue.ts and jobs/taskQueue.ts from the statements here and in the other modules.
 */
import type { Queryable } from '../core/ports.js';
import { keys } from '../storage/keys.js';
import { liveTaskLeases } from './tasks.js';

/** The channel on which queueing a job is announced (LISTEN in jobs/listen.ts). */
export const JOBS_CHANNEL = 'reel_jobs';

/** The fencing token of a claimed job: the job and the attempt that holds it. */
export type JobToken = Pick<ClaimedJob, 'jobId' | 'attempt'>;

export interface ClaimedJob {
  workerId: string;
  jobId: number;
  videoId: string;
  attempt: number;
  maxAttempts: number;
  /** True when the job was taken over from a worker whose lease expired. */
  reclaimed: boolean;
  sourceKey: string;
}

export type JobEvent =
  | 'claimed'
  | 'reclaimed'
  | 'planned'
  | 'published'
  | 'ready'
  | 'retry'
  | 'failed'
  | 'released'
  | 'stale'
  | 'cancelled';

/** Appends to the audit trail (job_events). */
export async function recordEvent(
  db: Queryable,
  e: {
    jobId: number;
    videoId: string;
    attempt: number;
    event: JobEvent;
    workerId?: string | null;
    detail?: string;
    /** The task the event is about; absent for the job's own (planning) events. */
    taskId?: number;
  },
): Promise<void> {
  await db.query(
    'INSERT INTO job_events (job_id, video_id, attempt, event, worker_id, detail, task_id) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [e.jobId, e.videoId, e.attempt, e.event, e.workerId ?? null, e.detail ?? null, e.taskId ?? null],
  );
}

export async function claimJob(
  db: Queryable,
  workerId: string,
  leaseSeconds: number,
): Promise<ClaimedJob | null> {
  const rows = await db.query<{
    id: number;
    video_id: string;
    attempt: number;
    max_attempts: number;
    prev_state: string;
    source_key: string;
  }>(
    // One statement: the claim, the video's status and the audit event happen together or not at all.
    `WITH next AS (
       SELECT id, state AS prev_state FROM jobs
        WHERE (state = 'queued' AND run_after <= now())
           OR (state = 'running' AND lease_expires_at < now())
        ORDER BY run_after, id
        FOR UPDATE SKIP LOCKED
        LIMIT 1
     ), claimed AS (
       UPDATE jobs j
          SET state = 'running', attempt = j.attempt + 1, worker_id = $1,
              lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
         FROM next
        WHERE j.id = next.id
       RETURNING j.id, j.video_id, j.attempt, j.max_attempts, next.prev_state
     ), video AS (
       UPDATE videos v SET status = 'processing', progress = 0
         FROM claimed WHERE v.id = claimed.video_id
       RETURNING v.id, v.source_key
     ), event AS (
       INSERT INTO job_events (job_id, video_id, attempt, event, worker_id)
       SELECT id, video_id, attempt, CASE WHEN prev_state = 'running' THEN 'reclaimed' ELSE 'claimed' END, $1
         FROM claimed
     )
     SELECT c.id, c.video_id, c.attempt, c.max_attempts, c.prev_state, video.source_key
       FROM claimed c JOIN video ON video.id = c.video_id`,
    [workerId, leaseSeconds],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    workerId,
    jobId: Number(r.id),
    videoId: r.video_id,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    reclaimed: r.prev_state === 'running',
    sourceKey: r.source_key,
  };
}

/** Extends the lease. False means the lease is lost (expired and taken, cancelled, or deleted). */
export async function heartbeat(
  db: Queryable,
  job: Pick<ClaimedJob, 'jobId' | 'attempt'>,
  leaseSeconds: number,
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [job.jobId, job.attempt, leaseSeconds],
  );
  return rows.length > 0;
}

/** Records a prefix this attempt is about to write, so that it is collected if the attempt never publishes. */
export async function recordAttemptPrefix(db: Queryable, prefix: string): Promise<void> {
  await db.query('INSERT INTO orphan_prefixes (prefix) VALUES ($1) ON CONFLICT DO NOTHING', [prefix]);
}

/** The audit-trail fields of a claimed job's event. */
export const eventOf = (job: ClaimedJob) => ({
  jobId: job.jobId,
  videoId: job.videoId,
  attempt: job.attempt,
  workerId: job.workerId,
});

/** Records that an attempt lost its lease and published nothing (the lease is already someone else's). */
export async function recordStale(db: Queryable, job: ClaimedJob, why: string): Promise<void> {
  await recordEvent(db, { ...eventOf(job), event: 'stale', detail: why });
}

export interface FailureOutcome {
  /** 'retry': requeued with backoff; 'failed': given up; 'stale': this attempt no longer held the job. */
  outcome: 'retry' | 'failed' | 'stale';
  retryInSeconds?: number;
}

/** A new job for a queued video (same transaction as the video's change to queued). */
export async function insertJob(db: Queryable, job: { videoId: string; maxAttempts: number }): Promise<void> {
  await db.query(`INSERT INTO jobs (video_id, state, max_attempts) VALUES ($1, 'queued', $2)`, [
    job.videoId,
    job.maxAttempts,
  ]);
}

/** Wakes listening workers when the transaction commits. */
export async function notifyJobQueued(db: Queryable, videoId: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, videoId]);
}

/** Gives up the job after a failed attempt. False: this attempt no longer held it. */
export async function failAttempt(db: Queryable, job: JobToken, error: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE jobs SET state = 'failed', lease_expires_at = NULL, last_error = $3, updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [job.jobId, job.attempt, error],
  );
  return rows.length > 0;
}

/**
 * Queues the job again after a failed attempt, to run after `delaySeconds`; `uncounted` gives the attempt
 * back by raising max_attempts (the attempt number, the fencing token, only grows). False: this attempt
 * no longer held it.
 */
export async function requeueAttempt(
  db: Queryable,
  job: JobToken,
  opts: { error: string; delaySeconds: number; uncounted?: boolean },
): Promise<boolean> {
  const rows = await db.query(
    opts.uncounted
      ? `UPDATE jobs SET state = 'queued', lease_expires_at = NULL, last_error = $3, updated_at = now(),
                run_after = now() + make_interval(secs => $4), max_attempts = max_attempts + 1
          WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`
      : `UPDATE jobs SET state = 'queued', lease_expires_at = NULL, last_error = $3, updated_at = now(),
                run_after = now() + make_interval(secs => $4)
          WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [job.jobId, job.attempt, opts.error, opts.delaySeconds],
  );
  return rows.length > 0;
}

/** Hands the job back to be claimed at once. False: this attempt no longer held it. */
export async function releaseAttempt(db: Queryable, job: JobToken): Promise<boolean> {
  const rows = await db.query(
    `UPDATE jobs SET state = 'queued', lease_expires_at = NULL, run_after = now(), updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [job.jobId, job.attempt],
  );
  return rows.length > 0;
}

/** Queues a failed video's job again at once, with `maxAttempts` more attempts. */
export async function requeueFailedJob(db: Queryable, videoId: string, maxAttempts: number): Promise<void> {
  await db.query(
    `UPDATE jobs SET state = 'queued', run_after = now(), lease_expires_at = NULL,
            max_attempts = attempt + $2, updated_at = now()
      WHERE video_id = $1`,
    [videoId, maxAttempts],
  );
}

/**
 * Embedded mode only: the data directory is locked to this process, so a job still marked running was
 * left by a previous run of this same process that died. Its lease is expired now, by the database clock.
 */
export async function expireLeasesOfDeadProcess(db: Queryable): Promise<number> {
  const rows = await db.query(
    `UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE state = 'running' RETURNING id`,
  );
  const tasks = await db.query(
    `UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE state = 'running' RETURNING id`,
  );
  return rows.length + tasks.length;
}

/** Prefixes of attempts that did not publish and are no longer being written by a live lease. */
export async function collectableOrphans(db: Queryable, graceSeconds: number): Promise<string[]> {
  const old = await db.query<{ prefix: string }>(
    `SELECT prefix FROM orphan_prefixes
      WHERE collected_at IS NULL AND created_at < now() - make_interval(secs => $1)`,
    [graceSeconds],
  );
  if (old.length === 0) return [];
  // Read after the prefixes: a prefix is recorded by an attempt that already holds its lease.
  const live = await db.query<{ video_id: string; attempt: number }>(
    `SELECT video_id, attempt FROM jobs WHERE state = 'running' AND lease_expires_at >= now()`,
  );
  const tasks = await liveTaskLeases(db);
  const written = new Set([
    ...live.map((j) => keys.attemptPrefix(j.video_id, j.attempt)),
    ...tasks.map((t) => keys.taskPrefix(t.videoId, t.taskId, t.attempt)),
  ]);
  return old.map((r) => r.prefix).filter((p) => !written.has(p));
}

export async function forgetOrphan(db: Queryable, prefix: string): Promise<void> {
  await db.query('DELETE FROM orphan_prefixes WHERE prefix = $1', [prefix]);
}

/**
 * The collector takes an orphan prefix before it deletes its objects. True: it is the collector's to
 * delete. False: the attempt published it first (it is no longer on the list), or another collector has it
 * (one that took it more than `graceSeconds` ago is presumed dead).
 */
export async function claimOrphan(db: Queryable, prefix: string, graceSeconds: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE orphan_prefixes SET collecting_at = now()
      WHERE prefix = $1 AND collected_at IS NULL
        AND (collecting_at IS NULL OR collecting_at < now() - make_interval(secs => $2))
      RETURNING prefix`,
    [prefix, graceSeconds],
  );
  return rows.length > 0;
}

/**
 * The collector deleted a prefix's objects: the row stays a day as a tombstone, so that an attempt that
 * wakes up after its lease lapsed still finds it collected and publishes nothing.
 */
export async function markOrphanCollected(db: Queryable, prefix: string): Promise<void> {
  await db.query('UPDATE orphan_prefixes SET collected_at = now() WHERE prefix = $1', [prefix]);
  await db.query(`DELETE FROM orphan_prefixes WHERE collected_at < now() - interval '1 day'`);
}

/** The collector could not delete a prefix it took: it goes back on the list. */
export async function releaseOrphan(db: Queryable, prefix: string): Promise<void> {
  await db.query('UPDATE orphan_prefixes SET collecting_at = NULL WHERE prefix = $1', [prefix]);
}

/**
 * A publication takes its attempt's prefix off the list (in its fenced commit). False: the collector has
 * taken it (the attempt's lease had lapsed unseen) and its objects are going: publish nothing.
 */
export async function publishPrefix(db: Queryable, prefix: string): Promise<boolean> {
  const rows = await db.query<{ collecting_at: Date | string | null }>(
    'SELECT collecting_at FROM orphan_prefixes WHERE prefix = $1 FOR UPDATE',
    [prefix],
  );
  if (rows[0] && rows[0].collecting_at !== null) return false;
  await forgetOrphan(db, prefix);
  return true;
}

/** Jobs by state (for metrics). */
export async function countJobsByState(db: Queryable): Promise<{ state: string; n: number }[]> {
  return db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM jobs GROUP BY state');
}

/** Live leases per worker (for metrics). */
export async function countLiveLeasesByWorker(db: Queryable): Promise<{ workerId: string; n: number }[]> {
  const rows = await db.query<{ worker_id: string; n: number }>(
    `SELECT worker_id, count(*)::int AS n FROM (
       SELECT worker_id FROM jobs WHERE state = 'running' AND lease_expires_at >= now()
       UNION ALL
       SELECT worker_id FROM tasks WHERE state = 'running' AND lease_expires_at >= now()
     ) live GROUP BY worker_id`,
  );
  return rows.map((r) => ({ workerId: r.worker_id, n: r.n }));
}

/** The audit trail's events per worker (for metrics). */
export async function countEventsByWorker(
  db: Queryable,
): Promise<{ event: string; workerId: string | null; n: number }[]> {
  const rows = await db.query<{ event: string; worker_id: string | null; n: number }>(
    'SELECT event, worker_id, count(*)::int AS n FROM job_events GROUP BY event, worker_id',
  );
  return rows.map((r) => ({ event: r.event, workerId: r.worker_id, n: r.n }));
}

/**
 * The planning attempt's commit (fenced): the job becomes `planned`, its work now in tasks (db/tasks.ts).
 * False: this attempt no longer held it.
 */
export async function markJobPlanned(db: Queryable, job: JobToken): Promise<boolean> {
  const rows = await db.query(
    `UPDATE jobs SET state = 'planned', lease_expires_at = NULL, last_error = NULL, updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [job.jobId, job.attempt],
  );
  return rows.length > 0;
}

/** A planned video's job once its tasks are settled: done (every task published) or failed. */
export async function settlePlannedJob(
  db: Queryable,
  videoId: string,
  state: 'done' | 'failed',
  error: string | null = null,
): Promise<void> {
  await db.query(
    `UPDATE jobs SET state = $2, last_error = $3, updated_at = now() WHERE video_id = $1 AND state = 'planned'`,
    [videoId, state, error],
  );
}

/** A failed planned video goes back to `planned` for a retry of its unfinished tasks. */
export async function replanFailedJob(db: Queryable, videoId: string): Promise<void> {
  await db.query(
    `UPDATE jobs SET state = 'planned', last_error = NULL, updated_at = now() WHERE video_id = $1`,
    [videoId],
  );
}

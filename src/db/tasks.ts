/**
 * The tasks table: a chunked video's units of work (one per video chunk, one for the audio), each leased,
 * heartbeated and fenced exactly like a job (db/jobs.ts): every claim increments `attempt`, the fencing
 * token, and every write below is guarded by `attempt = token AND state = 'running'`, so a stale worker
 * changes nothing. What a task publishes goes into `outputs` in the same transaction as its commit.
 *
 * Claim order is fair: rank 0 (what a video needs before it can play: the first chunk and the audio)
 * before rank 1 (every later chunk), then oldest first; so a long upload's later chunks never delay a
 * short one's first frame. The planning step of a video (its job) is claimed before any task.
 */
import type { Queryable } from '../core/ports.js';

/** What a task encodes: the media plan and, for a video chunk, the chunk (stored as JSON). */
export interface TaskSpec {
  /** The media plan (media/ladder.ts MediaPlan), as planned once for the whole video. */
  plan: unknown;
  /** The chunk (media/chunkPlan.ts ChunkSpec); absent for the audio task. */
  chunk?: unknown;
  /** The finish task's work (jobs/finishTask.ts FinishSpec). */
  finish?: unknown;
  /** The source's container, as the probe found it. */
  demuxer: string;
  durationMs: number;
  /** The video stream's own duration, when known: the last chunk must reach most of it. */
  videoDurationMs?: number | undefined;
}

/**
 * video: a chunk of every rung; audio: one audio track (chunk = the track's index); finish: what needs
 * every segment published (MP4 downloads, captions from the source), claimable only once every other
 * task of its video is done.
 */
export type TaskKind = 'video' | 'audio' | 'finish';

export interface ClaimedTask {
  workerId: string;
  taskId: number;
  jobId: number;
  videoId: string;
  kind: TaskKind;
  chunk: number;
  spec: TaskSpec;
  attempt: number;
  maxAttempts: number;
  reclaimed: boolean;
  sourceKey: string;
}

/** The fencing token of a claimed task. */
export type TaskToken = Pick<ClaimedTask, 'taskId' | 'attempt'>;

interface TaskRow {
  id: number | string;
  job_id: number | string;
  video_id: string;
  kind: TaskKind;
  chunk: number;
  spec: TaskSpec | string;
  attempt: number;
  max_attempts: number;
  prev_state: string;
  source_key: string;
}

function toClaimed(workerId: string, r: TaskRow): ClaimedTask {
  return {
    workerId,
    taskId: Number(r.id),
    jobId: Number(r.job_id),
    videoId: r.video_id,
    kind: r.kind,
    chunk: r.chunk,
    spec: typeof r.spec === 'string' ? (JSON.parse(r.spec) as TaskSpec) : r.spec,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    reclaimed: r.prev_state === 'running',
    sourceKey: r.source_key,
  };
}

/** A task to create when a video is planned. */
export interface NewTask {
  kind: TaskKind;
  chunk: number;
  rank: number;
  spec: TaskSpec;
  /** Claimed at once by the planning worker (the first chunk and the audio), or queued. */
  claim: boolean;
}

/**
 * Inserts a video's tasks (the planning transaction, after its fenced update of the job); the ones marked
 * `claim` are leased at once to `workerId` (attempt 1) and returned, so the planner goes straight on to
 * the first chunk without a round trip through the queue.
 */
export async function insertTasks(
  db: Queryable,
  v: { videoId: string; jobId: number; sourceKey: string; maxAttempts: number },
  tasks: NewTask[],
  workerId: string,
  leaseSeconds: number,
): Promise<ClaimedTask[]> {
  const claimed: ClaimedTask[] = [];
  for (const t of tasks) {
    const rows = await db.query<{ id: number | string; attempt: number }>(
      t.claim
        ? `INSERT INTO tasks (video_id, kind, chunk, spec, rank, state, attempt, max_attempts, worker_id, lease_expires_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, 'running', 1, $6, $7, now() + make_interval(secs => $8))
           RETURNING id, attempt`
        : `INSERT INTO tasks (video_id, kind, chunk, spec, rank, state, max_attempts)
           VALUES ($1, $2, $3, $4::jsonb, $5, 'queued', $6) RETURNING id, attempt`,
      t.claim
        ? [v.videoId, t.kind, t.chunk, JSON.stringify(t.spec), t.rank, v.maxAttempts, workerId, leaseSeconds]
        : [v.videoId, t.kind, t.chunk, JSON.stringify(t.spec), t.rank, v.maxAttempts],
    );
    const row = rows[0]!;
    if (!t.claim) continue;
    await db.query(
      `INSERT INTO job_events (job_id, video_id, attempt, event, worker_id, task_id)
       VALUES ($1, $2, 1, 'claimed', $3, $4)`,
      [v.jobId, v.videoId, workerId, row.id],
    );
    claimed.push({
      workerId,
      taskId: Number(row.id),
      jobId: v.jobId,
      videoId: v.videoId,
      kind: t.kind,
      chunk: t.chunk,
      spec: t.spec,
      attempt: row.attempt,
      maxAttempts: v.maxAttempts,
      reclaimed: false,
      sourceKey: v.sourceKey,
    });
  }
  return claimed;
}

/** Claims the next task in fair order (see the module comment), or null. One statement. */
export async function claimTask(
  db: Queryable,
  workerId: string,
  leaseSeconds: number,
): Promise<ClaimedTask | null> {
  const rows = await db.query<TaskRow>(
    `WITH next AS (
       SELECT id, state AS prev_state FROM tasks
        WHERE ((state = 'queued' AND run_after <= now())
           OR (state = 'running' AND lease_expires_at < now()))
          AND (kind <> 'finish' OR NOT EXISTS (
                SELECT 1 FROM tasks o
                 WHERE o.video_id = tasks.video_id AND o.kind <> 'finish' AND o.state <> 'done'))
        ORDER BY rank, run_after, id
        FOR UPDATE SKIP LOCKED
        LIMIT 1
     ), claimed AS (
       UPDATE tasks t
          SET state = 'running', attempt = t.attempt + 1, worker_id = $1,
              lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
         FROM next
        WHERE t.id = next.id
       RETURNING t.id, t.video_id, t.kind, t.chunk, t.spec, t.attempt, t.max_attempts, next.prev_state
     ), job AS (
       UPDATE jobs j SET updated_at = now() FROM claimed WHERE j.video_id = claimed.video_id
       RETURNING j.id, j.video_id
     ), video AS (
       -- A finish task queued for a video that is already ready (downloads asked for later) keeps it ready.
       UPDATE videos v SET status = CASE WHEN v.status = 'ready' THEN v.status ELSE 'processing' END
         FROM claimed WHERE v.id = claimed.video_id
       RETURNING v.id, v.source_key
     ), event AS (
       INSERT INTO job_events (job_id, video_id, attempt, event, worker_id, task_id)
       SELECT job.id, c.video_id, c.attempt,
              CASE WHEN c.prev_state = 'running' THEN 'reclaimed' ELSE 'claimed' END, $1, c.id
         FROM claimed c JOIN job ON job.video_id = c.video_id
     )
     SELECT c.*, job.id AS job_id, video.source_key
       FROM claimed c JOIN job ON job.video_id = c.video_id JOIN video ON video.id = c.video_id`,
    [workerId, leaseSeconds],
  );
  const r = rows[0];
  return r ? toClaimed(workerId, r) : null;
}

/** Extends the task's lease. False: the lease is lost (expired and taken, cancelled, or deleted). */
export async function heartbeatTask(db: Queryable, t: TaskToken, leaseSeconds: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE tasks SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [t.taskId, t.attempt, leaseSeconds],
  );
  return rows.length > 0;
}

/** Whether this attempt still holds the task (the fence of every write in a publishing transaction). */
export async function holdsTask(db: Queryable, t: TaskToken): Promise<boolean> {
  const rows = await db.query(
    `SELECT id FROM tasks WHERE id = $1 AND attempt = $2 AND state = 'running' FOR UPDATE`,
    [t.taskId, t.attempt],
  );
  return rows.length > 0;
}

/**
 * Takes the video's job row lock for the rest of the transaction (and marks the change for the live
 * feed): the commits of one video's tasks are serialised, so exactly one of them sees the last task done.
 */
export async function lockVideoWork(db: Queryable, videoId: string): Promise<boolean> {
  const rows = await db.query(`UPDATE jobs SET updated_at = now() WHERE video_id = $1 RETURNING id`, [
    videoId,
  ]);
  return rows.length > 0;
}

/** Marks the task done (fenced). False: this attempt no longer held it. */
export async function completeTask(db: Queryable, t: TaskToken): Promise<boolean> {
  const rows = await db.query(
    `UPDATE tasks SET state = 'done', lease_expires_at = NULL, last_error = NULL, updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [t.taskId, t.attempt],
  );
  return rows.length > 0;
}

/** Share of a video's tasks that are done (for `progress`). */
export async function taskProgress(db: Queryable, videoId: string): Promise<number> {
  const rows = await db.query<{ done: number; total: number }>(
    `SELECT count(*) FILTER (WHERE state = 'done')::int AS done, count(*)::int AS total
       FROM tasks WHERE video_id = $1`,
    [videoId],
  );
  const r = rows[0];
  return r && r.total > 0 ? r.done / r.total : 0;
}

/** How many of the video's tasks are not done yet. */
export async function remainingTasks(db: Queryable, videoId: string): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tasks WHERE video_id = $1 AND state <> 'done'`,
    [videoId],
  );
  return rows[0]?.n ?? 0;
}

/** Gives up the task (fenced). False: this attempt no longer held it. */
export async function failTaskAttempt(db: Queryable, t: TaskToken, error: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE tasks SET state = 'failed', lease_expires_at = NULL, last_error = $3, updated_at = now()
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [t.taskId, t.attempt, error],
  );
  return rows.length > 0;
}

/** Queues the task again after `delaySeconds` (fenced); `uncounted` gives the attempt back. */
export async function requeueTaskAttempt(
  db: Queryable,
  t: TaskToken,
  opts: { error: string | null; delaySeconds: number; uncounted?: boolean },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE tasks SET state = 'queued', lease_expires_at = NULL, last_error = COALESCE($3, last_error),
            run_after = now() + make_interval(secs => $4), updated_at = now(),
            max_attempts = max_attempts + $5
      WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id`,
    [t.taskId, t.attempt, opts.error, opts.delaySeconds, opts.uncounted ? 1 : 0],
  );
  return rows.length > 0;
}

/** Cancels every unfinished task of a video (it failed): running ones find their lease gone. */
export async function cancelVideoTasks(db: Queryable, videoId: string): Promise<number> {
  const rows = await db.query(
    `UPDATE tasks SET state = 'cancelled', lease_expires_at = NULL, updated_at = now()
      WHERE video_id = $1 AND state IN ('queued', 'running') RETURNING id`,
    [videoId],
  );
  return rows.length;
}

/**
 * Queues again what did not finish of a failed video (retry): failed and cancelled tasks, with
 * `maxAttempts` more attempts each; published tasks stay published. Returns how many were queued.
 */
export async function requeueUnfinishedTasks(
  db: Queryable,
  videoId: string,
  maxAttempts: number,
): Promise<number> {
  const rows = await db.query(
    `UPDATE tasks SET state = 'queued', run_after = now(), lease_expires_at = NULL,
            max_attempts = attempt + $2, updated_at = now()
      WHERE video_id = $1 AND state IN ('failed', 'cancelled') RETURNING id`,
    [videoId, maxAttempts],
  );
  return rows.length;
}

/** Whether the video was planned into tasks (a retry then re-runs only what failed). */
export async function hasTasks(db: Queryable, videoId: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM tasks WHERE video_id = $1 LIMIT 1', [videoId]);
  return rows.length > 0;
}

/** Prefixes (videos/{id}/t{task}-a{attempt}/) of the tasks being written under a live lease. */
export async function liveTaskLeases(
  db: Queryable,
): Promise<{ videoId: string; taskId: number; attempt: number }[]> {
  const rows = await db.query<{ video_id: string; id: number | string; attempt: number }>(
    `SELECT video_id, id, attempt FROM tasks WHERE state = 'running' AND lease_expires_at >= now()`,
  );
  return rows.map((r) => ({ videoId: r.video_id, taskId: Number(r.id), attempt: r.attempt }));
}

/** Tasks by state (for metrics). */
export async function countTasksByState(db: Queryable): Promise<{ state: string; n: number }[]> {
  return db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM tasks GROUP BY state');
}

/**
 * Makes sure a finish task with `mp4` will run for a planned video whose downloads were asked for later
 * (PATCH mp4: true; the caller sets videos.mp4 first, in the same transaction): a queued finish task gets
 * `mp4` in its spec; otherwise a new finish task (the next chunk number, no source subtitles to extract:
 * the first one did that) is queued after every other task, as a planned finish task is. A ready video
 * stays ready while it runs (claimTask). 'none': the video has no tasks yet, and its planning will read
 * videos.mp4; 'pending': a finish task with mp4 is already queued or running.
 */
export async function queueDownloadsTask(
  db: Queryable,
  videoId: string,
  maxAttempts: number,
): Promise<'none' | 'pending' | 'queued'> {
  const pending = await db.query<{ state: string }>(
    `SELECT state FROM tasks WHERE video_id = $1 AND kind = 'finish' AND state IN ('queued', 'running')
        AND (spec->'finish'->>'mp4')::boolean FOR UPDATE`,
    [videoId],
  );
  if (pending.length > 0) return 'pending';
  const queued = await db.query(
    `UPDATE tasks SET spec = jsonb_set(spec, '{finish,mp4}', 'true'::jsonb), updated_at = now()
      WHERE id = (SELECT id FROM tasks WHERE video_id = $1 AND kind = 'finish' AND state = 'queued'
                   ORDER BY chunk LIMIT 1)
      RETURNING id`,
    [videoId],
  );
  if (queued.length > 0) return 'queued';
  // Any task's spec holds the plan and the source's facts; the finish task needs nothing else.
  const inserted = await db.query(
    `INSERT INTO tasks (video_id, kind, chunk, spec, rank, state, max_attempts)
     SELECT $1, 'finish', COALESCE((SELECT max(chunk) + 1 FROM tasks WHERE video_id = $1 AND kind = 'finish'), 0),
            jsonb_build_object('plan', spec->'plan', 'demuxer', spec->'demuxer', 'durationMs', spec->'durationMs',
                               'finish', jsonb_build_object('mp4', true, 'subtitleStreams', '[]'::jsonb)),
            1, 'queued', $2
       FROM tasks WHERE video_id = $1 ORDER BY id LIMIT 1
     RETURNING id`,
    [videoId, maxAttempts],
  );
  return inserted.length > 0 ? 'queued' : 'none';
}

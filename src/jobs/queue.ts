/**
 * The lease queue's operations that span tables, each one transaction composed from the owners'
 * statements: the jobs table's (db/jobs.ts) and the videos table's (db/videos.ts). Every fenced write is
 * guarded by `attempt = token AND state = 'running'`, so a stale worker changes nothing. The operations
 * that are one statement (claim, heartbeat, publish, progress, orphan prefixes) are in db/jobs.ts.
 */
import type { Db } from '../core/ports.js';
import {
  type ClaimedJob,
  eventOf,
  type FailureOutcome,
  failAttempt,
  notifyJobQueued,
  recordEvent,
  releaseAttempt,
  replanFailedJob,
  requeueAttempt,
  requeueFailedJob,
} from '../db/jobs.js';
import { hasTasks, requeueUnfinishedTasks } from '../db/tasks.js';
import { markVideoFailed, markVideoQueued, requeueFailedVideo, type VideoRow } from '../db/videos.js';

/**
 * Records a failed attempt: requeue with exponential backoff, or give up when the error is permanent
 * or the attempts are spent. Fenced like the commit.
 */
export async function failJob(
  db: Db,
  job: ClaimedJob,
  err: { message: string; code: string; permanent: boolean },
  retryBaseSeconds: number,
): Promise<FailureOutcome> {
  return db.transaction(async (tx) => {
    const giveUp = err.permanent || job.attempt >= job.maxAttempts;
    const delay = retryBaseSeconds * 2 ** (job.attempt - 1);
    const held = giveUp
      ? await failAttempt(tx, job, err.message)
      : await requeueAttempt(tx, job, { error: err.message, delaySeconds: delay });
    if (!held) return { outcome: 'stale' };
    await recordEvent(tx, { ...eventOf(job), event: giveUp ? 'failed' : 'retry', detail: err.message });
    if (giveUp) {
      await markVideoFailed(tx, job.videoId, err);
      return { outcome: 'failed' };
    }
    await markVideoQueued(tx, job.videoId);
    return { outcome: 'retry', retryInSeconds: delay };
  });
}

/**
 * Requeues a job whose attempt failed for want of disk space (ENOSPC), after `delaySeconds`, WITHOUT
 * spending an attempt: a full disk says nothing about the video. The attempt number is the fencing token
 * and must only grow, so it is not taken back; max_attempts grows by one instead. Fenced like the commit.
 */
export async function requeueWithoutAttempt(
  db: Db,
  job: ClaimedJob,
  err: { message: string },
  delaySeconds: number,
): Promise<FailureOutcome> {
  return db.transaction(async (tx) => {
    const held = await requeueAttempt(tx, job, { error: err.message, delaySeconds, uncounted: true });
    if (!held) return { outcome: 'stale' };
    await recordEvent(tx, { ...eventOf(job), event: 'retry', detail: `not counted: ${err.message}` });
    await markVideoQueued(tx, job.videoId);
    return { outcome: 'retry', retryInSeconds: delaySeconds };
  });
}

/** Gives the job back at once (graceful shutdown), so another worker starts it without waiting. */
export async function releaseJob(db: Db, job: ClaimedJob): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await releaseAttempt(tx, job))) return false;
    await markVideoQueued(tx, job.videoId);
    await recordEvent(tx, { ...eventOf(job), event: 'released' });
    await notifyJobQueued(tx, job.videoId);
    return true;
  });
}

/** Requeues a failed video's job (POST /v1/videos/{id}/retry). */
export async function retryVideo(db: Db, videoId: string, maxAttempts: number): Promise<VideoRow | null> {
  return db.transaction(async (tx) => {
    // The row as requeued: a worker woken by the notification may claim it before the caller reads again.
    const video = await requeueFailedVideo(tx, videoId);
    if (!video) return null;
    // A planned (chunked) video re-runs only what did not finish; its published chunks stay.
    if (await hasTasks(tx, videoId)) {
      await requeueUnfinishedTasks(tx, videoId, maxAttempts);
      await replanFailedJob(tx, videoId);
    } else await requeueFailedJob(tx, videoId, maxAttempts);
    await notifyJobQueued(tx, videoId);
    return video;
  });
}

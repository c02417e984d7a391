/**
 * The chunked pipeline's transactions that span tables, composed from the owners' statements (db/jobs.ts,
 * db/tasks.ts, db/outputs.ts, db/videos.ts). Each is fenced: it changes anything only while the attempt
 * holds its lease (`attempt = token AND state = 'running'`), so a stale worker changes nothing.
 *
 * - planVideo: the planning attempt's commit; the job becomes `planned`, the tasks are created and the
 *   first chunk and the audio leased at once to the planner.
 * - publishTask: a task's files become published (rows in `outputs`); the video becomes playable when
 *   every rendition has its first segment, and ready (with measured bit rates) when the last task is in.
 *   The commits of one video are serialised on its job row, so exactly one of them finds the last task.
 * - failTask / requeueTask / releaseTask: a failed attempt is retried with backoff or fails the video
 *   (and cancels its other tasks); a full disk or a shutdown hands the task back without spending it.
 */
import type { ReelError } from '../core/errors.js';
import type { Db, Queryable } from '../core/ports.js';
import type { RenditionInfo } from '../core/types.js';
import { insertCaption, type NewCaption } from '../db/captions.js';
import type { FailureOutcome } from '../db/jobs.js';
import {
  type ClaimedJob,
  eventOf,
  markJobPlanned,
  notifyJobQueued,
  publishPrefix,
  recordEvent,
  settlePlannedJob,
} from '../db/jobs.js';
import { insertOutputs, listSegments, type PublishedFile, renditionsStarted } from '../db/outputs.js';
import {
  type ClaimedTask,
  cancelVideoTasks,
  completeTask,
  failTaskAttempt,
  holdsTask,
  insertTasks,
  lockVideoWork,
  type NewTask,
  queueDownloadsTask,
  remainingTasks,
  requeueTaskAttempt,
  taskProgress,
} from '../db/tasks.js';
import {
  type AudioTrack,
  markChunkedReady,
  markVideoFailed,
  markVideoPlanned,
  markVideoProgress,
  plannedRenditions,
  setDownloads,
  setRenditions,
  type VideoDownload,
} from '../db/videos.js';
import { bitrateStats } from '../media/playlist.js';

export interface PlannedVideo {
  durationMs: number;
  width: number;
  height: number;
  /** Announced ceilings (video + audio) until the video is ready; codecs from the first chunk. */
  renditions: RenditionInfo[];
  audio: { name: string; codecs: string; bandwidth: number; channels: number } | null;
  /** Every audio rendition (videos.audio_tracks); null or absent: `audio` is the only one. */
  audioTracks?: AudioTrack[] | null;
  tasks: NewTask[];
}

/** The planning commit. Returns the tasks leased to the planner, or null when the job was no longer held. */
export async function planVideo(
  db: Db,
  job: ClaimedJob,
  planned: PlannedVideo,
  leaseSeconds: number,
): Promise<ClaimedTask[] | null> {
  return db.transaction(async (tx) => {
    if (!(await markJobPlanned(tx, job))) return null;
    await markVideoPlanned(tx, job.videoId, planned);
    await recordEvent(tx, { ...eventOf(job), event: 'planned', detail: `${planned.tasks.length} tasks` });
    const claimed = await insertTasks(
      tx,
      { videoId: job.videoId, jobId: job.jobId, sourceKey: job.sourceKey, maxAttempts: job.maxAttempts },
      planned.tasks,
      job.workerId,
      leaseSeconds,
    );
    // A PATCH mp4 true that came after the planner read the flag (it waits on the job row taken above).
    const mp4 = await tx.query<{ mp4: boolean }>('SELECT mp4 FROM videos WHERE id = $1', [job.videoId]);
    if (mp4[0]?.mp4) await queueDownloadsTask(tx, job.videoId, job.maxAttempts);
    await notifyJobQueued(tx, job.videoId);
    return claimed;
  });
}

export type PublishOutcome = 'stale' | 'published' | 'ready';

const taskEvent = (t: ClaimedTask) => ({
  jobId: t.jobId,
  videoId: t.videoId,
  attempt: t.attempt,
  workerId: t.workerId,
  taskId: t.taskId,
});

/**
 * Publishes files of a task (fenced), and completes the task when `complete`. The audio task publishes
 * its segments as they come (complete = false) and completes with its last call.
 */
export async function publishTask(
  db: Db,
  task: ClaimedTask,
  pub: {
    files: readonly PublishedFile[];
    complete: boolean;
    /** The attempt's prefix: once anything under it is published it is no longer an orphan to collect. */
    prefix: string;
    /** The first chunk: each rung's codecs string, from its init segment. */
    codecs?: Record<string, string>;
    /** The finish task: the downloads it published (the video's `downloads`). */
    downloads?: VideoDownload[];
    /** The finish task: caption tracks extracted from the source. */
    captions?: NewCaption[];
  },
): Promise<PublishOutcome> {
  return db.transaction(async (tx) => {
    if (!(await lockVideoWork(tx, task.videoId))) return 'stale';
    if (!(await holdsTask(tx, task))) return 'stale';
    // The attempt's prefix leaves the orphan list with its first publication. If the collector took it
    // first (this attempt's lease had lapsed, unseen), its files are going: publish nothing.
    if (pub.files.length > 0 && !(await publishPrefix(tx, pub.prefix))) return 'stale';
    await insertOutputs(tx, task.videoId, task.taskId, pub.files);
    if (pub.downloads) await setDownloads(tx, task.videoId, pub.downloads);
    for (const c of pub.captions ?? []) await insertCaption(tx, task.videoId, c);
    const planned = await plannedRenditions(tx, task.videoId);
    if (!planned) return 'stale';
    let renditions = planned.renditions;
    if (pub.codecs) {
      const codecs = pub.codecs;
      const withAudio = planned.audio ? `,${planned.audio.codecs}` : '';
      renditions = renditions.map((r) =>
        codecs[r.name] ? { ...r, codecs: `${codecs[r.name]}${withAudio}` } : r,
      );
      await setRenditions(tx, task.videoId, renditions);
    }
    if (pub.complete) {
      if (!(await completeTask(tx, task))) return 'stale';
      await recordEvent(tx, { ...taskEvent(task), event: 'published', detail: `${task.kind} ${task.chunk}` });
    }
    const started = await renditionsStarted(tx, task.videoId);
    const needed = [...renditions.map((r) => r.name), ...(planned.audio ? [planned.audio.name] : [])];
    const playable = needed.every((n) => started.has(n));
    await markVideoProgress(tx, task.videoId, Math.min(0.99, await taskProgress(tx, task.videoId)), playable);
    if (!pub.complete) return 'published';
    if ((await remainingTasks(tx, task.videoId)) > 0) {
      // The finish task waits for every other task: wake the workers when it may have become claimable.
      await notifyJobQueued(tx, task.videoId);
      return 'published';
    }
    await settleReady(tx, task, planned);
    return 'ready';
  });
}

/** The last task is in: the video is ready with its measured renditions, its job done. */
async function settleReady(
  tx: Queryable,
  task: ClaimedTask,
  planned: Planned,
  detail?: string,
): Promise<void> {
  await markChunkedReady(tx, task.videoId, await measuredRenditions(tx, task.videoId, planned));
  await settlePlannedJob(tx, task.videoId, 'done');
  await recordEvent(tx, { ...taskEvent(task), event: 'ready', detail });
}

type Planned = {
  renditions: RenditionInfo[];
  audio: { name: string } | null;
  audioTracks?: { name: string }[] | null;
};

/**
 * The renditions as published: BANDWIDTH = peak video + peak audio segment bit rate (RFC 8216 peaks, as the
 * single-process ladder measures them), AVERAGE-BANDWIDTH = average video + average audio. A variant may
 * be played with any track of the audio group, so the audio's share is the largest among the tracks (RFC
 * 8216 4.3.4.2: BANDWIDTH covers every rendition combination).
 */
async function measuredRenditions(
  db: Queryable,
  videoId: string,
  planned: Planned,
): Promise<RenditionInfo[]> {
  const sizes = await listSegments(db, videoId);
  const names = planned.audioTracks?.length
    ? planned.audioTracks.map((t) => t.name)
    : planned.audio
      ? [planned.audio.name]
      : [];
  const stats = names.map((n) => bitrateStats(sizes.get(n) ?? []));
  const audio =
    stats.length > 0
      ? {
          peakBps: Math.max(...stats.map((a) => a.peakBps)),
          averageBps: Math.max(...stats.map((a) => a.averageBps)),
        }
      : undefined;
  return planned.renditions.map((r) => {
    const video = bitrateStats(sizes.get(r.name) ?? []);
    return {
      ...r,
      bandwidth: video.peakBps + (audio?.peakBps ?? 0),
      averageBandwidth: video.averageBps + (audio?.averageBps ?? 0),
    };
  });
}

/**
 * Records a failed attempt at a task: requeue with exponential backoff, or, when the error is permanent
 * or the attempts are spent, fail the video and cancel its other tasks.
 */
export async function failTask(
  db: Db,
  task: ClaimedTask,
  err: { message: string; code: string; permanent: boolean },
  retryBaseSeconds: number,
): Promise<FailureOutcome> {
  return db.transaction(async (tx) => {
    await lockVideoWork(tx, task.videoId);
    const giveUp = err.permanent || task.attempt >= task.maxAttempts;
    const delay = retryBaseSeconds * 2 ** (task.attempt - 1);
    const held = giveUp
      ? await failTaskAttempt(tx, task, err.message)
      : await requeueTaskAttempt(tx, task, { error: err.message, delaySeconds: delay });
    if (!held) return { outcome: 'stale' };
    await recordEvent(tx, { ...taskEvent(task), event: giveUp ? 'failed' : 'retry', detail: err.message });
    if (!giveUp) {
      await notifyJobQueued(tx, task.videoId);
      return { outcome: 'retry', retryInSeconds: delay };
    }
    if (task.kind === 'finish') {
      // The ladder is whole: a video whose downloads or source captions could not be made still plays.
      const planned = await plannedRenditions(tx, task.videoId);
      if (planned && (await remainingTasks(tx, task.videoId)) === 1)
        await settleReady(tx, task, planned, `without its finish task: ${err.message}`);
      return { outcome: 'failed' };
    }
    const cancelled = await cancelVideoTasks(tx, task.videoId);
    if (cancelled > 0)
      await recordEvent(tx, { ...taskEvent(task), event: 'cancelled', detail: `${cancelled} other tasks` });
    await settlePlannedJob(tx, task.videoId, 'failed', err.message);
    await markVideoFailed(tx, task.videoId, err);
    return { outcome: 'failed' };
  });
}

/** Hands a task back after `delaySeconds` without spending an attempt (a full disk, a shutdown). */
export async function requeueTask(
  db: Db,
  task: ClaimedTask,
  err: ReelError | null,
  delaySeconds: number,
): Promise<FailureOutcome> {
  return db.transaction(async (tx) => {
    const held = await requeueTaskAttempt(tx, task, {
      error: err?.message ?? null,
      delaySeconds,
      uncounted: true,
    });
    if (!held) return { outcome: 'stale' };
    await recordEvent(tx, {
      ...taskEvent(task),
      event: err ? 'retry' : 'released',
      detail: err ? `not counted: ${err.message}` : undefined,
    });
    await notifyJobQueued(tx, task.videoId);
    return { outcome: 'retry', retryInSeconds: delaySeconds };
  });
}

/** Records that an attempt at a task lost its lease and published nothing more. */
export async function recordTaskStale(db: Queryable, task: ClaimedTask, why: string): Promise<void> {
  await recordEvent(db, { ...taskEvent(task), event: 'stale', detail: why });
}

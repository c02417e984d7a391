/**
 * One attempt at a video's job, which is now its planning step: the source (a local path, or the worker's
 * cached copy), the probe, the ladder and the chunks, then the fenced commit that turns the video's work
 * into tasks (jobs/taskQueue.ts planVideo) and leases the first chunk and the audio to this worker, so
 * that it goes straight on to them: no poll, no second claim between the upload and the first frame.
 */
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import type { RenditionInfo } from '../core/types.js';
import type { ClaimedTask, NewTask, TaskSpec } from '../db/tasks.js';
import type { AudioTrack } from '../db/videos.js';
import { planChunks } from '../media/chunkPlan.js';
import { AUDIO_NAME } from '../media/ffmpegArgs.js';
import { type AudioTrackPlan, type MediaPlan, planTranscode } from '../media/ladder.js';
import { AAC_LC } from '../media/playlist.js';
import { probe } from '../media/probe.js';
import { settleFailure, withRetries } from './attempt.js';
import { type FinishSpec, finishSpecOf } from './finishTask.js';
import { importSourceIfAny } from './importSource.js';
import type { JobLease } from './lease.js';
import type { SourceCache } from './sourceCache.js';
import type { WorkerConfig } from './worker.js';

export interface PlanDeps {
  db: Db;
  store: ObjectStore;
  config: WorkerConfig;
  sources: SourceCache;
}

/**
 * Bit rate announced for a rung until the video is ready (bits/s, video + audio): what capped-CRF can
 * reach in any window a peak is measured over (RFC 8216: at least half the 4 s target, so 2 s): the
 * maxrate plus the whole VBV buffer spent in 2 s, plus 5% container overhead; the audio at 110% of its
 * rate. The measured peak that replaces it at ready is below it.
 */
export function announcedBandwidth(
  r: { maxrateKbps: number; bufsizeKbps: number },
  audioKbps: number,
  minWindowSeconds = 2,
): number {
  const videoKbps = (r.maxrateKbps + r.bufsizeKbps / minWindowSeconds) * 1.05;
  return Math.round((videoKbps + audioKbps * 1.1) * 1000);
}

/**
 * The tasks of a planned video: every chunk (the first leased at once) and one audio task per track
 * (chunk = the track's index): the first leased at once (the video plays once it has begun), the others
 * rank 1, as they are not needed before the video can play.
 */
export function tasksOf(
  plan: MediaPlan,
  source: { durationMs: number; videoDurationMs?: number | undefined; demuxer: string },
  finish: FinishSpec | null = null,
): NewTask[] {
  const { durationMs, videoDurationMs, demuxer } = source;
  const base: Omit<TaskSpec, 'chunk'> = { plan, demuxer, durationMs, videoDurationMs };
  const chunks = planChunks(plan, durationMs);
  const tasks: NewTask[] = chunks.map((chunk) => ({
    kind: 'video',
    chunk: chunk.index,
    rank: chunk.index === 0 ? 0 : 1,
    spec: { ...base, chunk },
    claim: chunk.index === 0,
  }));
  if (plan.audio) {
    const tracks = plan.audioTracks?.length ?? 1;
    for (let i = 0; i < tracks; i++)
      tasks.push({ kind: 'audio', chunk: i, rank: i === 0 ? 0 : 1, spec: base, claim: i === 0 });
  }
  // After every other task (claimTask holds it back until then).
  if (finish) tasks.push({ kind: 'finish', chunk: 0, rank: 1, spec: { ...base, finish }, claim: false });
  return tasks;
}

/**
 * What videos.audio_tracks holds: every track as the master lists it, the first the default; null when
 * the source has a single stream with neither language nor title, whose master stays as it always was
 * (NAME="audio", no LANGUAGE).
 */
export function audioTracksOfVideo(tracks: readonly AudioTrackPlan[]): AudioTrack[] | null {
  if (tracks.length === 0 || (tracks.length === 1 && !tracks[0]!.tagged)) return null;
  return tracks.map((t, i) => ({
    name: t.name,
    language: t.language,
    label: t.label,
    channels: t.channels,
    default: i === 0,
  }));
}

/** Whether the video asks for MP4 downloads (`mp4: true`). */
async function wantsMp4(db: Db, videoId: string): Promise<boolean> {
  const rows = await db.query<{ mp4: boolean }>('SELECT mp4 FROM videos WHERE id = $1', [videoId]);
  return rows[0]?.mp4 === true;
}

/** Plans the leased job; returns the tasks leased to this worker ([] when the attempt failed, settled). */
export async function runPlanAttempt(deps: PlanDeps, lease: JobLease, log: Logger): Promise<ClaimedTask[]> {
  const { config } = deps;
  const job = lease.job;
  const signal = lease.signal;
  const startedAt = Date.now();
  let release: () => void = () => {};
  try {
    if (job.attempt > job.maxAttempts) throw errors.tooManyAttempts(job.maxAttempts);
    // An import from a URL: its source is fetched first, by this attempt (jobs/importSource.ts).
    await importSourceIfAny(deps, lease, log);
    const [input, done] = await deps.sources.acquire(job.videoId, job.sourceKey);
    release = done;
    const source = await probe(input, {
      ffprobePath: config.ffprobePath,
      signal,
      limits: {
        maxDurationSeconds: config.maxDurationSeconds,
        maxDimension: config.maxDimension,
        maxPixels: config.maxPixels,
      },
    });
    const plan = planTranscode(source, {
      rungs: config.ladder,
      preset: config.x264Preset,
      crf: config.crf,
      maxAudioTracks: config.maxAudioTracks,
    });
    const tracks = plan.audioTracks ?? [];
    const streams = source.audioStreams?.length ?? 0;
    if (streams > tracks.length && tracks.length > 0)
      log.warn(
        { audioStreams: streams, kept: tracks.length },
        'the source has more audio streams than REEL_MAX_AUDIO_TRACKS: the first ones are kept',
      );
    // A variant may be played with any track of the group: it announces the largest.
    const audioKbps = Math.max(0, ...tracks.map((t) => t.bitrateKbps));
    const first = tracks[0];
    const renditions: RenditionInfo[] = plan.renditions.map((r) => ({
      name: r.name,
      width: r.width,
      height: r.height,
      bandwidth: announcedBandwidth(r, audioKbps),
      averageBandwidth: Math.round((r.maxrateKbps + audioKbps) * 1000),
      // Known once the first chunk has written each rung's init segment.
      codecs: '',
      frameRate: Math.round(plan.fps * 1000) / 1000,
    }));
    const top = plan.renditions[0]!;
    const mp4 = await wantsMp4(deps.db, job.videoId);
    const claimed = await withRetries(
      () =>
        lease.plan(
          {
            durationMs: source.durationMs,
            width: top.width,
            height: top.height,
            renditions,
            audio: first
              ? {
                  name: AUDIO_NAME,
                  codecs: AAC_LC,
                  bandwidth: Math.round(first.bitrateKbps * 1100),
                  channels: first.channels,
                }
              : null,
            audioTracks: audioTracksOfVideo(tracks),
            tasks: tasksOf(plan, source, finishSpecOf(mp4, source.subtitleStreams ?? [])),
          },
          config.leaseSeconds,
        ),
      signal,
    );
    if (!claimed) throw errors.leaseLost();
    log.info(
      { seconds: (Date.now() - startedAt) / 1000, tasks: claimed.length },
      'video planned into chunks',
    );
    return claimed;
  } catch (raw) {
    await settleFailure(lease, log, raw, {
      startedAt,
      retryBaseSeconds: config.retryBaseSeconds,
      noSpaceRetrySeconds: config.noSpaceRetrySeconds,
      cleanUp: async () => undefined,
    });
    return [];
  } finally {
    lease.stopHeartbeat();
    release();
  }
}

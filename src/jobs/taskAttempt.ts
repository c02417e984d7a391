/**
 * One attempt at a leased task of a chunked video. A video chunk: one ffmpeg run that decodes its span
 * once and writes every rung (media/chunkEncode.ts), its files moved into the store under the attempt's
 * own prefix, then the fenced commit that publishes them. The audio: one ffmpeg run over the whole file
 * whose segments are published one by one as they come, so the video can play long before its audio is
 * all encoded; a retry re-encodes from the start and skips what an earlier attempt published.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { errors, isReelError } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { forgetOrphan, recordAttemptPrefix } from '../db/jobs.js';
import { type PublishedFile, publishedPaths } from '../db/outputs.js';
import { type ChunkOutput, encodeAudio, encodeVideoChunk } from '../media/chunkEncode.js';
import type { ChunkSpec } from '../media/chunkPlan.js';
import { AUDIO_NAME, INIT_SEGMENT } from '../media/ffmpegArgs.js';
import { audioTrackOf, type MediaPlan } from '../media/ladder.js';
import { transcodeBudgetSeconds } from '../media/limits.js';
import type { Metrics } from '../metrics.js';
import { keys } from '../storage/keys.js';
import { isNoSpaceError, settleFailure, uploadFiles, withRetries } from './attempt.js';
import { type FinishSpec, runFinishWork } from './finishTask.js';
import type { TaskLease } from './lease.js';
import type { SourceCache } from './sourceCache.js';
import type { PublishOutcome } from './taskQueue.js';
import type { WorkerConfig } from './worker.js';

export interface TaskDeps {
  db: Db;
  store: ObjectStore;
  config: WorkerConfig;
  sources: SourceCache;
  workerId: string;
  metrics?: Metrics | undefined;
}

/** After its first segment, the audio task commits what it has at most this often. */
const AUDIO_COMMIT_MS = 2000;

/** A task attempt's work directory: {dataDir}/work/{video}-t{task}-a{attempt}-{pid} (see sweepDeadWorkDirs). */
export function taskWorkDir(dataDir: string, videoId: string, taskId: number, attempt: number): string {
  return path.join(dataDir, 'work', `${videoId}-t${taskId}-a${attempt}-${process.pid}`);
}

/** Runs one attempt of the leased task and settles it; never throws. Returns how the commit went. */
export async function runTaskAttempt(
  deps: TaskDeps,
  lease: TaskLease,
  log: Logger,
): Promise<PublishOutcome | 'failed'> {
  const { config, store, db } = deps;
  const task = lease.task;
  const signal = lease.signal;
  const startedAt = Date.now();
  const workDir = taskWorkDir(config.dataDir, task.videoId, task.taskId, task.attempt);
  const prefix = keys.taskPrefix(task.videoId, task.taskId, task.attempt);
  let release: () => void = () => {};
  let publishedAny = false;
  try {
    if (task.attempt > task.maxAttempts) throw errors.tooManyAttempts(task.maxAttempts);
    await fsp.rm(workDir, { recursive: true, force: true });
    await fsp.mkdir(workDir, { recursive: true });
    const plan = task.spec.plan as MediaPlan;
    const finish = task.kind === 'finish' ? (task.spec.finish as FinishSpec) : null;
    // A finish task reads the source only to extract its subtitle streams; the rest reads published files.
    let source: { path: string; demuxer: string } | null = null;
    if (!finish || finish.subtitleStreams.length > 0) {
      const [input, done] = await deps.sources.acquire(task.videoId, task.sourceKey);
      release = done;
      source = { path: input, demuxer: task.spec.demuxer };
    }
    const budget = { floorSeconds: config.attemptBudgetSeconds, factor: config.attemptBudgetFactor };
    await recordAttemptPrefix(db, prefix);
    const toPublished = (o: ChunkOutput): PublishedFile & { file: string } => ({
      path: o.path,
      key: prefix + o.path,
      rendition: o.rendition,
      seq: o.seq,
      duration: o.duration,
      bytes: o.bytes,
      iframes: o.iframes,
      file: o.file,
    });
    const commit = (pub: Parameters<TaskLease['publish']>[0]) =>
      withRetries(() => lease.publish(pub), signal);

    let outcome: PublishOutcome;
    if (finish) {
      const out = await runFinishWork({
        deps,
        task,
        spec: finish,
        plan,
        source,
        workDir,
        prefix,
        signal,
        log,
      });
      signal.throwIfAborted();
      await uploadFiles(store, out.files, signal);
      signal.throwIfAborted();
      outcome = await commit({
        files: out.files,
        complete: true,
        prefix,
        downloads: out.downloads,
        captions: out.captions,
      });
    } else if (!source) {
      throw new Error(`a ${task.kind} task needs its source`);
    } else if (task.kind === 'video') {
      const chunk = task.spec.chunk as ChunkSpec;
      const spanMs = chunk.frames === null ? task.spec.durationMs : (chunk.frames / plan.fps) * 1000;
      const result = await encodeVideoChunk({
        source,
        plan,
        chunk,
        outDir: workDir,
        ffmpegPath: config.ffmpegPath,
        sourceDurationMs: task.spec.durationMs,
        // The short first chunk is latency-bound: one x264 thread per core for each rung.
        threads: chunk.fast ? os.availableParallelism() : undefined,
        // Its storyboard sheet comes out of the same ffmpeg (media/storyboard.ts).
        storyboardDurationMs: task.spec.durationMs,
        signal,
        timeLimitMs: transcodeBudgetSeconds(spanMs, budget) * 1000,
      });
      signal.throwIfAborted();
      if (chunk.frames === null)
        checkComplete(
          chunk.startFrame + result.frames,
          plan.fps,
          task.spec.videoDurationMs ?? task.spec.durationMs,
          result.warnings,
        );
      if (result.warnings.length > 0)
        log.warn({ ffmpeg: result.warnings }, 'the source has damaged data; decoded past it');
      // One init segment per rung, valid for every chunk: the first chunk's is the one published.
      const files = result.outputs
        .filter((o) => chunk.index === 0 || !o.path.endsWith(`/${INIT_SEGMENT}`))
        .map(toPublished);
      await uploadFiles(store, files, signal);
      signal.throwIfAborted();
      outcome = await commit({
        files,
        complete: true,
        prefix,
        codecs: chunk.index === 0 ? result.codecs : undefined,
      });
    } else {
      // One track of the audio group: chunk N is track N (`0:a:` its stream, into its own rendition).
      const track = audioTrackOf(plan, task.chunk);
      const already = await publishedPaths(db, task.videoId, track.name);
      // Published as they come, in commits at most AUDIO_COMMIT_MS apart after the first one (which makes
      // the video playable): a segment every few hundred ms each in its own transaction would take CPU
      // from the first chunk beside it. The init goes out with the first segment.
      let pending: (PublishedFile & { file: string })[] = [];
      let lastCommit = 0;
      const flush = async (complete: boolean): Promise<PublishOutcome> => {
        const files = pending;
        pending = [];
        await uploadFiles(store, files, signal);
        const r = await commit({ files, complete, prefix });
        if (r === 'stale') throw errors.leaseLost();
        if (files.length > 0) publishedAny = true;
        lastCommit = Date.now();
        return r;
      };
      await encodeAudio({
        source,
        plan,
        track,
        outDir: workDir,
        ffmpegPath: config.ffmpegPath,
        sourceDurationMs: task.spec.durationMs,
        signal,
        timeLimitMs: transcodeBudgetSeconds(task.spec.durationMs, budget) * 1000,
        onOutput: async (out) => {
          if (already.has(out.path)) {
            await fsp.rm(out.file, { force: true });
            return;
          }
          pending.push(toPublished(out));
          if (out.seq === null) return;
          if (out.seq === 0 || Date.now() - lastCommit >= AUDIO_COMMIT_MS) await flush(false);
        },
      }).catch((err: unknown) => {
        const left = { first: track.name === AUDIO_NAME, published: publishedAny || already.size > 0 };
        if (!leavesTrackOut(err, { ...left, lastAttempt: task.attempt >= task.maxAttempts, signal }))
          throw err;
        log.warn(
          { track: track.name, err },
          'an audio track could not be made: the video goes on without it',
        );
        pending = [];
      });
      signal.throwIfAborted();
      outcome = await flush(true);
    }
    if (outcome === 'stale') throw errors.leaseLost();
    const seconds = (Date.now() - startedAt) / 1000;
    deps.metrics?.observeTranscode(deps.workerId, seconds);
    log.info({ seconds, outcome }, `${task.kind} task published`);
    return outcome;
  } catch (raw) {
    await settleFailure(lease, log, raw, {
      startedAt,
      retryBaseSeconds: config.retryBaseSeconds,
      noSpaceRetrySeconds: config.noSpaceRetrySeconds,
      // What a lost attempt wrote is removed, unless some of it was published (audio parts).
      cleanUp: async () => {
        if (publishedAny) return;
        await store.deletePrefix(prefix);
        await forgetOrphan(db, prefix);
      },
    });
    return 'failed';
  } finally {
    lease.stopHeartbeat();
    release();
    await fsp.rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Whether a failed audio track is left out rather than retried or failing the video: a track after the
 * first (the video plays without it), nothing of it published, on its last attempt or failing for good
 * (a stream with no sound), and not because of the lease, a shutdown or a full disk. Its task then
 * completes with nothing published, and the master never lists it (http/playExtras.ts listedAudioTracks).
 */
export function leavesTrackOut(
  err: unknown,
  at: { first: boolean; published: boolean; lastAttempt: boolean; signal: AbortSignal },
): boolean {
  if (at.first || at.published || at.signal.aborted || isNoSpaceError(err)) return false;
  if (isReelError(err) && err.code === errors.leaseLost.code) return false;
  return at.lastAttempt || (isReelError(err) && err.permanent);
}

/** An output shorter than this share of what the source declares means the source ended early. */
const MIN_DURATION_SHARE = 0.9;

/**
 * The last chunk runs to the end of the source: throws truncatedSource when the video stops well before
 * the duration the source declares for it (a cut-off upload whose index promises more; the video stream's
 * own duration when known, since a source's audio may run on after its picture). Damaged data that ffmpeg
 * decoded past does not fail the video; it is logged.
 */
export function checkComplete(endFrame: number, fps: number, durationMs: number, damage: string[]): void {
  const outSec = endFrame / fps;
  const srcSec = durationMs / 1000;
  if (srcSec > 0 && outSec < srcSec * MIN_DURATION_SHARE) {
    const why = damage[0] ? `; ffmpeg: ${damage[0]}` : '';
    throw errors.truncatedSource(
      `the media stops at ${outSec.toFixed(1)} s of the ${srcSec.toFixed(1)} s it declares${why}`,
    );
  }
}

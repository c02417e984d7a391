/**
 * The finish task of a chunked video: the work that needs every segment published, claimed only once
 * every chunk and audio task of its video is done (db/tasks.ts claimTask). It makes the MP4 downloads
 * (remuxed from the published segments, jobs/downloads.ts) when the video asks for them, and extracts the
 * source's text subtitle streams as caption tracks (jobs/sourceCaptions.ts). Its commit is the video's
 * last: the video becomes ready with it. A finish task that fails for good leaves the video ready
 * without what it would have added (jobs/taskQueue.ts failTask).
 */
import type { Logger } from 'pino';
import type { SourceSubtitleStream } from '../core/types.js';
import type { NewCaption } from '../db/captions.js';
import type { PublishedFile } from '../db/outputs.js';
import type { ClaimedTask } from '../db/tasks.js';
import type { VideoDownload } from '../db/videos.js';
import type { MediaPlan } from '../media/ladder.js';
import { makeDownloads } from './downloads.js';
import { extractSourceCaptions } from './sourceCaptions.js';
import type { TaskDeps } from './taskAttempt.js';

/** What a finish task does (stored in its spec as `finish`). */
export interface FinishSpec {
  /** Make download/{rung}.mp4 and download/audio.m4a. */
  mp4: boolean;
  /** Text subtitle streams of the source to extract as caption tracks. */
  subtitleStreams: SourceSubtitleStream[];
}

/** Subtitle codecs that are text, and so can become WebVTT (bitmap subtitles cannot). */
export const TEXT_SUBTITLE_CODECS = new Set(['mov_text', 'subrip', 'srt', 'webvtt', 'ass', 'ssa', 'text']);

/** The finish task a planned video needs, or null when there is nothing to do after the chunks. */
export function finishSpecOf(
  mp4: boolean,
  subtitleStreams: readonly SourceSubtitleStream[],
): FinishSpec | null {
  const text = subtitleStreams.filter((s) => TEXT_SUBTITLE_CODECS.has(s.codec));
  return mp4 || text.length > 0 ? { mp4, subtitleStreams: text } : null;
}

/** What one finish attempt hands its work to. */
export interface FinishContext {
  deps: TaskDeps;
  task: ClaimedTask;
  spec: FinishSpec;
  plan: MediaPlan;
  /** The source, on a local path (acquired only when there are subtitle streams to extract). */
  source: { path: string; demuxer: string } | null;
  /** This attempt's empty work directory. */
  workDir: string;
  /** This attempt's prefix in the store: videos/{id}/t{task}-a{attempt}/. */
  prefix: string;
  signal: AbortSignal;
  log: Logger;
}

export interface FinishOutput {
  /** Files written under workDir, to be uploaded to `key` and published at `path`. */
  files: (PublishedFile & { file: string })[];
  downloads?: VideoDownload[];
  captions?: NewCaption[];
}

/** Does the finish task's work; the caller uploads the files and commits. */
export async function runFinishWork(ctx: FinishContext): Promise<FinishOutput> {
  const out: FinishOutput = { files: [] };
  if (ctx.spec.mp4) {
    const d = await makeDownloads(ctx);
    out.files.push(...d.files);
    out.downloads = d.downloads;
  }
  if (ctx.spec.subtitleStreams.length > 0) {
    const c = await extractSourceCaptions(ctx);
    out.files.push(...c.files);
    out.captions = c.captions;
  }
  return out;
}

/**
 * Caption tracks from the source's text subtitle streams (mov_text, subrip, webvtt, ass), extracted as
 * WebVTT by the finish task: one ffmpeg run writes every stream (`-map 0:s:N -c:s webvtt`), each file is
 * parsed and normalised like an upload (media/subtitles.ts), stored at keys.caption and returned as a
 * `captions` row for the finish task's commit.
 *
 * The objects go straight to their final keys (videos/{id}/captions/…, removed with the video), not under
 * the attempt's prefix: they are no `outputs` row, and the attempt prefix of a finish task that publishes
 * no file stays an orphan to collect. Their ids are derived from the video and the stream, so a second
 * attempt rewrites the same objects, and the commit's ON CONFLICT (video, stream) keeps the first row.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { SourceSubtitleStream } from '../core/types.js';
import { listCaptions, type NewCaption } from '../db/captions.js';
import type { PublishedFile } from '../db/outputs.js';
import { capture } from '../media/exec.js';
import { sourceInputArgs } from '../media/ffmpegArgs.js';
import { languageName, toBcp47 } from '../media/language.js';
import { parseSubtitles, sortCues, toWebVtt } from '../media/subtitles.js';
import { keys } from '../storage/keys.js';
import type { FinishContext } from './finishTask.js';

/** At most this many source streams become tracks (as many as an upload may add to a video). */
export const MAX_SOURCE_CAPTIONS = 20;
/** A source's subtitle stream larger than this (as WebVTT) is skipped, as an upload of it would be refused. */
export const MAX_SOURCE_CAPTION_BYTES = 2 * 1024 * 1024;

/** BCP 47 for "undetermined": a stream with no (or an unusable) language tag. */
const UNDETERMINED = 'und';

/** The caption id of a source stream: the same for every attempt at the same video. */
export const sourceCaptionId = (videoId: string, stream: number) =>
  `s${crypto.createHash('sha256').update(`${videoId}/s:${stream}`).digest('base64url').slice(0, 15)}`;

/** Pure: the ffmpeg arguments that write stream s:N of the source to files[i] as WebVTT. */
export function extractArgs(
  source: { path: string; demuxer: string },
  streams: readonly SourceSubtitleStream[],
  files: readonly string[],
): string[] {
  const args = ['-hide_banner', '-nostdin', '-v', 'error', ...sourceInputArgs(source)];
  streams.forEach((s, i) => {
    args.push('-map', `0:s:${s.index}`, '-c:s', 'webvtt', '-f', 'webvtt', '-y', files[i]!);
  });
  return args;
}

/** Pure: a track's language, default name (before uniqueness) and kind from its stream's tags. */
export function describeStream(s: SourceSubtitleStream): { language: string; name: string; cc: boolean } {
  const language = toBcp47(s.language) ?? UNDETERMINED;
  // A double quote cannot sit in the master's NAME: it would become a space there and could collide.
  const title = s.title?.replaceAll('"', "'").trim().slice(0, 100);
  const name = title || (language === UNDETERMINED ? 'Subtitles' : languageName(language));
  return { language, name, cc: s.hearingImpaired };
}

export async function extractSourceCaptions(
  ctx: FinishContext,
): Promise<{ files: (PublishedFile & { file: string })[]; captions: NewCaption[] }> {
  const source = ctx.source;
  if (!source) return { files: [], captions: [] };
  const videoId = ctx.task.videoId;
  const streams = ctx.spec.subtitleStreams.slice(0, MAX_SOURCE_CAPTIONS);
  const files = streams.map((s) => path.join(ctx.workDir, `sub-${s.index}.vtt`));
  const ffmpeg = ctx.deps.config.ffmpegPath;
  const all = await capture(ffmpeg, extractArgs(source, streams, files), ctx.signal);
  if (all.code !== 0) {
    // One bad stream fails the whole run: extract the others one by one.
    ctx.log.warn({ ffmpeg: all.stderr.slice(-2000) }, 'subtitle extraction failed; trying stream by stream');
    for (const [i, s] of streams.entries()) {
      await fsp.rm(files[i]!, { force: true });
      const one = await capture(ffmpeg, extractArgs(source, [s], [files[i]!]), ctx.signal);
      if (one.code !== 0) await fsp.rm(files[i]!, { force: true });
    }
  }

  const taken = new Set((await listCaptions(ctx.deps.db, videoId)).map((c) => c.name));
  const captions: NewCaption[] = [];
  for (const [i, s] of streams.entries()) {
    const size = (await fsp.stat(files[i]!).catch(() => null))?.size;
    if (size === undefined) continue;
    if (size > MAX_SOURCE_CAPTION_BYTES) {
      ctx.log.warn({ stream: s.index, bytes: size }, 'an extracted subtitle stream is too large; skipped');
      continue;
    }
    const text = await fsp.readFile(files[i]!, 'utf8').catch(() => null);
    if (text === null) continue;
    let vtt: string;
    try {
      // Zero-length cues (some muxers write them to clear the screen) are dropped rather than refused.
      const cues = parseLenient(text);
      vtt = toWebVtt(sortCues(cues));
    } catch (err) {
      ctx.log.warn({ err, stream: s.index }, 'an extracted subtitle stream is not valid WebVTT; skipped');
      continue;
    }
    const d = describeStream(s);
    let name = d.name;
    for (let n = 2; taken.has(name); n++) name = `${d.name} (${n})`;
    taken.add(name);
    const id = sourceCaptionId(videoId, s.index);
    const key = keys.caption(videoId, id);
    const bytes = Buffer.from(vtt);
    ctx.signal.throwIfAborted();
    await ctx.deps.store.put(key, bytes);
    captions.push({
      id,
      language: d.language,
      name,
      closed_captions: d.cc,
      origin: 'source',
      source_stream: s.index,
      key,
      bytes: bytes.length,
    });
  }
  ctx.log.info({ tracks: captions.length, streams: streams.length }, 'source captions extracted');
  return { files: [], captions };
}

/** ffmpeg's WebVTT, with its empty cues (end = start) removed before the strict parse. */
function parseLenient(text: string) {
  const kept = text
    .split(/\r?\n\r?\n/)
    .filter((block) => {
      const m = /^(\S+) --> (\S+)/m.exec(block);
      return !m || m[1] !== m[2];
    })
    .join('\n\n');
  return parseSubtitles(kept).cues;
}

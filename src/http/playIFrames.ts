/**
 * I-frame playlists: {rung}/iframes.m3u8, EXT-X-I-FRAMES-ONLY with a byte range per keyframe of the
 * published segments (outputs.iframes, recorded by each chunk's task before it publishes), EVENT while the
 * video processes and VOD once it is ready; and the master's EXT-X-I-FRAME-STREAM-INF, one per rung, listed
 * once the video is ready (its BANDWIDTH is the measured peak, as the variants' is).
 */
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { listKeyframes } from '../db/outputs.js';
import type { VideoRow } from '../db/videos.js';
import {
  contiguousKeyframes,
  iframePeakBandwidth,
  renderIFramePlaylistText,
} from '../media/iframePlaylist.js';
import type { MasterIFrameStream } from '../media/playlist.js';

export const IFRAME_PLAYLIST = 'iframes.m3u8';

/** The master's I-frame streams of ready videos, by video id and ready time (a few rows each). */
const streamsCache = new Map<string, MasterIFrameStream[]>();
const STREAMS_KEPT = 2000;

/** The master's I-frame streams (none until the video is ready; none for a rung without keyframes). */
export async function iframeStreams(db: Db, video: VideoRow): Promise<MasterIFrameStream[]> {
  if (video.status !== 'ready') return [];
  const cacheKey = `${video.id}/${new Date(video.ready_at ?? 0).getTime()}`;
  const cached = streamsCache.get(cacheKey);
  if (cached) return cached;
  const out: MasterIFrameStream[] = [];
  for (const r of video.renditions) {
    const run = contiguousKeyframes(await listKeyframes(db, video.id, r.name));
    if (run.length === 0) continue;
    out.push({
      uri: `${r.name}/${IFRAME_PLAYLIST}`,
      bandwidth: iframePeakBandwidth(run),
      codecs: r.codecs.split(',')[0] ?? '',
      width: r.width,
      height: r.height,
    });
  }
  if (streamsCache.size >= STREAMS_KEPT) streamsCache.delete(streamsCache.keys().next().value!);
  streamsCache.set(cacheKey, out);
  return out;
}

/** The text of {rung}/iframes.m3u8; 404 when the rung is unknown or has no keyframes published. */
export async function renderIFramePlaylist(db: Db, video: VideoRow, file: string): Promise<string> {
  const rung = file.slice(0, file.indexOf('/'));
  if (file !== `${rung}/${IFRAME_PLAYLIST}` || !video.renditions.some((r) => r.name === rung))
    throw errors.objectNotFound(file);
  const run = contiguousKeyframes(await listKeyframes(db, video.id, rung));
  if (run.length === 0) throw errors.objectNotFound(file);
  return renderIFramePlaylistText({ run, complete: video.status === 'ready' });
}

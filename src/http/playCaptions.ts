/**
 * Caption tracks as HLS: subs/{caption}/index.m3u8 (a VOD WebVTT media playlist) and its segments
 * subs/{caption}/seg_N.vtt, rendered on request from the stored WebVTT (media/captionSegments.ts). The
 * caption is looked up under the video being played, so a track of another video is not found.
 */
import { text as readText } from 'node:stream/consumers';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { getCaption } from '../db/captions.js';
import type { VideoRow } from '../db/videos.js';
import { renderCaptionPlaylist, renderCaptionSegment } from '../media/captionSegments.js';
import { type Cue, parseSubtitles } from '../media/subtitles.js';

export const captionPlaylistUri = (captionId: string) => `subs/${captionId}/index.m3u8`;

const FILE = /^subs\/([A-Za-z0-9_-]{1,64})\/(?:(index\.m3u8)|seg_(\d{1,6})\.vtt)$/;

/**
 * Parsed tracks by store key (a key is never rewritten with other content), oldest first, bounded by the
 * size of their files (a parsed track takes a few times its file's bytes).
 */
const parsed = new Map<string, { cues: Cue[]; bytes: number }>();
const PARSED_BYTES_KEPT = 32 * 1024 * 1024;
let parsedBytes = 0;

async function cuesOf(store: ObjectStore, key: string, bytes: number): Promise<Cue[]> {
  const hit = parsed.get(key);
  if (hit) return hit.cues;
  const cues = parseSubtitles(await readText(await store.get(key))).cues;
  while (parsed.size > 0 && parsedBytes + bytes > PARSED_BYTES_KEPT) {
    const [oldest, entry] = parsed.entries().next().value!;
    parsed.delete(oldest);
    parsedBytes -= entry.bytes;
  }
  if (bytes <= PARSED_BYTES_KEPT) {
    parsed.set(key, { cues, bytes });
    parsedBytes += bytes;
  }
  return cues;
}

/** The text of subs/{caption}/index.m3u8 or subs/{caption}/seg_N.vtt; 404 for anything else. */
export async function renderCaptionFile(
  db: Db,
  store: ObjectStore,
  video: VideoRow,
  file: string,
): Promise<{ text: string; contentType: string }> {
  const m = FILE.exec(file);
  if (!m) throw errors.objectNotFound(file);
  const caption = await getCaption(db, video.id, m[1]!);
  if (!caption) throw errors.objectNotFound(file);
  const duration = (video.duration_ms ?? 0) / 1000;
  if (m[2]) return { text: renderCaptionPlaylist(duration), contentType: 'application/vnd.apple.mpegurl' };
  const text = renderCaptionSegment(await cuesOf(store, caption.key, caption.bytes), duration, Number(m[3]));
  if (text === null) throw errors.objectNotFound(file);
  return { text, contentType: 'text/vtt; charset=utf-8' };
}

/**
 * Caption tracks as HLS: subs/{caption}/index.m3u8 (a WebVTT media playlist) and its segments
 * subs/{caption}/seg_N.vtt, rendered from the stored WebVTT. TO BE WRITTEN (helper C).
 */
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import type { VideoRow } from '../db/videos.js';

export const captionPlaylistUri = (captionId: string) => `subs/${captionId}/index.m3u8`;

/** The text of subs/{caption}/index.m3u8 or subs/{caption}/seg_N.vtt; 404 for anything else. */
export async function renderCaptionFile(
  _db: Db,
  _store: ObjectStore,
  _video: VideoRow,
  file: string,
): Promise<{ text: string; contentType: string }> {
  throw errors.objectNotFound(file);
}

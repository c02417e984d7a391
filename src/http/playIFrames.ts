/**
 * I-frame playlists: {rung}/iframes.m3u8, EXT-X-I-FRAMES-ONLY with a byte range per keyframe of the
 * published segments (outputs.iframes), and the master's EXT-X-I-FRAME-STREAM-INF. TO BE WRITTEN (helper B).
 */
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import type { VideoRow } from '../db/videos.js';
import type { MasterIFrameStream } from '../media/playlist.js';

/** The master's I-frame streams (none until the video is ready). */
export async function iframeStreams(_db: Db, _video: VideoRow): Promise<MasterIFrameStream[]> {
  return [];
}

/** The text of {rung}/iframes.m3u8; 404 when the rung is unknown. */
export async function renderIFramePlaylist(_db: Db, _video: VideoRow, file: string): Promise<string> {
  throw errors.objectNotFound(file);
}

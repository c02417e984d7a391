/**
 * The files of a chunked video beyond its ladder (issue 13), under the same /play/{video}/{access}/ and
 * the same authorisation as its playlists (http/playback.ts calls in here once access is granted):
 *
 * - made on request: thumbnail.{jpg,webp,png}, animated.webp (http/playThumbnails.ts);
 * - rendered from the database: storyboard.vtt, {rung}/iframes.m3u8 (http/playIFrames.ts,
 *   http/playStoryboard.ts), subs/{caption}/index.m3u8 and its WebVTT segments (http/playCaptions.ts);
 * - published files, answered from `outputs` like segments: storyboard/{n}.jpg, download/{name}.mp4|m4a.
 *
 * And what the master lists besides the ladder: every audio track, the SUBTITLES group, I-frame streams.
 */
import type { Db } from '../core/ports.js';
import { listCaptions } from '../db/captions.js';
import { renditionsStarted } from '../db/outputs.js';
import type { AudioTrack, VideoRow } from '../db/videos.js';
import type { MasterExtras } from '../media/playlist.js';
import { captionPlaylistUri } from './playCaptions.js';
import { iframeStreams } from './playIFrames.js';

/** Names rendered as text on request (playlists and WebVTT); matched after the ladder's own names. */
export const TEXT_FILE =
  /^(?:storyboard\.vtt|[A-Za-z0-9_-]{1,32}\/iframes\.m3u8|subs\/[A-Za-z0-9_-]{1,64}\/(?:index\.m3u8|seg_\d{1,6}\.vtt))$/;
/** Images made on request (query: time, width, height; start, end, fps). */
export const IMAGE_FILE = /^(?:thumbnail\.(?:jpg|webp|png)|animated\.webp)$/;
/** Published files answered from `outputs`. */
export const PUBLISHED_FILE = /^(?:storyboard\/\d{1,5}\.jpg|download\/[A-Za-z0-9_-]{1,32}\.(?:mp4|m4a))$/;

/**
 * The audio tracks the master lists: a track other than the first only once its first segment is
 * published (while the video processes, and at ready if it could not be made at all): a player may
 * select a track by itself (hls.js and Safari pick the one matching the viewer's language), and one with
 * nothing to play would stall it. The first (the default) is always listed: the video is not playable
 * before it has begun.
 */
export async function listedAudioTracks(db: Db, video: VideoRow): Promise<AudioTrack[] | undefined> {
  const tracks = video.audio_tracks;
  if (!tracks || tracks.length === 0) return undefined;
  if (tracks.length === 1) return tracks;
  const started = await renditionsStarted(db, video.id);
  return tracks.filter((t, i) => i === 0 || started.has(t.name));
}

/** What the master of a chunked video lists besides its ladder and its first audio rendition. */
export async function masterExtras(db: Db, video: VideoRow): Promise<MasterExtras> {
  const captions = await listCaptions(db, video.id);
  return {
    audioTracks: await listedAudioTracks(db, video),
    subtitles: captions.map((c) => ({
      language: c.language,
      name: c.name,
      closedCaptions: c.closed_captions,
      uri: captionPlaylistUri(c.id),
    })),
    iframes: await iframeStreams(db, video),
  };
}

/** Object keys: the only names Reel writes into a store, checked so none can escape it. */
import crypto from 'node:crypto';
import { errors } from '../core/errors.js';
import { assertId } from '../core/ids.js';

export { assertId };

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Throws unless every segment of key is a plain name (no "..", no absolute paths, no odd characters). */
export function assertSafeKey(key: string): string {
  const parts = key.split('/');
  const last = parts.length - 1;
  const ok = parts.every(
    (p, i) => (i === last && p === '' && i > 0) || (SEGMENT.test(p) && !p.includes('..')),
  );
  if (!ok) throw errors.invalidRequest(`Invalid object key "${key.slice(0, 80)}".`);
  return key;
}

/** A new video id: 16 URL-safe characters, never starting with "-" (not a valid key segment). */
export function newVideoId(): string {
  return crypto.randomBytes(12).toString('base64url').replace(/^-/, '_');
}

export const keys = {
  source: (videoId: string) => `sources/${assertId(videoId)}/original`,
  sourcePrefix: (videoId: string) => `sources/${assertId(videoId)}/`,
  /** The source an attempt fetched for an import from a URL (its own key: a stale attempt never overwrites it). */
  importedSource: (videoId: string, attempt: number) => `sources/${assertId(videoId)}/import-a${attempt}`,
  videoPrefix: (videoId: string) => `videos/${assertId(videoId)}/`,
  attemptPrefix: (videoId: string, attempt: number) => `videos/${assertId(videoId)}/a${attempt}/`,
  /** What one attempt at one task of a chunked video writes; published files keep these keys for good. */
  taskPrefix: (videoId: string, taskId: number, attempt: number) =>
    `videos/${assertId(videoId)}/t${taskId}-a${attempt}/`,
  /** A caption track's WebVTT (under the video's prefix: deleting the video removes it). */
  caption: (videoId: string, captionId: string) =>
    `videos/${assertId(videoId)}/captions/${assertId(captionId)}.vtt`,
};

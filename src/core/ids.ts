/**
 * The one shape of an id that Reel accepts from outside (video, upload and API key ids): 1–64 URL-safe
 * characters. Object keys, cursors and the HTTP schemas are all built from it.
 */
import { errors } from './errors.js';

/** As a JSON-schema `pattern` (a string) ... */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
/** ... and as a RegExp. */
export const ID = new RegExp(ID_PATTERN);

export const isId = (id: string): boolean => ID.test(id);

/** Returns `id`, or throws REEL_INVALID_ID naming `what` (e.g. "video id"). */
export function assertId(id: string, what = 'id'): string {
  if (!ID.test(id)) throw errors.invalidId(what);
  return id;
}

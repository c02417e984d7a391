/**
 * The cursor of GET /v1/videos (pure code): an opaque token for a place in the list, newest first. It holds
 * the exact creation time of the last video of a page (UTC, to the microsecond, as the database keeps it)
 * and that video's id, which breaks ties: videos created in the same microsecond are still each listed
 * once. A cursor that is not well-formed is refused; one edited into another well-formed place only lists
 * from there (any key may list every video anyway).
 */
import { errors } from '../core/errors.js';
import { isId } from '../core/ids.js';
import type { ListPosition } from '../db/videos.js';

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** The longest cursor this server gives: 27 characters of time, a space and an id of 64. */
export const MAX_CURSOR_LENGTH = 124;

export function encodeCursor(p: ListPosition): string {
  return Buffer.from(`${p.createdAt} ${p.id}`).toString('base64url');
}

/** The place a cursor names; throws REEL_INVALID_CURSOR (400) for anything this server did not give. */
export function decodeCursor(cursor: string): ListPosition {
  const text = cursor.length <= MAX_CURSOR_LENGTH ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const [createdAt = '', id = '', ...rest] = text.split(' ');
  // Buffer skips characters that are not base64url: only a cursor that encodes back to itself is one.
  const canonical = Buffer.from(text).toString('base64url') === cursor;
  if (!canonical || rest.length > 0 || !TIME.test(createdAt) || !isId(id) || !isRealTime(createdAt)) {
    throw errors.invalidCursor();
  }
  return { createdAt, id };
}

/** A calendar time that exists (no 31 February, no hour 25). */
function isRealTime(t: string): boolean {
  const ms = Date.parse(`${t.slice(0, 23)}Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 19) === t.slice(0, 19);
}

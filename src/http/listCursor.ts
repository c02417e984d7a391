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
/**
 * The longest cursor this server gives: 27 characters of time, a space and an id of 64, and in the title
 * order a space and the title (at most 200 characters, 800 bytes) in base64url.
 */
export const MAX_CURSOR_LENGTH = 1600;

export function encodeCursor(p: ListPosition): string {
  const title = p.title === undefined ? '' : ` ${Buffer.from(p.title).toString('base64url')}`;
  return Buffer.from(`${p.createdAt} ${p.id}${title}`).toString('base64url');
}

/**
 * The place a cursor names; throws REEL_INVALID_CURSOR (400) for anything this server did not give, and
 * for a cursor of another order (a title cursor in a time order, or the reverse).
 */
export function decodeCursor(cursor: string, order: 'time' | 'title' = 'time'): ListPosition {
  const text = cursor.length <= MAX_CURSOR_LENGTH ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const [createdAt = '', id = '', ...rest] = text.split(' ');
  // Buffer skips characters that are not base64url: only a cursor that encodes back to itself is one.
  const canonical = Buffer.from(text).toString('base64url') === cursor;
  const titled =
    order === 'title' ? rest.length === 1 && /^[A-Za-z0-9_-]*$/.test(rest[0]!) : rest.length === 0;
  if (!canonical || !titled || !TIME.test(createdAt) || !isId(id) || !isRealTime(createdAt)) {
    throw errors.invalidCursor();
  }
  if (order === 'time') return { createdAt, id };
  const title = Buffer.from(rest[0]!, 'base64url').toString('utf8');
  if (Buffer.from(title).toString('base64url') !== rest[0] || title.length > 200)
    throw errors.invalidCursor();
  return { createdAt, id, title };
}

/** A calendar time that exists (no 31 February, no hour 25). */
function isRealTime(t: string): boolean {
  const ms = Date.parse(`${t.slice(0, 23)}Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 19) === t.slice(0, 19);
}

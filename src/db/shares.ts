/**
 * Share links (issue 14): one row per link, beside the video it plays. Expiry is decided by the database
 * clock.
 *
 * The id is the credential and is stored as it is, not hashed (unlike API keys and upload links). The owner
 * must be able to copy a link again from the list at any time, as with every hosted video service; a link
 * grants only watching one video, and is revocable at once. Hashing would protect against one threat only,
 * someone who reads the database, and that reader already holds the playback signing secrets
 * (signing_keys) and can mint tokens for every video, so it would buy nothing while losing "copy again".
 * Ids are 22 base62 characters from crypto.randomBytes (about 131 bits): not guessable, not enumerable.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../core/ports.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const SHARE_ID_LENGTH = 22;
export const SHARE_ID = /^[0-9A-Za-z]{22}$/;

/** 22 base62 characters, uniformly random (bytes ≥ 248 are drawn again, so no character is likelier). */
export function newShareId(): string {
  let out = '';
  while (out.length < SHARE_ID_LENGTH) {
    for (const b of crypto.randomBytes(32)) {
      if (b < 248 && out.length < SHARE_ID_LENGTH) out += BASE62[b % 62];
    }
  }
  return out;
}

export interface ShareRow {
  id: string;
  video_id: string;
  label: string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  views: string | number;
  created_at: Date | string;
  /** By the database clock. */
  expired: boolean;
}

const COLUMNS = `id, video_id, label, expires_at, revoked_at, views, created_at,
  (expires_at IS NOT NULL AND expires_at <= now()) AS expired`;

/** A new link to `videoId`; `expiresInSeconds` null: until revoked. */
export async function insertShare(
  db: Queryable,
  s: { id: string; videoId: string; label: string; expiresInSeconds: number | null; apiKeyId?: string },
): Promise<ShareRow> {
  const [row] = await db.query<ShareRow>(
    `INSERT INTO share_links (id, video_id, label, expires_at, api_key_id)
     VALUES ($1, $2, $3, CASE WHEN $4::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $4::integer) END, $5)
     RETURNING ${COLUMNS}`,
    [s.id, s.videoId, s.label, s.expiresInSeconds, s.apiKeyId ?? null],
  );
  return row!;
}

/** How many links of the video still work (not revoked, not expired). */
export async function countLiveShares(db: Queryable, videoId: string): Promise<number> {
  const [row] = await db.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM share_links
      WHERE video_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [videoId],
  );
  return Number(row?.n ?? 0);
}

/** The video's links that were not revoked (expired ones too, so the owner sees that they expired), newest first. */
export function listShares(db: Queryable, videoId: string): Promise<ShareRow[]> {
  return db.query<ShareRow>(
    `SELECT ${COLUMNS} FROM share_links WHERE video_id = $1 AND revoked_at IS NULL
      ORDER BY created_at DESC, id DESC`,
    [videoId],
  );
}

/** The link with this id, revoked or not, or undefined. */
export async function getShare(db: Queryable, id: string): Promise<ShareRow | undefined> {
  const [row] = await db.query<ShareRow>(`SELECT ${COLUMNS} FROM share_links WHERE id = $1`, [id]);
  return row;
}

/** Revokes the video's link (at once, for every process); false when the video has no such live link. */
export async function revokeShare(db: Queryable, videoId: string, id: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE share_links SET revoked_at = now() WHERE id = $1 AND video_id = $2 AND revoked_at IS NULL
     RETURNING id`,
    [id, videoId],
  );
  return rows.length > 0;
}

/** Counts one view of the link, if it still works. */
export async function countShareView(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE share_links SET views = views + 1
      WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [id],
  );
}

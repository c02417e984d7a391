/**
 * Upload links (issue 12): one row per link, beside the video it uploads into. The link's secret is in its
 * URL only; the table keeps a SHA-256 of it. Expiry is decided by the database clock.
 */
import crypto from 'node:crypto';
import type { Db, Queryable } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import { insertUploadingVideo } from './videos.js';

/** `ul_` and 32 random bytes, base64url: what the link's URL carries. */
export const LINK_SECRET = /^ul_[A-Za-z0-9_-]{43}$/;

export const newLinkSecret = () => `ul_${crypto.randomBytes(32).toString('base64url')}`;
export const hashLinkSecret = (secret: string) => crypto.createHash('sha256').update(secret).digest('hex');

export interface UploadLink {
  videoId: string;
  maxBytes: number;
  expiresAt: Date;
  /** By the database clock. */
  expired: boolean;
  corsOrigin: string | null;
  /** When the link's one upload was created (null: not yet). */
  uploadCreatedAt: Date | null;
}

interface LinkRow {
  video_id: string;
  max_bytes: string | number;
  expires_at: Date | string;
  expired: boolean;
  cors_origin: string | null;
  upload_created_at: Date | string | null;
}

const toLink = (r: LinkRow): UploadLink => ({
  videoId: r.video_id,
  maxBytes: Number(r.max_bytes),
  expiresAt: new Date(r.expires_at),
  expired: r.expired,
  corsOrigin: r.cors_origin,
  uploadCreatedAt: r.upload_created_at === null ? null : new Date(r.upload_created_at),
});

/** The link's video (status uploading, owned by the key that made the link) and the link, together. */
export async function createUploadLink(
  db: Db,
  v: {
    videoId: string;
    secret: string;
    title: string;
    playbackPolicy: PlaybackPolicy;
    externalId: string | null;
    mp4?: boolean | undefined;
    apiKeyId: string | undefined;
    maxBytes: number;
    expiresInSeconds: number;
    corsOrigin: string | null;
  },
): Promise<Date> {
  return db.transaction(async (tx) => {
    await insertUploadingVideo(tx, {
      id: v.videoId,
      title: v.title,
      filename: '',
      playbackPolicy: v.playbackPolicy,
      externalId: v.externalId,
      mp4: v.mp4,
      apiKeyId: v.apiKeyId,
    });
    const [row] = await tx.query<{ expires_at: Date | string }>(
      `INSERT INTO upload_links (video_id, token_hash, max_bytes, expires_at, cors_origin)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5) RETURNING expires_at`,
      [v.videoId, hashLinkSecret(v.secret), v.maxBytes, v.expiresInSeconds, v.corsOrigin],
    );
    return new Date(row!.expires_at);
  });
}

/** The link whose URL carries this secret, or null. */
export async function findUploadLink(db: Queryable, secret: string): Promise<UploadLink | null> {
  const [row] = await db.query<LinkRow>(
    `SELECT video_id, max_bytes, expires_at, expires_at <= now() AS expired, cors_origin, upload_created_at
       FROM upload_links WHERE token_hash = $1`,
    [hashLinkSecret(secret)],
  );
  return row ? toLink(row) : null;
}

/**
 * Takes the link's one upload, at once for every process (the first creation wins), and records the file's
 * name on its video (its title too, when the link gave none). 'used' or 'expired' when it cannot.
 */
export async function claimUploadLink(
  db: Db,
  videoId: string,
  file: { filename: string; title: string },
): Promise<'claimed' | 'used' | 'expired' | 'gone'> {
  return db.transaction(async (tx) => {
    const claimed = await tx.query(
      `UPDATE upload_links SET upload_created_at = now()
        WHERE video_id = $1 AND upload_created_at IS NULL AND expires_at > now() RETURNING video_id`,
      [videoId],
    );
    if (claimed.length > 0) {
      await tx.query(
        `UPDATE videos SET filename = $2, title = CASE WHEN title = '' THEN $3 ELSE title END
          WHERE id = $1 AND status = 'uploading'`,
        [videoId, file.filename, file.title],
      );
      return 'claimed';
    }
    const [row] = await tx.query<{ used: boolean }>(
      'SELECT upload_created_at IS NOT NULL AS used FROM upload_links WHERE video_id = $1',
      [videoId],
    );
    return row === undefined ? 'gone' : row.used ? 'used' : 'expired';
  });
}

/** Whether the link's video still waits for its file (its upload was not finished). */
export async function linkVideoUploading(db: Queryable, videoId: string): Promise<boolean> {
  const rows = await db.query(`SELECT 1 FROM videos WHERE id = $1 AND status = 'uploading'`, [videoId]);
  return rows.length > 0;
}

/**
 * Gives the link back its upload, when the creation that took it failed (nobody was given its URL) and
 * its video still waits for its file; a finished upload (the video queued) keeps its link used.
 */
export async function releaseUploadLink(db: Queryable, videoId: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE upload_links SET upload_created_at = NULL
      WHERE video_id = $1 AND EXISTS (SELECT 1 FROM videos WHERE id = $1 AND status = 'uploading')
      RETURNING video_id`,
    [videoId],
  );
  return rows.length > 0;
}

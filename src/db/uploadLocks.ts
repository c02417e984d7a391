/**
 * Queries on upload_locks: the lease rows of the Postgres upload locker (uploads/locker.ts), and the
 * notification that asks a lock's holder to let go. Only the database clock decides expiry.
 */
import type { Queryable } from '../core/ports.js';

export const UPLOAD_RELEASE_CHANNEL = 'reel_upload_release';

/** Inserts the lock row, or takes over an expired one (or its own); true when `holder` holds it now. */
export async function takeUploadLock(
  db: Queryable,
  uploadId: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO upload_locks (upload_id, holder, expires_at)
     VALUES ($1, $2, now() + $3::integer * interval '1 millisecond')
     ON CONFLICT (upload_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE upload_locks.expires_at < now() OR upload_locks.holder = excluded.holder
     RETURNING holder`,
    [uploadId, holder, leaseMs],
  );
  return rows.length === 1;
}

/** Extends the lease of a held lock; false when `holder` no longer holds it. */
export async function renewUploadLock(
  db: Queryable,
  uploadId: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE upload_locks SET expires_at = now() + $3::integer * interval '1 millisecond'
     WHERE upload_id = $1 AND holder = $2 RETURNING holder`,
    [uploadId, holder, leaseMs],
  );
  return rows.length === 1;
}

/** Removes the lock row if `holder` still holds it. */
export async function releaseUploadLock(db: Queryable, uploadId: string, holder: string): Promise<void> {
  await db.query('DELETE FROM upload_locks WHERE upload_id = $1 AND holder = $2', [uploadId, holder]);
}

/** Asks whichever process holds the lock on an upload to let go (every upload process listens). */
export async function askUploadRelease(db: Queryable, uploadId: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [UPLOAD_RELEASE_CHANNEL, uploadId]);
}

/** Queries about multipart uploads into S3 and their parts. */
import type { Db, Queryable } from '../core/ports.js';

export interface MultipartRow {
  video_id: string;
  kind: 'tus' | 'direct';
  s3_upload_id: string;
  size: number | null;
  part_size: number;
  tail_size: number;
  metadata: Record<string, string | null>;
  api_key_id: string | null;
  /** stored: every byte is in a part, the parts are not yet joined (a tus upload the worker joins). */
  state: 'open' | 'stored' | 'completed' | 'aborted';
  created_at: Date | string;
}

export interface PartRow {
  part_number: number;
  etag: string;
  size: number;
}

export async function insertMultipart(
  db: Queryable,
  m: Pick<
    MultipartRow,
    'video_id' | 'kind' | 's3_upload_id' | 'size' | 'part_size' | 'metadata' | 'api_key_id'
  >,
): Promise<void> {
  await db.query(
    `INSERT INTO multipart_uploads (video_id, kind, s3_upload_id, size, part_size, metadata, api_key_id)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
    [m.video_id, m.kind, m.s3_upload_id, m.size, m.part_size, JSON.stringify(m.metadata), m.api_key_id],
  );
}

export async function getMultipart(db: Queryable, videoId: string): Promise<MultipartRow | null> {
  const rows = await db.query<MultipartRow>('SELECT * FROM multipart_uploads WHERE video_id = $1', [videoId]);
  return rows[0] ?? null;
}

export async function listParts(db: Queryable, videoId: string): Promise<PartRow[]> {
  return db.query<PartRow>(
    'SELECT part_number, etag, size FROM multipart_parts WHERE video_id = $1 ORDER BY part_number',
    [videoId],
  );
}

export async function recordPart(db: Queryable, videoId: string, part: PartRow): Promise<void> {
  await db.query(
    `INSERT INTO multipart_parts (video_id, part_number, etag, size) VALUES ($1, $2, $3, $4)
     ON CONFLICT (video_id, part_number) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size`,
    [videoId, part.part_number, part.etag, part.size],
  );
}

export async function setTail(db: Queryable, videoId: string, tailSize: number): Promise<void> {
  await db.query('UPDATE multipart_uploads SET tail_size = $2 WHERE video_id = $1', [videoId, tailSize]);
}

export async function setSize(db: Queryable, videoId: string, size: number): Promise<void> {
  await db.query('UPDATE multipart_uploads SET size = $2 WHERE video_id = $1', [videoId, size]);
}

/** Moves an open upload on; false when it was not open (completed twice, aborted). */
export async function closeMultipart(
  db: Queryable,
  videoId: string,
  state: 'stored' | 'completed' | 'aborted',
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE multipart_uploads SET state = $2 WHERE video_id = $1 AND state = 'open' RETURNING video_id`,
    [videoId, state],
  );
  return rows.length > 0;
}

export async function deleteMultipart(db: Queryable, videoId: string): Promise<void> {
  await db.query('DELETE FROM multipart_uploads WHERE video_id = $1', [videoId]);
}

export async function expiredMultiparts(
  db: Queryable,
  kind: 'tus' | 'direct',
  olderThanSeconds: number,
): Promise<string[]> {
  const rows = await db.query<{ video_id: string }>(
    `SELECT video_id FROM multipart_uploads
      WHERE kind = $1 AND state = 'open' AND created_at < now() - make_interval(secs => $2)`,
    [kind, olderThanSeconds],
  );
  return rows.map((r) => r.video_id);
}

/** A stored upload whose parts storage has joined. */
export async function markAssembled(db: Queryable, videoId: string): Promise<void> {
  await db.query(
    `UPDATE multipart_uploads SET state = 'completed' WHERE video_id = $1 AND state = 'stored'`,
    [videoId],
  );
}

/**
 * Records a stored part of a tus upload; with it, at once, the tail's removal (the part holds the tail's
 * bytes) and the "stored" state (the part ends the upload).
 */
export async function recordTusPart(
  db: Db,
  videoId: string,
  part: PartRow,
  opts: { clearsTail: boolean; last: boolean },
): Promise<void> {
  if (!opts.clearsTail && !opts.last) {
    await recordPart(db, videoId, part);
    return;
  }
  await db.transaction(async (tx) => {
    await recordPart(tx, videoId, part);
    if (opts.clearsTail) await setTail(tx, videoId, 0);
    if (opts.last) await closeMultipart(tx, videoId, 'stored');
  });
}

/** Sets a multipart upload's state whatever it was (a refused direct upload, a failed completion). */
export async function setMultipartState(
  db: Queryable,
  videoId: string,
  state: 'open' | 'aborted',
): Promise<void> {
  await db.query('UPDATE multipart_uploads SET state = $2 WHERE video_id = $1', [videoId, state]);
}

/**
 * The captions table: a video's subtitle tracks, uploaded (POST /v1/videos/{id}/captions) or extracted
 * from a text subtitle stream of the source (the finish task). Each is one WebVTT object in the store;
 * its segmented playlist is rendered on request.
 */
import type { Queryable } from '../core/ports.js';

export interface CaptionRow {
  id: string;
  video_id: string;
  /** BCP 47 */
  language: string;
  name: string;
  closed_captions: boolean;
  origin: 'upload' | 'source';
  source_stream: number | null;
  key: string;
  bytes: number;
  created_at: Date | string;
}

export type NewCaption = Omit<CaptionRow, 'created_at' | 'video_id'>;

/** Records a caption track; one extracted from a source stream already recorded is kept as it was. */
export async function insertCaption(db: Queryable, videoId: string, c: NewCaption): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO captions (id, video_id, language, name, closed_captions, origin, source_stream, key, bytes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (video_id, source_stream) DO NOTHING RETURNING id`,
    [c.id, videoId, c.language, c.name, c.closed_captions, c.origin, c.source_stream, c.key, c.bytes],
  );
  return rows.length > 0;
}

/** A video's caption tracks, oldest first (the order of the master's SUBTITLES group). */
export async function listCaptions(db: Queryable, videoId: string): Promise<CaptionRow[]> {
  const rows = await db.query<CaptionRow>(
    'SELECT * FROM captions WHERE video_id = $1 ORDER BY created_at, id',
    [videoId],
  );
  return rows.map((r) => ({ ...r, bytes: Number(r.bytes) }));
}

/** One caption track of a video, or null. */
export async function getCaption(db: Queryable, videoId: string, id: string): Promise<CaptionRow | null> {
  const rows = await db.query<CaptionRow>('SELECT * FROM captions WHERE video_id = $1 AND id = $2', [
    videoId,
    id,
  ]);
  const r = rows[0];
  return r ? { ...r, bytes: Number(r.bytes) } : null;
}

/** Removes a caption track; the removed row (its key names the object to delete), or null. */
export async function deleteCaption(db: Queryable, videoId: string, id: string): Promise<CaptionRow | null> {
  const rows = await db.query<CaptionRow>(
    'DELETE FROM captions WHERE video_id = $1 AND id = $2 RETURNING *',
    [videoId, id],
  );
  return rows[0] ?? null;
}

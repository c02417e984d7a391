/**
 * Reads of `outputs`: every file a chunked video has published, under the path a player asks for (as
 * played under /play/{video}/{access}/). The rows are written by the worker side when a task's attempt
 * commits; nothing here writes.
 */
import type { Queryable } from '../core/ports.js';

/** The object that answers a published path of a video, or null (not published, or not this video's). */
export async function outputKey(
  db: Queryable,
  videoId: string,
  path: string,
): Promise<{ key: string; bytes: number } | null> {
  const rows = await db.query<{ key: string; bytes: string | number }>(
    'SELECT key, bytes FROM outputs WHERE video_id = $1 AND path = $2',
    [videoId, path],
  );
  const row = rows[0];
  return row ? { key: row.key, bytes: Number(row.bytes) } : null;
}

export interface PublishedSegment {
  seq: number;
  duration: number;
}

/**
 * The published segments of a video, per rendition (video rung name, or "audio"), in sequence order; only
 * `rendition`'s when one is named.
 */
export async function listSegments(
  db: Queryable,
  videoId: string,
  rendition?: string,
): Promise<Map<string, PublishedSegment[]>> {
  const rows = await db.query<{ rendition: string; seq: number; duration: number | string }>(
    `SELECT rendition, seq, duration FROM outputs
      WHERE video_id = $1 AND seq IS NOT NULL AND rendition IS NOT NULL
        AND ($2::text IS NULL OR rendition = $2::text)
      ORDER BY rendition, seq`,
    [videoId, rendition ?? null],
  );
  const out = new Map<string, PublishedSegment[]>();
  for (const r of rows) {
    const list = out.get(r.rendition) ?? [];
    list.push({ seq: Number(r.seq), duration: Number(r.duration) });
    out.set(r.rendition, list);
  }
  return out;
}

/**
 * The outputs table: every file a chunked video has published, under the path a player asks for and the
 * object that answers it. Rows are only ever added (in the fenced commit of the task that wrote them); a
 * published path never changes its object.
 */
import type { Queryable } from '../core/ports.js';

export interface PublishedFile {
  /** As played under /play/{video}/{access}/: `720p/seg_00003.m4s`, `720p/init.mp4`, `poster.jpg`. */
  path: string;
  key: string;
  rendition: string | null;
  seq: number | null;
  duration: number | null;
  bytes: number;
}

/** Records published files; a path already published keeps its object (a retried audio part). */
export async function insertOutputs(
  db: Queryable,
  videoId: string,
  taskId: number,
  files: readonly PublishedFile[],
): Promise<void> {
  const BATCH = 50;
  for (let i = 0; i < files.length; i += BATCH) {
    const batch = files.slice(i, i + BATCH);
    const params: unknown[] = [videoId, taskId];
    const values = batch.map((f) => {
      params.push(f.path, f.key, f.rendition, f.seq, f.duration, f.bytes);
      const n = params.length;
      return `($1, $${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}::int, $${n - 1}::float8, $${n}::bigint, $2)`;
    });
    await db.query(
      `INSERT INTO outputs (video_id, path, key, rendition, seq, duration, bytes, task_id)
       VALUES ${values.join(', ')} ON CONFLICT (video_id, path) DO NOTHING`,
      params,
    );
  }
}

/** The renditions (by name) whose first segment is published. */
export async function renditionsStarted(db: Queryable, videoId: string): Promise<Set<string>> {
  const rows = await db.query<{ rendition: string }>(
    'SELECT DISTINCT rendition FROM outputs WHERE video_id = $1 AND seq = 0',
    [videoId],
  );
  return new Set(rows.map((r) => r.rendition));
}

/** Every published segment of a video: rendition, duration and size, in sequence order. */
export async function segmentSizes(
  db: Queryable,
  videoId: string,
): Promise<Map<string, { seq: number; duration: number; bytes: number }[]>> {
  const rows = await db.query<{ rendition: string; seq: number; duration: number; bytes: number | string }>(
    `SELECT rendition, seq, duration, bytes FROM outputs
      WHERE video_id = $1 AND seq IS NOT NULL ORDER BY rendition, seq`,
    [videoId],
  );
  const out = new Map<string, { seq: number; duration: number; bytes: number }[]>();
  for (const r of rows) {
    const list = out.get(r.rendition) ?? [];
    list.push({ seq: r.seq, duration: Number(r.duration), bytes: Number(r.bytes) });
    out.set(r.rendition, list);
  }
  return out;
}

/** Paths of a rendition already published (an audio retry skips them). */
export async function publishedPaths(
  db: Queryable,
  videoId: string,
  rendition: string,
): Promise<Set<string>> {
  const rows = await db.query<{ path: string }>(
    'SELECT path FROM outputs WHERE video_id = $1 AND rendition = $2',
    [videoId, rendition],
  );
  return new Set(rows.map((r) => r.path));
}

/**
 * The statements of MP4 downloads (issue 13): the published files of a rendition that a download is
 * remuxed from, and the removal of a video's downloads (`mp4: false`). Their rows live in `outputs` under
 * `download/`, published by the finish task (jobs/downloads.ts, jobs/taskQueue.ts publishTask).
 */
import type { Queryable } from '../core/ports.js';

/**
 * The objects of a published rendition, in stream order: its init segment, then its segments by seq
 * (only those: whatever else a rendition may publish is not part of its stream).
 */
export async function renditionObjects(
  db: Queryable,
  videoId: string,
  rendition: string,
): Promise<{ path: string; key: string; bytes: number }[]> {
  const rows = await db.query<{ path: string; key: string; bytes: string | number }>(
    `SELECT path, key, bytes FROM outputs
      WHERE video_id = $1 AND rendition = $2
        AND (path = $2 || '/init.mp4' OR (seq IS NOT NULL AND starts_with(path, $2 || '/seg_')))
      ORDER BY seq NULLS FIRST`,
    [videoId, rendition],
  );
  return rows.map((r) => ({ path: r.path, key: r.key, bytes: Number(r.bytes) }));
}

/** Removes a video's published downloads (their rows and `downloads`); the keys of their objects. */
export async function removeDownloads(db: Queryable, videoId: string): Promise<string[]> {
  const rows = await db.query<{ key: string }>(
    `DELETE FROM outputs WHERE video_id = $1 AND path LIKE 'download/%' RETURNING key`,
    [videoId],
  );
  await db.query('UPDATE videos SET downloads = NULL WHERE id = $1', [videoId]);
  return rows.map((r) => r.key);
}

/** A video's downloads are no longer wanted (PATCH mp4: false): finish tasks not yet run drop `mp4`. */
export async function dropDownloadsFromTasks(db: Queryable, videoId: string): Promise<void> {
  await db.query(
    `UPDATE tasks SET spec = jsonb_set(spec, '{finish,mp4}', 'false'::jsonb), updated_at = now()
      WHERE video_id = $1 AND kind = 'finish' AND state IN ('queued', 'failed', 'cancelled')`,
    [videoId],
  );
}

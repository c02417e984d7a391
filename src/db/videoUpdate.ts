/** PATCH /v1/videos/{id}: the fields a client may change on a video after it was created. */
import type { Queryable } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import { dropDownloadsFromTasks, removeDownloads } from './downloads.js';
import { notifyJobQueued } from './jobs.js';
import { lockVideoWork, queueDownloadsTask } from './tasks.js';
import type { VideoRow } from './videos.js';

/** The changes to make: a field left undefined is kept; externalId null clears it. */
export interface VideoUpdate {
  title?: string | undefined;
  externalId?: string | null | undefined;
  playbackPolicy?: PlaybackPolicy | undefined;
  /** MP4 downloads wanted (see applyMp4 for what else changes). */
  mp4?: boolean | undefined;
}

/** Applies the changes in one statement; the row as it is now, or null when no video has this id. */
export async function updateVideo(db: Queryable, id: string, u: VideoUpdate): Promise<VideoRow | null> {
  const rows = await db.query<VideoRow>(
    `UPDATE videos
        SET title = CASE WHEN $2::boolean THEN $3::text ELSE title END,
            external_id = CASE WHEN $4::boolean THEN $5::text ELSE external_id END,
            playback_policy = CASE WHEN $6::boolean THEN $7::text ELSE playback_policy END,
            mp4 = COALESCE($8::boolean, mp4)
      WHERE id = $1
      RETURNING *`,
    [
      id,
      u.title !== undefined,
      u.title ?? null,
      u.externalId !== undefined,
      u.externalId ?? null,
      u.playbackPolicy !== undefined,
      u.playbackPolicy ?? null,
      u.mp4 ?? null,
    ],
  );
  return rows[0] ?? null;
}

/**
 * What `mp4` changes besides the flag (in the transaction that set it, after updateVideo). true: a video
 * already planned without its downloads gets a finish task that makes them (db/tasks.ts
 * queueDownloadsTask; a video not planned yet reads the flag when it is). false: its downloads go at once
 * (their rows and `downloads`; their URLs answer 404) and finish tasks not yet run drop them. Returns the
 * store keys of the removed downloads, for the caller to delete after the commit.
 */
export async function applyMp4(
  db: Queryable,
  row: VideoRow,
  mp4: boolean,
  maxAttempts: number,
): Promise<string[]> {
  // Serialised with the commits of the video's tasks (db/tasks.ts lockVideoWork).
  await lockVideoWork(db, row.id);
  if (!mp4) {
    await dropDownloadsFromTasks(db, row.id);
    return removeDownloads(db, row.id);
  }
  if (row.downloads === null && (await queueDownloadsTask(db, row.id, maxAttempts)) === 'queued')
    await notifyJobQueued(db, row.id);
  return [];
}

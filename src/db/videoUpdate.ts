/** PATCH /v1/videos/{id}: the fields a client may change on a video after it was created. */
import type { Queryable } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import type { VideoRow } from './videos.js';

/** The changes to make: a field left undefined is kept; externalId null clears it. */
export interface VideoUpdate {
  title?: string | undefined;
  externalId?: string | null | undefined;
  playbackPolicy?: PlaybackPolicy | undefined;
}

/** Applies the changes in one statement; the row as it is now, or null when no video has this id. */
export async function updateVideo(db: Queryable, id: string, u: VideoUpdate): Promise<VideoRow | null> {
  const rows = await db.query<VideoRow>(
    `UPDATE videos
        SET title = CASE WHEN $2::boolean THEN $3::text ELSE title END,
            external_id = CASE WHEN $4::boolean THEN $5::text ELSE external_id END,
            playback_policy = CASE WHEN $6::boolean THEN $7::text ELSE playback_policy END
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
    ],
  );
  return rows[0] ?? null;
}

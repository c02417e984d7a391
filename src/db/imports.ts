/**
 * The statements of imports from a URL: the imported video's row (queued at once, with its URL and no
 * source yet) and the fenced record of the source a planning attempt fetched. Transactions are composed
 * by the caller (http/imports.ts) from these and db/jobs.ts's.
 */

import type { Queryable } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import type { JobToken } from './jobs.js';
import type { VideoRow } from './videos.js';

/** A new imported video: queued, with the URL its source is fetched from. */
export async function insertImportedVideo(
  db: Queryable,
  v: {
    id: string;
    title: string;
    filename: string;
    playbackPolicy: PlaybackPolicy;
    sourceUrl: string;
    externalId?: string | null;
    apiKeyId?: string | undefined;
    mp4?: boolean | undefined;
  },
): Promise<VideoRow> {
  const [row] = await db.query<VideoRow>(
    `INSERT INTO videos (id, title, filename, status, playback_policy, api_key_id, source_url, external_id, mp4)
     VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8) RETURNING *`,
    [
      v.id,
      v.title,
      v.filename,
      v.playbackPolicy,
      v.apiKeyId ?? null,
      v.sourceUrl,
      v.externalId ?? null,
      v.mp4 === true,
    ],
  );
  return row!;
}

/** The URL a video is imported from; null for an upload (or an unknown video). */
export async function importUrlOf(db: Queryable, videoId: string): Promise<string | null> {
  const rows = await db.query<{ source_url: string | null }>('SELECT source_url FROM videos WHERE id = $1', [
    videoId,
  ]);
  return rows[0]?.source_url ?? null;
}

/**
 * Records the source a planning attempt fetched (fenced: only while that attempt holds the video's job).
 * The key of the source it replaces (an earlier attempt's, now unused), or null when there was none;
 * false when the attempt no longer held the job, and nothing was recorded.
 */
export async function recordImportedSource(
  db: Queryable,
  job: JobToken & { videoId: string },
  source: { key: string; size: number },
): Promise<{ previous: string | null } | false> {
  const rows = await db.query<{ previous: string | null }>(
    `WITH old AS (SELECT source_key FROM videos WHERE id = $3)
     UPDATE videos v SET source_key = $4, source_size = $5
       FROM jobs j, old
      WHERE v.id = $3 AND j.video_id = v.id AND j.id = $1 AND j.attempt = $2 AND j.state = 'running'
     RETURNING old.source_key AS previous`,
    [job.jobId, job.attempt, job.videoId, source.key, source.size],
  );
  return rows[0] ?? false;
}

/** Queries about videos, and the API view of a video row. */
import type { Queryable } from '../core/ports.js';
import type { PlaybackPolicy, RenditionInfo, VideoStatus } from '../core/types.js';
import { insertJob, notifyJobQueued } from './jobs.js';

export interface VideoRow {
  id: string;
  title: string;
  filename: string;
  status: VideoStatus;
  progress: number;
  error: string | null;
  error_code: string | null;
  playback_policy: PlaybackPolicy;
  source_key: string | null;
  source_size: number | null;
  duration_ms: number | null;
  width: number | null;
  height: number | null;
  output_prefix: string | null;
  renditions: RenditionInfo[];
  api_key_id: string | null;
  /** The caller's own id for the video (issue 12); not unique. */
  external_id: string | null;
  created_at: Date | string;
  ready_at: Date | string | null;
  /** When the first chunk of every rung and the first audio segments were published (chunked videos). */
  playable_at: Date | string | null;
  /** The planned audio rendition; null when the source has none (or for videos processed before chunks). */
  audio: VideoAudio | null;
  /** `mp4: true`: MP4 downloads are made (issue 13). */
  mp4: boolean;
  /** The published downloads, or null. */
  downloads: VideoDownload[] | null;
  /** Every audio rendition (the first is `audio`, the default); null: `audio` is the only one. */
  audio_tracks: AudioTrack[] | null;
  /** A poster chosen after upload (migration 019): its object, and the time of its frame (seconds). */
  poster_key?: string | null;
  poster_time?: number | null;
}

/** A published MP4 (or M4A) download: `download/{name}.mp4` (`audio` → `download/audio.m4a`). */
export interface VideoDownload {
  name: string;
  width: number | null;
  height: number | null;
  /** bytes */
  size: number;
}

/** One audio rendition of the master's audio group. */
export interface AudioTrack {
  /** The rendition's name (its directory): `audio` for the first, then `audio_1`, `audio_2`, … */
  name: string;
  /** BCP 47, when the source tags the stream. */
  language: string | null;
  /** The NAME the master gives it ("English", the stream's title, or "Track 2"). */
  label: string;
  channels: number;
  /** The first track: DEFAULT=YES. */
  default: boolean;
}

/** `videos.audio`: the audio group of a chunked video's master playlist. */
export interface VideoAudio {
  name: string;
  codecs: string;
  /** bits/s */
  bandwidth: number;
  channels: number;
}

/**
 * Whether a video can be played: ready, or (chunked) its first chunk of every rung and its first audio
 * are published and it has not failed. Playback, the playback URL and the pages follow this one rule.
 */
export function isPlayable(row: Pick<VideoRow, 'status' | 'playable_at'>): boolean {
  return (
    row.status === 'ready' ||
    (row.playable_at !== null && row.playable_at !== undefined && row.status !== 'failed')
  );
}

export interface VideoView {
  id: string;
  title: string;
  status: VideoStatus;
  progress: number;
  error: string | null;
  durationMs: number | null;
  width: number | null;
  height: number | null;
  playbackPolicy: PlaybackPolicy;
  renditions: Omit<RenditionInfo, 'frameRate'>[];
  createdAt: string;
  readyAt: string | null;
  /** Playback can start (ready, or enough of a chunked video is published). */
  playable: boolean;
  playableAt: string | null;
  /** The caller's own id for the video, or null. */
  externalId: string | null;
  /** MP4 downloads asked for. */
  mp4: boolean;
  /** The published downloads ([] when none, or when mp4 is false). */
  downloads: VideoDownload[];
  /** Bytes of the uploaded source, once uploaded. */
  sourceSize: number | null;
  /** The time (seconds) of the frame chosen as the poster after upload; null: the transcode's own. */
  posterTime: number | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function toView(row: VideoRow): VideoView {
  return {
    id: row.id,
    title: row.title,
    status: row.status,
    progress: row.status === 'ready' ? 1 : Math.min(1, Math.max(0, row.progress)),
    error: row.error,
    durationMs: row.duration_ms,
    width: row.width,
    height: row.height,
    playbackPolicy: row.playback_policy,
    renditions: row.renditions.map(({ name, width, height, bandwidth, averageBandwidth, codecs }) => ({
      name,
      width,
      height,
      bandwidth,
      averageBandwidth,
      codecs,
    })),
    createdAt: iso(row.created_at)!,
    readyAt: iso(row.ready_at),
    playable: isPlayable(row),
    // Videos that were ready before chunks have no playable_at of their own: they became playable when ready.
    playableAt: isPlayable(row) ? iso(row.playable_at ?? row.ready_at) : null,
    externalId: row.external_id ?? null,
    mp4: row.mp4 === true,
    // Hidden as soon as mp4 is false, even while a finish task that was making them commits.
    downloads: row.mp4 === true ? (row.downloads ?? []) : [],
    sourceSize: row.source_size === null || row.source_size === undefined ? null : Number(row.source_size),
    posterTime: row.poster_time === null || row.poster_time === undefined ? null : Number(row.poster_time),
  };
}

export async function insertUploadingVideo(
  db: Queryable,
  v: {
    id: string;
    title: string;
    filename: string;
    playbackPolicy: PlaybackPolicy;
    apiKeyId?: string | undefined;
    /** The caller's own id (at most 255 characters, checked by the caller). */
    externalId?: string | null | undefined;
    /** MP4 downloads wanted (default false). */
    mp4?: boolean | undefined;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO videos (id, title, filename, status, playback_policy, api_key_id, external_id, mp4)
     VALUES ($1, $2, $3, 'uploading', $4, $5, $6, $7)`,
    [v.id, v.title, v.filename, v.playbackPolicy, v.apiKeyId ?? null, v.externalId ?? null, v.mp4 === true],
  );
}

/** Whose upload this is: an unfinished upload belongs to the API key that began it. */
export async function uploadOwner(db: Queryable, id: string): Promise<string | null | undefined> {
  const rows = await db.query<{ api_key_id: string | null }>(
    `SELECT api_key_id FROM videos WHERE id = $1 AND status = 'uploading'`,
    [id],
  );
  return rows[0] === undefined ? undefined : rows[0].api_key_id;
}

/** The finished upload: the video becomes queued and its job is created, in one transaction. */
export async function queueUploadedVideo(
  db: Queryable & { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  v: { id: string; sourceKey: string; sourceSize: number; maxAttempts: number },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await markUploadQueued(tx, v))) return false;
    await insertJob(tx, { videoId: v.id, maxAttempts: v.maxAttempts });
    await notifyJobQueued(tx, v.id);
    return true;
  });
}

/** An upload that finished: the video becomes queued with its source. False: it was not uploading. */
export async function markUploadQueued(
  db: Queryable,
  v: { id: string; sourceKey: string; sourceSize: number },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE videos SET status = 'queued', source_key = $2, source_size = $3
      WHERE id = $1 AND status = 'uploading' RETURNING id`,
    [v.id, v.sourceKey, v.sourceSize],
  );
  return rows.length > 0;
}

/** The video waits for its job again (after a retryable failure, or a job handed back). */
export async function markVideoQueued(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE videos SET status = 'queued', progress = 0 WHERE id = $1`, [id]);
}

/** The video failed for good, with the error that says why. */
export async function markVideoFailed(
  db: Queryable,
  id: string,
  err: { message: string; code: string },
): Promise<void> {
  await db.query(
    `UPDATE videos SET status = 'failed', error = $2, error_code = $3, progress = 0 WHERE id = $1`,
    [id, err.message, err.code],
  );
}

/** A failed video is queued again (its job too, by the caller); the row as requeued, or null. */
export async function requeueFailedVideo(db: Queryable, id: string): Promise<VideoRow | null> {
  const [video] = await db.query<VideoRow>(
    `UPDATE videos SET status = 'queued', error = NULL, error_code = NULL, progress = 0
      WHERE id = $1 AND status = 'failed' RETURNING *`,
    [id],
  );
  return video ?? null;
}

export async function getVideo(db: Queryable, id: string): Promise<VideoRow | null> {
  const rows = await db.query<VideoRow>('SELECT * FROM videos WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/**
 * A place in the list of videos: the exact creation time (UTC, microseconds) and the id; in the title
 * order, the title too.
 */
export interface ListPosition {
  /** e.g. 2026-03-01T10:00:00.123456Z */
  createdAt: string;
  id: string;
  /** Only in the title order (sort=title). */
  title?: string | undefined;
}

/** The orders of GET /v1/videos: newest first (the default), oldest first, by title (A→Z). */
export const LIST_SORTS = ['newest', 'oldest', 'title'] as const;
export type ListSort = (typeof LIST_SORTS)[number];

/** What GET /v1/videos may filter on; every filter given must match. */
export interface ListFilters {
  status?: VideoStatus | undefined;
  /** Exact match. */
  externalId?: string | undefined;
  /** A case-insensitive substring of the title. */
  q?: string | undefined;
  /** Only videos with this playback policy. */
  policy?: PlaybackPolicy | undefined;
}

/** A LIKE pattern that matches `text` anywhere, its own % _ and \ taken literally (ESCAPE '\'). */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * A page of videos in `sort` order (default newest first; ties by id), after a position or created before
 * a time, that match the filters; `next` is the position of its last video when more follow. The title
 * order compares titles case-insensitively (lower()), then creation time and id.
 */
export async function listVideos(
  db: Queryable,
  opts: {
    limit: number;
    after?: ListPosition | undefined;
    before?: string | undefined;
    sort?: ListSort | undefined;
  } & ListFilters,
): Promise<{ rows: VideoRow[]; next: ListPosition | null }> {
  const sort = opts.sort ?? 'newest';
  const after =
    sort === 'newest'
      ? '($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text))'
      : sort === 'oldest'
        ? '($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::text))'
        : '($2::timestamptz IS NULL OR (lower(title), created_at, id) > (lower($9::text), $2::timestamptz, $3::text))';
  const order =
    sort === 'newest'
      ? 'created_at DESC, id DESC'
      : sort === 'oldest'
        ? 'created_at ASC, id ASC'
        : 'lower(title) ASC, created_at ASC, id ASC';
  const rows = await db.query<VideoRow & { position_at: string }>(
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position_at
       FROM videos
      WHERE ${after}
        AND ($4::timestamptz IS NULL OR created_at < $4::timestamptz)
        AND ($5::text IS NULL OR status = $5::text)
        AND ($6::text IS NULL OR external_id = $6::text)
        AND ($7::text IS NULL OR title ILIKE $7::text ESCAPE '\\')
        AND ($8::text IS NULL OR playback_policy = $8::text)
        AND ($9::text IS NULL OR TRUE)
      ORDER BY ${order} LIMIT $1`,
    [
      opts.limit + 1,
      opts.after?.createdAt ?? null,
      opts.after?.id ?? null,
      opts.before ?? null,
      opts.status ?? null,
      opts.externalId ?? null,
      opts.q === undefined ? null : containsPattern(opts.q),
      opts.policy ?? null,
      sort === 'title' ? (opts.after?.title ?? '') : null,
    ],
  );
  const page = rows.slice(0, opts.limit);
  const last = page[page.length - 1];
  return {
    rows: page,
    next:
      rows.length > opts.limit && last
        ? { createdAt: last.position_at, id: last.id, ...(sort === 'title' ? { title: last.title } : {}) }
        : null,
  };
}

export async function deleteVideoRow(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('DELETE FROM videos WHERE id = $1 RETURNING id', [id]);
  return rows.length > 0;
}

/**
 * Uploads begun before the cutoff and never finished. An upload link's video counts from its upload's
 * creation, and goes when the link expires unused.
 */
export async function staleUploadingVideos(db: Queryable, olderThanSeconds: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT v.id FROM videos v LEFT JOIN upload_links l ON l.video_id = v.id
      WHERE v.status = 'uploading' AND CASE
        WHEN l.video_id IS NULL THEN v.created_at < now() - make_interval(secs => $1)
        WHEN l.upload_created_at IS NULL THEN l.expires_at < now()
        ELSE l.upload_created_at < now() - make_interval(secs => $1) END`,
    [olderThanSeconds],
  );
  return rows.map((r) => r.id);
}

export async function uploadingVideoIds(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`SELECT id FROM videos WHERE status = 'uploading'`);
  return rows.map((r) => r.id);
}

/** Whether a video row exists (a video deleted while its upload was being joined has none). */
export async function videoExists(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM videos WHERE id = $1', [id]);
  return rows.length > 0;
}

/** Removes the video of an upload terminated before it finished (a queued video stays). */
export async function deleteUploadingVideo(db: Queryable, id: string): Promise<void> {
  await db.query(`DELETE FROM videos WHERE id = $1 AND status = 'uploading'`, [id]);
}

/** A planned chunked video: what the probe found and the renditions it will have (ceilings until ready). */
export async function markVideoPlanned(
  db: Queryable,
  id: string,
  v: {
    durationMs: number;
    width: number;
    height: number;
    renditions: RenditionInfo[];
    audio: { name: string; codecs: string; bandwidth: number; channels: number } | null;
    /** Every audio rendition; null or absent: `audio` is the only one. */
    audioTracks?: AudioTrack[] | null;
  },
): Promise<void> {
  await db.query(
    `UPDATE videos SET status = 'processing', progress = 0, duration_ms = $2, width = $3, height = $4,
            renditions = $5::jsonb, audio = $6::jsonb, audio_tracks = $7::jsonb, output_prefix = NULL
      WHERE id = $1`,
    [
      id,
      v.durationMs,
      v.width,
      v.height,
      JSON.stringify(v.renditions),
      v.audio ? JSON.stringify(v.audio) : null,
      v.audioTracks?.length ? JSON.stringify(v.audioTracks) : null,
    ],
  );
}

/** The planned renditions and audio of a chunked video (read inside a task's commit). */
export async function plannedRenditions(
  db: Queryable,
  id: string,
): Promise<{
  renditions: RenditionInfo[];
  audio: { name: string; codecs: string; bandwidth: number; channels: number } | null;
  audioTracks: AudioTrack[] | null;
} | null> {
  const rows = await db.query<{
    renditions: RenditionInfo[] | string;
    audio: unknown;
    audio_tracks: unknown;
  }>('SELECT renditions, audio, audio_tracks FROM videos WHERE id = $1', [id]);
  const r = rows[0];
  if (!r) return null;
  const parse = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
  return {
    renditions: parse<RenditionInfo[]>(r.renditions),
    audio: parse(r.audio),
    audioTracks: parse(r.audio_tracks),
  };
}

/** Writes the renditions (codecs from the first chunk; measured bit rates at the end). */
export async function setRenditions(db: Queryable, id: string, renditions: RenditionInfo[]): Promise<void> {
  await db.query('UPDATE videos SET renditions = $2::jsonb WHERE id = $1', [id, JSON.stringify(renditions)]);
}

/** Progress of a chunked video, and playable from now on when `playable` (set once). */
export async function markVideoProgress(
  db: Queryable,
  id: string,
  progress: number,
  playable: boolean,
): Promise<void> {
  await db.query(
    `UPDATE videos SET progress = $2,
            playable_at = CASE WHEN $3::boolean AND playable_at IS NULL THEN now() ELSE playable_at END
      WHERE id = $1`,
    [id, progress, playable],
  );
}

/** Records the published downloads of a video (the finish task's commit). */
export async function setDownloads(
  db: Queryable,
  id: string,
  downloads: VideoDownload[] | null,
): Promise<void> {
  await db.query('UPDATE videos SET downloads = $2::jsonb WHERE id = $1', [
    id,
    downloads ? JSON.stringify(downloads) : null,
  ]);
}

/** Every chunk is in: the video is ready with its measured renditions. */
export async function markChunkedReady(
  db: Queryable,
  id: string,
  renditions: RenditionInfo[],
): Promise<void> {
  await db.query(
    `UPDATE videos SET status = 'ready', progress = 1, error = NULL, error_code = NULL, renditions = $2::jsonb,
            ready_at = CASE WHEN status = 'ready' THEN COALESCE(ready_at, now()) ELSE now() END,
            playable_at = COALESCE(playable_at, now())
      WHERE id = $1`,
    [id, JSON.stringify(renditions)],
  );
}

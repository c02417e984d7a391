/**
 * The outputs table: every file a chunked video has published, under the path a player asks for (as
 * played under /play/{video}/{access}/) and the object that answers it. Rows are only ever added, in the
 * fenced commit of the task that wrote them; a published path never changes its object.
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
  bytes: number;
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
  const rows = await db.query<{
    rendition: string;
    seq: number;
    duration: number | string;
    bytes: number | string;
  }>(
    `SELECT rendition, seq, duration, bytes FROM outputs
      WHERE video_id = $1 AND seq IS NOT NULL AND rendition IS NOT NULL
        AND ($2::text IS NULL OR rendition = $2::text)
      ORDER BY rendition, seq`,
    [videoId, rendition ?? null],
  );
  const out = new Map<string, PublishedSegment[]>();
  for (const r of rows) {
    const list = out.get(r.rendition) ?? [];
    list.push({ seq: Number(r.seq), duration: Number(r.duration), bytes: Number(r.bytes) });
    out.set(r.rendition, list);
  }
  return out;
}

export interface PublishedFile {
  /** As played under /play/{video}/{access}/: `720p/seg_00003.m4s`, `720p/init.mp4`, `poster.jpg`. */
  path: string;
  key: string;
  rendition: string | null;
  seq: number | null;
  duration: number | null;
  bytes: number;
  /** Video segments: the byte ranges of their keyframes (I-frame playlists). */
  iframes?: readonly { offset: number; length: number; duration: number }[] | undefined;
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
      params.push(
        f.path,
        f.key,
        f.rendition,
        f.seq,
        f.duration,
        f.bytes,
        f.iframes ? JSON.stringify(f.iframes) : null,
      );
      const n = params.length;
      return `($1, $${n - 6}, $${n - 5}, $${n - 4}, $${n - 3}::int, $${n - 2}::float8, $${n - 1}::bigint, $2, $${n}::jsonb)`;
    });
    await db.query(
      `INSERT INTO outputs (video_id, path, key, rendition, seq, duration, bytes, task_id, iframes)
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

export interface SegmentKeyframes {
  seq: number;
  /** Byte ranges of the segment's keyframes, in order; [] for a segment published without them. */
  iframes: { offset: number; length: number; duration: number }[];
}

/** The keyframes of a rendition's published segments, in sequence order. */
export async function listKeyframes(
  db: Queryable,
  videoId: string,
  rendition: string,
): Promise<SegmentKeyframes[]> {
  const rows = await db.query<{ seq: number; iframes: unknown }>(
    `SELECT seq, iframes FROM outputs
      WHERE video_id = $1 AND rendition = $2 AND seq IS NOT NULL ORDER BY seq`,
    [videoId, rendition],
  );
  return rows.map((r) => ({
    seq: Number(r.seq),
    iframes: (typeof r.iframes === 'string'
      ? JSON.parse(r.iframes)
      : (r.iframes ?? [])) as SegmentKeyframes['iframes'],
  }));
}

/** The storyboard sheets published so far: chunk index and the seconds of video each spans. */
export async function listStoryboardSheets(
  db: Queryable,
  videoId: string,
): Promise<{ index: number; duration: number }[]> {
  const rows = await db.query<{ path: string; duration: number | string }>(
    `SELECT path, duration FROM outputs WHERE video_id = $1 AND path LIKE 'storyboard/%' AND duration IS NOT NULL`,
    [videoId],
  );
  return rows.flatMap((r) => {
    const m = /^storyboard\/(\d+)\.jpg$/.exec(r.path);
    return m ? [{ index: Number(m[1]), duration: Number(r.duration) }] : [];
  });
}

/** Viewing analytics in the database (migration 018): raw beacons, the daily rollup, the salts, reading. */

import { type DayTotals, emptyDay, type FoldedBeacon } from '../analytics/stats.js';
import type { Queryable } from '../core/ports.js';

/** UTC today by the database's clock. */
const TODAY = "(now() AT TIME ZONE 'UTC')::date";

/** Today's salt (made by the first process that asks) and its day, YYYY-MM-DD. */
export async function todaysSalt(db: Queryable, fresh: string): Promise<{ day: string; salt: string }> {
  await db.query(
    `INSERT INTO analytics_salts (day, salt) VALUES (${TODAY}, $1) ON CONFLICT (day) DO NOTHING`,
    [fresh],
  );
  const [row] = await db.query<{ day: string; salt: string }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, salt FROM analytics_salts WHERE day = ${TODAY}`,
  );
  return row!;
}

export interface RawEvent extends FoldedBeacon {
  videoId: string;
  day: string;
  viewer: string | null;
}

export async function insertViewEvent(db: Queryable, e: RawEvent): Promise<void> {
  await db.query(
    `INSERT INTO view_events (video_id, day, started, viewer, referrer, startup_ms, playing_ms, bitrate_bits,
       bitrate_ms, rebuffers, rebuffer_ms, switches, errors, reached)
     VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
      e.videoId,
      e.day,
      e.started,
      e.viewer,
      e.referrer,
      e.startupMs,
      e.playingMs,
      e.bitrateBits,
      e.bitrateMs,
      e.rebuffers,
      e.rebufferMs,
      e.switches,
      e.errors,
      e.reached,
    ],
  );
}

interface EventRow {
  video_id: string;
  day: string;
  started: boolean;
  viewer: string | null;
  referrer: string | null;
  startup_ms: number | null;
  playing_ms: number;
  bitrate_bits: number;
  bitrate_ms: number;
  rebuffers: number;
  rebuffer_ms: number;
  switches: number;
  errors: number;
  reached: number;
}

/** Takes (deletes and returns) up to `limit` raw rows that no other transaction holds. */
export async function takeViewEvents(
  tx: Queryable,
  limit: number,
): Promise<(FoldedBeacon & { videoId: string; day: string; viewer: string | null })[]> {
  const rows = await tx.query<EventRow>(
    `DELETE FROM view_events WHERE id IN (
       SELECT id FROM view_events ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING video_id, to_char(day, 'YYYY-MM-DD') AS day, started, viewer, referrer, startup_ms, playing_ms,
       bitrate_bits, bitrate_ms, rebuffers, rebuffer_ms, switches, errors, reached`,
    [limit],
  );
  return rows.map((r) => ({
    videoId: r.video_id,
    day: r.day,
    viewer: r.viewer,
    started: r.started,
    referrer: r.referrer,
    startupMs: r.startup_ms === null ? null : Number(r.startup_ms),
    playingMs: Number(r.playing_ms),
    bitrateBits: Number(r.bitrate_bits),
    bitrateMs: Number(r.bitrate_ms),
    rebuffers: Number(r.rebuffers),
    rebufferMs: Number(r.rebuffer_ms),
    switches: Number(r.switches),
    errors: Number(r.errors),
    reached: Number(r.reached),
  }));
}

/** Records viewer hashes for a video's day; how many were new (the day's unique viewers grow by that). */
export async function addViewers(tx: Queryable, videoId: string, day: string, viewers: string[]) {
  if (viewers.length === 0) return 0;
  const added = await tx.query(
    `INSERT INTO viewer_days (video_id, day, viewer) SELECT $1, $2::date, v FROM unnest($3::text[]) AS v
     ON CONFLICT DO NOTHING RETURNING viewer`,
    [videoId, day, viewers],
  );
  return added.length;
}

interface DayRow {
  day: string;
  views: number;
  unique_viewers: number;
  watch_ms: number | string;
  startup_hist: number[];
  rebuffers: number;
  rebuffer_ms: number | string;
  bitrate_bits: number;
  bitrate_ms: number | string;
  switches: number;
  errors: number;
  retention: number[];
  referrers: Record<string, number> | string;
}

const DAY_COLUMNS = `to_char(day, 'YYYY-MM-DD') AS day, views, unique_viewers, watch_ms, startup_hist, rebuffers,
  rebuffer_ms, bitrate_bits, bitrate_ms, switches, errors, retention, referrers`;

function toTotals(r: DayRow): DayTotals {
  return {
    views: Number(r.views),
    uniqueViewers: Number(r.unique_viewers),
    watchMs: Number(r.watch_ms),
    startupHist: (r.startup_hist ?? []).map(Number),
    rebuffers: Number(r.rebuffers),
    rebufferMs: Number(r.rebuffer_ms),
    bitrateBits: Number(r.bitrate_bits),
    bitrateMs: Number(r.bitrate_ms),
    switches: Number(r.switches),
    errors: Number(r.errors),
    retention: (r.retention ?? []).map(Number),
    referrers: typeof r.referrers === 'string' ? JSON.parse(r.referrers) : (r.referrers ?? {}),
  };
}

/** A video's day, locked for this transaction (made empty when it was not there). */
export async function lockDay(tx: Queryable, videoId: string, day: string): Promise<DayTotals> {
  await tx.query(
    'INSERT INTO video_views_daily (video_id, day) VALUES ($1, $2::date) ON CONFLICT DO NOTHING',
    [videoId, day],
  );
  const [row] = await tx.query<DayRow>(
    `SELECT ${DAY_COLUMNS} FROM video_views_daily WHERE video_id = $1 AND day = $2::date FOR UPDATE`,
    [videoId, day],
  );
  return row ? toTotals(row) : emptyDay();
}

export async function saveDay(tx: Queryable, videoId: string, day: string, t: DayTotals): Promise<void> {
  await tx.query(
    `UPDATE video_views_daily SET views = $3, unique_viewers = $4, watch_ms = $5, startup_hist = $6::integer[],
       rebuffers = $7, rebuffer_ms = $8, bitrate_bits = $9, bitrate_ms = $10, switches = $11, errors = $12,
       retention = $13::integer[], referrers = $14::jsonb
     WHERE video_id = $1 AND day = $2::date`,
    [
      videoId,
      day,
      t.views,
      t.uniqueViewers,
      t.watchMs,
      t.startupHist,
      t.rebuffers,
      t.rebufferMs,
      t.bitrateBits,
      t.bitrateMs,
      t.switches,
      t.errors,
      t.retention,
      JSON.stringify(t.referrers),
    ],
  );
}

/**
 * Forgets what can no longer be needed: viewer hashes of days that can receive no more events (before
 * yesterday, and before the oldest raw row), and every salt but today's.
 */
export async function forgetOldViewers(db: Queryable): Promise<void> {
  await db.query(
    `DELETE FROM viewer_days WHERE day < LEAST(${TODAY} - 1, (SELECT min(day) FROM view_events))`,
  );
  await db.query(`DELETE FROM analytics_salts WHERE day < ${TODAY}`);
}

/** Deletes the oldest raw rows beyond `max`; how many. */
export async function capViewEvents(db: Queryable, max: number): Promise<number> {
  const [row] = await db.query<{ n: number | string }>('SELECT count(*) AS n FROM view_events');
  if (Number(row?.n ?? 0) <= max) return 0;
  const gone = await db.query(
    `DELETE FROM view_events WHERE id <= (SELECT id FROM view_events ORDER BY id DESC OFFSET $1 LIMIT 1)
     RETURNING id`,
    [max],
  );
  return gone.length;
}

export async function countViewEvents(db: Queryable): Promise<number> {
  const [row] = await db.query<{ n: number | string }>('SELECT count(*) AS n FROM view_events');
  return Number(row?.n ?? 0);
}

/** A video's days within [from, to] (YYYY-MM-DD), oldest first. */
export async function videoDays(
  db: Queryable,
  videoId: string,
  from: string,
  to: string,
): Promise<(DayTotals & { day: string })[]> {
  const rows = await db.query<DayRow>(
    `SELECT ${DAY_COLUMNS} FROM video_views_daily
     WHERE video_id = $1 AND day BETWEEN $2::date AND $3::date ORDER BY day`,
    [videoId, from, to],
  );
  return rows.map((r) => ({ day: r.day, ...toTotals(r) }));
}

/** Totals of one video (or one day) over a range, as the library overview shows them. */
export interface Totals {
  views: number;
  uniqueViewers: number;
  watchMs: number;
  rebufferMs: number;
  bitrateBits: number;
  bitrateMs: number;
  errors: number;
}

const SUMS = `sum(views)::bigint AS views, sum(unique_viewers)::bigint AS unique_viewers,
  sum(watch_ms)::bigint AS watch_ms, sum(rebuffer_ms)::bigint AS rebuffer_ms,
  sum(bitrate_bits)::double precision AS bitrate_bits, sum(bitrate_ms)::bigint AS bitrate_ms,
  sum(errors)::bigint AS errors`;

type SumRow = Record<string, number | string>;
const toSums = (r: SumRow): Totals => ({
  views: Number(r['views']),
  uniqueViewers: Number(r['unique_viewers']),
  watchMs: Number(r['watch_ms']),
  rebufferMs: Number(r['rebuffer_ms']),
  bitrateBits: Number(r['bitrate_bits']),
  bitrateMs: Number(r['bitrate_ms']),
  errors: Number(r['errors']),
});

/** The library over [from, to]: per video (most viewed first, at most `limit`) and per day. */
export async function libraryTotals(db: Queryable, from: string, to: string, limit: number) {
  const videos = await db.query<SumRow & { video_id: string; title: string }>(
    `SELECT d.video_id, v.title, ${SUMS} FROM video_views_daily d JOIN videos v ON v.id = d.video_id
     WHERE d.day BETWEEN $1::date AND $2::date
     GROUP BY d.video_id, v.title ORDER BY sum(views) DESC, d.video_id LIMIT $3`,
    [from, to, limit],
  );
  const days = await db.query<SumRow & { day: string }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, ${SUMS} FROM video_views_daily
     WHERE day BETWEEN $1::date AND $2::date GROUP BY day ORDER BY day`,
    [from, to],
  );
  return {
    videos: videos.map((r) => ({ videoId: r.video_id, title: r.title, ...toSums(r) })),
    days: days.map((r) => ({ day: r.day, ...toSums(r) })),
  };
}

/**
 * The analytics rollup: raw beacons (view_events) are added into per-video, per-day rows and deleted, in
 * one transaction per batch. Several processes may run it at once: each batch takes rows no other holds
 * (FOR UPDATE SKIP LOCKED) and locks the day rows it adds to, in a fixed order. It also caps the raw table
 * (the oldest rows beyond REEL_ANALYTICS_MAX_RAW_EVENTS are dropped, with a warning) and forgets viewer
 * hashes and salts that can no longer be needed.
 */
import type { Logger } from 'pino';
import type { Db } from '../core/ports.js';
import {
  addViewers,
  capViewEvents,
  forgetOldViewers,
  lockDay,
  saveDay,
  takeViewEvents,
} from '../db/analytics.js';
import { addToDay, type FoldedBeacon } from './stats.js';

const BATCH = 2000;
/** Batches per run at most: the next run goes on. */
const MAX_BATCHES = 50;

export interface RollupResult {
  /** Raw rows added into days. */
  events: number;
  /** Raw rows dropped by the cap. */
  dropped: number;
}

export async function rollUpAnalytics(
  db: Db,
  opts: { maxRawEvents: number; log?: Logger | undefined },
): Promise<RollupResult> {
  const dropped = await capViewEvents(db, opts.maxRawEvents);
  if (dropped > 0)
    opts.log?.warn(
      { dropped },
      'viewing analytics: raw events beyond REEL_ANALYTICS_MAX_RAW_EVENTS were dropped before being rolled up',
    );
  let events = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await db.transaction(async (tx) => {
      const rows = await takeViewEvents(tx, BATCH);
      const groups = new Map<
        string,
        { videoId: string; day: string; rows: FoldedBeacon[]; viewers: string[] }
      >();
      for (const r of rows) {
        const key = `${r.videoId}\u0000${r.day}`;
        let g = groups.get(key);
        if (!g) {
          g = { videoId: r.videoId, day: r.day, rows: [], viewers: [] };
          groups.set(key, g);
        }
        g.rows.push(r);
        if (r.started && r.viewer) g.viewers.push(r.viewer);
      }
      // A fixed order of locks: two processes rolling up at once cannot deadlock.
      for (const key of [...groups.keys()].sort()) {
        const g = groups.get(key)!;
        const day = await lockDay(tx, g.videoId, g.day);
        const fresh = await addViewers(tx, g.videoId, g.day, [...new Set(g.viewers)]);
        await saveDay(tx, g.videoId, g.day, addToDay(day, g.rows, fresh));
      }
      return rows.length;
    });
    events += n;
    if (n < BATCH) break;
  }
  await forgetOldViewers(db);
  if (events > 0) opts.log?.debug({ events }, 'viewing analytics rolled up');
  return { events, dropped };
}

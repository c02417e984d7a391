/**
 * Viewing analytics, pure code: what one beacon's events add up to (foldBeacon), how raw rows add into a
 * day's row (addToDay), and what a range of days says (summarise): views, unique viewers, watch time,
 * retention at each 5 % of the video, startup time p50/p95 from a histogram, rebuffer ratio, average bit rate
 * and top referrers.
 */

/** Retention is measured at 0 %, 5 %, …, 100 % of the video: 21 points. */
export const RETENTION_POINTS = 21;

/**
 * Upper edges (ms) of the startup-time histogram's buckets; one more bucket holds everything above the last.
 * A percentile is interpolated inside its bucket, so it is off by at most the bucket's width (≤ 50 ms below
 * 1 s, ≤ 10 % above).
 */
export const STARTUP_EDGES_MS: readonly number[] = (() => {
  const edges: number[] = [];
  for (let ms = 50; ms <= 1000; ms += 50) edges.push(ms);
  for (let ms = 1100; ms <= 3000; ms += 100) edges.push(ms);
  for (let ms = 3250; ms <= 6000; ms += 250) edges.push(ms);
  for (let ms = 6500; ms <= 10_000; ms += 500) edges.push(ms);
  for (let ms = 11_000; ms <= 20_000; ms += 1000) edges.push(ms);
  for (let ms = 25_000; ms <= 60_000; ms += 5000) edges.push(ms);
  return edges;
})();
export const STARTUP_BUCKETS = STARTUP_EDGES_MS.length + 1;

/** Referrers kept per day and video (the most frequent). */
export const MAX_REFERRERS = 50;

/** One event a player reports (the beacon's `events`; see src/http/beacons.ts for the schema). */
export interface BeaconEvent {
  type: 'start' | 'play' | 'rebuffer' | 'switch' | 'error' | 'reach';
  /** start: ms from the play request to the first frame. */
  startupMs?: number;
  /** start: the origin of the page that linked or embedded the player. */
  referrer?: string | null;
  /** play: ms played (at `bitrate`); rebuffer: ms spent waiting for data. */
  ms?: number;
  /** play, switch: the rendition's bit rate, bit/s. */
  bitrate?: number;
  /** reach: the 5 % points passed (0…20). */
  points?: number[];
}

/** What one beacon adds up to: a row of view_events (without its video, day and viewer). */
export interface FoldedBeacon {
  started: boolean;
  referrer: string | null;
  startupMs: number | null;
  playingMs: number;
  bitrateBits: number;
  bitrateMs: number;
  rebuffers: number;
  rebufferMs: number;
  switches: number;
  errors: number;
  reached: number;
}

/** The origin of `referrer` when it is an http(s) origin (and nothing more), else null. */
export function referrerOrigin(referrer: string | null | undefined): string | null {
  if (!referrer || referrer.length > 200) return null;
  try {
    const url = new URL(referrer);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.origin === referrer ? url.origin : null;
  } catch {
    return null;
  }
}

export function foldBeacon(events: readonly BeaconEvent[]): FoldedBeacon {
  const f: FoldedBeacon = {
    started: false,
    referrer: null,
    startupMs: null,
    playingMs: 0,
    bitrateBits: 0,
    bitrateMs: 0,
    rebuffers: 0,
    rebufferMs: 0,
    switches: 0,
    errors: 0,
    reached: 0,
  };
  for (const e of events) {
    switch (e.type) {
      case 'start':
        f.started = true;
        f.startupMs = e.startupMs ?? null;
        f.referrer = referrerOrigin(e.referrer);
        break;
      case 'play': {
        const ms = e.ms ?? 0;
        f.playingMs += ms;
        if (e.bitrate) {
          f.bitrateBits += (e.bitrate * ms) / 1000;
          f.bitrateMs += ms;
        }
        break;
      }
      case 'rebuffer':
        f.rebuffers++;
        f.rebufferMs += e.ms ?? 0;
        break;
      case 'switch':
        f.switches++;
        break;
      case 'error':
        f.errors++;
        break;
      case 'reach':
        for (const p of e.points ?? []) f.reached |= 1 << p;
        break;
    }
  }
  return f;
}

/** A day's totals for one video (a row of video_views_daily). */
export interface DayTotals {
  views: number;
  uniqueViewers: number;
  watchMs: number;
  startupHist: number[];
  rebuffers: number;
  rebufferMs: number;
  bitrateBits: number;
  bitrateMs: number;
  switches: number;
  errors: number;
  retention: number[];
  referrers: Record<string, number>;
}

export const emptyDay = (): DayTotals => ({
  views: 0,
  uniqueViewers: 0,
  watchMs: 0,
  startupHist: new Array(STARTUP_BUCKETS).fill(0),
  rebuffers: 0,
  rebufferMs: 0,
  bitrateBits: 0,
  bitrateMs: 0,
  switches: 0,
  errors: 0,
  retention: new Array(RETENTION_POINTS).fill(0),
  referrers: {},
});

/** The bucket of the startup histogram a time falls in. */
export function startupBucket(ms: number): number {
  let lo = 0;
  let hi = STARTUP_EDGES_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms < STARTUP_EDGES_MS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** An array of `n` numbers from what the database held (shorter, longer or null: padded or cut). */
const sized = (a: readonly unknown[] | null | undefined, n: number) =>
  Array.from({ length: n }, (_, i) => Number(a?.[i] ?? 0) || 0);

/** Keeps the `max` most frequent referrers. */
export function topReferrers(referrers: Record<string, number>, max = MAX_REFERRERS): Record<string, number> {
  const sorted = Object.entries(referrers).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return Object.fromEntries(sorted.slice(0, max));
}

/** Adds raw rows (folded beacons) into a day's totals; `newViewers` is what the day's unique count gains. */
export function addToDay(day: DayTotals, rows: readonly FoldedBeacon[], newViewers: number): DayTotals {
  const out: DayTotals = {
    ...day,
    startupHist: sized(day.startupHist, STARTUP_BUCKETS),
    retention: sized(day.retention, RETENTION_POINTS),
    referrers: { ...day.referrers },
  };
  out.uniqueViewers += newViewers;
  for (const r of rows) {
    if (r.started) {
      out.views++;
      if (r.startupMs !== null) out.startupHist[startupBucket(r.startupMs)]!++;
      if (r.referrer) out.referrers[r.referrer] = (out.referrers[r.referrer] ?? 0) + 1;
    }
    out.watchMs += r.playingMs;
    addCounts(out, r);
    for (let i = 0; i < RETENTION_POINTS; i++) if (r.reached & (1 << i)) out.retention[i]!++;
  }
  out.referrers = topReferrers(out.referrers);
  return out;
}

/** The q-quantile (0–1) of a startup histogram, interpolated inside its bucket; null when it is empty. */
export function histogramQuantile(hist: readonly number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let before = 0;
  for (let i = 0; i < hist.length; i++) {
    const n = hist[i]!;
    if (n > 0 && before + n >= rank) {
      const lo = i === 0 ? 0 : STARTUP_EDGES_MS[i - 1]!;
      if (i >= STARTUP_EDGES_MS.length) return lo;
      const hi = STARTUP_EDGES_MS[i]!;
      return Math.round(lo + ((hi - lo) * Math.max(0, rank - before)) / n);
    }
    before += n;
  }
  return STARTUP_EDGES_MS[STARTUP_EDGES_MS.length - 1]!;
}

/** The counts a raw event and a day's totals both carry, added the same way. */
const COUNTS = ['bitrateBits', 'bitrateMs', 'rebuffers', 'rebufferMs', 'switches', 'errors'] as const;

function addCounts(out: DayTotals, from: Readonly<Record<(typeof COUNTS)[number], number>>): void {
  for (const k of COUNTS) out[k] += from[k];
}

/** Several days (or videos) added up. */
export function sumDays(days: readonly DayTotals[]): DayTotals {
  const out = emptyDay();
  for (const d of days) {
    out.views += d.views;
    out.uniqueViewers += d.uniqueViewers;
    out.watchMs += d.watchMs;
    addCounts(out, d);
    const hist = sized(d.startupHist, STARTUP_BUCKETS);
    for (let i = 0; i < STARTUP_BUCKETS; i++) out.startupHist[i]! += hist[i]!;
    const ret = sized(d.retention, RETENTION_POINTS);
    for (let i = 0; i < RETENTION_POINTS; i++) out.retention[i]! += ret[i]!;
    for (const [origin, n] of Object.entries(d.referrers ?? {}))
      out.referrers[origin] = (out.referrers[origin] ?? 0) + Number(n);
  }
  return out;
}

/** What the API answers for a range (totals of its days). */
export interface Summary {
  views: number;
  uniqueViewers: number;
  watchTimeSeconds: number;
  retention: number[];
  startupTimeMs: { p50: number | null; p95: number | null };
  rebufferCount: number;
  rebufferRatio: number;
  averageBitrate: number | null;
  renditionSwitches: number;
  errors: number;
  topReferrers: { origin: string; views: number }[];
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export function summarise(t: DayTotals, referrers = 10): Summary {
  const waited = t.watchMs + t.rebufferMs;
  return {
    views: t.views,
    uniqueViewers: t.uniqueViewers,
    watchTimeSeconds: round(t.watchMs / 1000, 1),
    // Share of views still watching at each 5 %; capped at 1 (a view reports each point once).
    retention: t.retention.map((n) => (t.views ? round(Math.min(1, n / t.views), 4) : 0)),
    startupTimeMs: {
      p50: histogramQuantile(t.startupHist, 0.5),
      p95: histogramQuantile(t.startupHist, 0.95),
    },
    rebufferCount: t.rebuffers,
    rebufferRatio: waited ? round(t.rebufferMs / waited, 4) : 0,
    averageBitrate: t.bitrateMs ? Math.round((t.bitrateBits * 1000) / t.bitrateMs) : null,
    renditionSwitches: t.switches,
    errors: t.errors,
    topReferrers: Object.entries(topReferrers(t.referrers, referrers)).map(([origin, views]) => ({
      origin,
      views,
    })),
  };
}

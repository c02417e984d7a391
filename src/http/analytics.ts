/**
 * Viewing analytics, read: GET /v1/videos/{id}/analytics and GET /v1/analytics (the library). Registered by
 * videos.ts inside its plugin (the API key is checked there). They show what the rollup
 * (src/analytics/rollup.ts) has added up: beacons count from the next rollup (REEL_ANALYTICS_ROLLUP_SECONDS).
 */
import type { FastifyInstance } from 'fastify';
import { emptyDay, RETENTION_POINTS, sumDays, summarise } from '../analytics/stats.js';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { libraryTotals, type Totals, videoDays } from '../db/analytics.js';
import { getVideo } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { needScope } from './auth.js';
import { withScope } from './routeScopes.js';
import { authenticated, errorRef, type IdParams, idParams, nullable } from './schemas.js';

/** The longest range one call may ask for, in days. */
export const MAX_RANGE_DAYS = 366;
/** The range when none is given: the last 30 days. */
const DEFAULT_DAYS = 30;
/** Videos the library overview lists (the most viewed). */
const OVERVIEW_VIDEOS = 100;

const DATE = '^\\d{4}-\\d{2}-\\d{2}$';
const rangeQuery = {
  type: 'object',
  properties: {
    from: {
      type: 'string',
      pattern: DATE,
      description: 'first day (UTC), YYYY-MM-DD; default: 29 days before `to`',
    },
    to: {
      type: 'string',
      pattern: DATE,
      description: 'last day (UTC), YYYY-MM-DD, included; default: today',
    },
  },
  additionalProperties: false,
} as const;
interface RangeQuery {
  from?: string;
  to?: string;
}

const DAY_MS = 86_400_000;
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

/** A real calendar day as milliseconds at its UTC midnight (2026-02-30 is refused). */
function parseDay(s: string, name: string): number {
  const t = Date.parse(`${s}T00:00:00Z`);
  if (!Number.isFinite(t) || isoDay(t) !== s)
    throw errors.invalidRequest(`Invalid request: ${name} "${s}" is not a calendar day (YYYY-MM-DD).`);
  return t;
}

/** [from, to] as days, checked: from ≤ to, at most MAX_RANGE_DAYS days. */
export function parseRange(q: RangeQuery, now = Date.now()): { from: string; to: string; days: string[] } {
  const to = q.to === undefined ? Date.parse(`${isoDay(now)}T00:00:00Z`) : parseDay(q.to, 'to');
  const from = q.from === undefined ? to - (DEFAULT_DAYS - 1) * DAY_MS : parseDay(q.from, 'from');
  if (from > to) throw errors.invalidRequest('Invalid request: from is after to.');
  const n = Math.round((to - from) / DAY_MS) + 1;
  if (n > MAX_RANGE_DAYS)
    throw errors.invalidRequest(`Invalid request: ask for at most ${MAX_RANGE_DAYS} days at a time.`);
  const days = Array.from({ length: n }, (_, i) => isoDay(from + i * DAY_MS));
  return { from: isoDay(from), to: isoDay(to), days };
}

const startupSchema = {
  type: 'object',
  description:
    'time from the play request to the first frame, p50 and p95 (ms, estimated from a histogram: within 50 ms below 1 s, 10 % above); null without samples',
  properties: { p50: nullable('integer'), p95: nullable('integer') },
  required: ['p50', 'p95'],
} as const;

const summaryProperties = {
  views: { type: 'integer', description: 'playbacks that started' },
  uniqueViewers: {
    type: 'integer',
    description:
      'distinct viewers each day (IP address and browser, by a salted hash that changes daily), added up over the days',
  },
  watchTimeSeconds: { type: 'number', description: 'time spent playing' },
  retention: {
    type: 'array',
    minItems: RETENTION_POINTS,
    maxItems: RETENTION_POINTS,
    items: { type: 'number', minimum: 0, maximum: 1 },
    description: 'the share of views that played through 0 %, 5 %, …, 100 % of the video (21 points)',
  },
  startupTimeMs: startupSchema,
  rebufferCount: { type: 'integer', description: 'stalls waiting for data (not seeks)' },
  rebufferRatio: { type: 'number', description: 'time stalled ÷ (time playing + time stalled)' },
  averageBitrate: nullable('integer', {
    description: 'bit rate of the renditions played, weighted by playing time, bit/s',
  }),
  renditionSwitches: { type: 'integer' },
  errors: { type: 'integer', description: 'playback errors players reported' },
  topReferrers: {
    type: 'array',
    description: 'the origins of the pages that linked or embedded the player, most views first (at most 10)',
    items: {
      type: 'object',
      properties: { origin: { type: 'string' }, views: { type: 'integer' } },
      required: ['origin', 'views'],
    },
  },
} as const;

const dayProperties = {
  day: { type: 'string', format: 'date' },
  views: { type: 'integer' },
  uniqueViewers: { type: 'integer' },
  watchTimeSeconds: { type: 'number' },
} as const;

const totalsProperties = {
  views: { type: 'integer' },
  uniqueViewers: { type: 'integer' },
  watchTimeSeconds: { type: 'number' },
  rebufferRatio: { type: 'number' },
  averageBitrate: nullable('integer'),
  errors: { type: 'integer' },
} as const;

const seconds = (ms: number) => Math.round(ms / 100) / 10;
const totalsView = (t: Totals) => ({
  views: t.views,
  uniqueViewers: t.uniqueViewers,
  watchTimeSeconds: seconds(t.watchMs),
  rebufferRatio:
    t.watchMs + t.rebufferMs ? Math.round((t.rebufferMs / (t.watchMs + t.rebufferMs)) * 1e4) / 1e4 : 0,
  averageBitrate: t.bitrateMs ? Math.round((t.bitrateBits * 1000) / t.bitrateMs) : null,
  errors: t.errors,
});

export function registerAnalytics(api: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;

  api.get<{ Params: IdParams; Querystring: RangeQuery }>(
    '/v1/videos/:id/analytics',
    {
      preHandler: needScope('read'),
      schema: {
        tags: ['analytics'],
        summary: "A video's viewing analytics over a range of days",
        description: withScope(
          'read',
          'Totals over [from, to] (UTC days, both included; at most 366 days; default the last 30) and one ' +
            'row per day (days without views included, as zeros). From what players report (POST ' +
            '/v1/beacons), rolled up every REEL_ANALYTICS_ROLLUP_SECONDS.',
        ),
        ...authenticated,
        params: idParams,
        querystring: rangeQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              videoId: { type: 'string' },
              from: { type: 'string', format: 'date' },
              to: { type: 'string', format: 'date' },
              ...summaryProperties,
              days: { type: 'array', items: { type: 'object', properties: dayProperties } },
            },
            required: ['videoId', 'from', 'to', ...Object.keys(summaryProperties), 'days'],
          },
          '4xx': errorRef,
        },
      },
    },
    async (req) => {
      const video = await getVideo(db, assertId(req.params.id, 'video id'));
      if (!video) throw errors.videoNotFound(req.params.id);
      const range = parseRange(req.query);
      const rows = await videoDays(db, video.id, range.from, range.to);
      const byDay = new Map(rows.map((r) => [r.day, r]));
      return {
        videoId: video.id,
        from: range.from,
        to: range.to,
        ...summarise(sumDays(rows)),
        days: range.days.map((day) => {
          const d = byDay.get(day) ?? emptyDay();
          return {
            day,
            views: d.views,
            uniqueViewers: d.uniqueViewers,
            watchTimeSeconds: seconds(d.watchMs),
          };
        }),
      };
    },
  );

  api.get<{ Querystring: RangeQuery }>(
    '/v1/analytics',
    {
      preHandler: needScope('read'),
      schema: {
        tags: ['analytics'],
        summary: 'Viewing analytics of the whole library over a range of days',
        description: withScope(
          'read',
          `Library totals over [from, to] (as GET /v1/videos/{id}/analytics), one row per day, and the ${OVERVIEW_VIDEOS} ` +
            'most viewed videos with their totals.',
        ),
        ...authenticated,
        querystring: rangeQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'string', format: 'date' },
              to: { type: 'string', format: 'date' },
              ...totalsProperties,
              days: { type: 'array', items: { type: 'object', properties: dayProperties } },
              videos: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { id: { type: 'string' }, title: { type: 'string' }, ...totalsProperties },
                },
              },
            },
            required: ['from', 'to', 'views', 'days', 'videos'],
          },
          '4xx': errorRef,
        },
      },
    },
    async (req) => {
      const range = parseRange(req.query);
      const { videos, days } = await libraryTotals(db, range.from, range.to, OVERVIEW_VIDEOS);
      const byDay = new Map(days.map((d) => [d.day, d]));
      const all: Totals = {
        views: 0,
        uniqueViewers: 0,
        watchMs: 0,
        rebufferMs: 0,
        bitrateBits: 0,
        bitrateMs: 0,
        errors: 0,
      };
      for (const d of days) for (const k of Object.keys(all) as (keyof Totals)[]) all[k] += d[k];
      return {
        from: range.from,
        to: range.to,
        ...totalsView(all),
        days: range.days.map((day) => {
          const d = byDay.get(day);
          return {
            day,
            views: d?.views ?? 0,
            uniqueViewers: d?.uniqueViewers ?? 0,
            watchTimeSeconds: seconds(d?.watchMs ?? 0),
          };
        }),
        videos: videos.map((v) => ({ id: v.videoId, title: v.title, ...totalsView(v) })),
      };
    },
  );
}

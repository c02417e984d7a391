/**
 * Viewing analytics (issue 14): POST /v1/beacons takes well-formed beacons only (schema, 8 KB, 64 events,
 * one start), per viewer and video at most REEL_BEACONS_PER_MINUTE, for playable videos and (signed) with
 * the player's token, and answers 204 whatever it did, so it reveals nothing; the rollup turns crafted beacons
 * into the right views, unique viewers, watch time, retention, startup p50/p95, rebuffer ratio, bit rate and
 * referrers, and deletes what it rolled up; GET /v1/videos/{id}/analytics and GET /v1/analytics answer
 * ranges and refuse hostile ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollUpAnalytics } from '../../src/analytics/rollup.js';
import { histogramQuantile, STARTUP_BUCKETS, startupBucket } from '../../src/analytics/stats.js';
import { errors } from '../../src/core/errors.js';
import {
  countViewEvents,
  insertViewEvent,
  libraryTotals,
  todaysSalt,
  videoDays,
} from '../../src/db/analytics.js';
import { insertUploadingVideo } from '../../src/db/videos.js';
import { WindowLimiter } from '../../src/http/beacons.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { publishFake } from '../helpers/publish.js';
import { rawRequest } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

const PER_MINUTE = 5;

describe('viewing analytics (one server, PGlite)', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({
      roles: 'upload,play',
      // Viewers are told apart by X-Forwarded-For, believed from loopback only.
      'trust-proxy': 'loopback',
      'beacons-per-minute': String(PER_MINUTE),
      'analytics-rollup-seconds': '3600',
    });
    await publishFake(t, 'vid_stats', 'public');
    await publishFake(t, 'vid_other', 'public');
    await publishFake(t, 'vid_signed', 'signed');
    await publishFake(t, 'vid_busy', 'public', 'processing');
    await publishFake(t, 'vid_limits', 'public');
    await publishFake(t, 'vid_shapes', 'public');
  });
  afterAll(() => t?.close());

  const db = () => t.reel.db;
  const rollUp = () => rollUpAnalytics(db(), { maxRawEvents: 1_000_000 });
  const send = (body: unknown, ip = '10.0.0.1', ua = 'agent/1', type = 'text/plain') =>
    fetch(`${t.url}/v1/beacons`, {
      method: 'POST',
      headers: { 'content-type': type, 'x-forwarded-for': ip, 'user-agent': ua },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const analytics = async (id: string, query = '') => {
    const res = await t.api(`/v1/videos/${id}/analytics${query}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Record<string, unknown> & {
      views: number;
      uniqueViewers: number;
      retention: number[];
      days: { day: string; views: number }[];
    };
  };
  const rawFor = async (id: string) =>
    Number(
      (
        await db().query<{ n: number }>('SELECT count(*)::int AS n FROM view_events WHERE video_id = $1', [
          id,
        ])
      )[0]!.n,
    );

  it('a well-formed beacon: 204, no body, open to any origin; stored raw until the rollup', async () => {
    const res = await send({
      videoId: 'vid_other',
      access: 'public',
      events: [{ type: 'start', startupMs: 500 }],
    });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    // JSON as application/json too.
    const json = await send(
      { videoId: 'vid_other', access: 'public', events: [{ type: 'play', ms: 1000 }] },
      '10.0.0.1',
      'agent/1',
      'application/json',
    );
    expect(json.status).toBe(204);
    expect(await rawFor('vid_other')).toBe(2);
  });

  it.each([
    ['not JSON', 'this is not json'],
    ['no events', { videoId: 'vid_shapes', access: 'public', events: [] }],
    ['no access', { videoId: 'vid_shapes', events: [{ type: 'start' }] }],
    ['an unknown event', { videoId: 'vid_shapes', access: 'public', events: [{ type: 'purchase' }] }],
    [
      'two starts',
      { videoId: 'vid_shapes', access: 'public', events: [{ type: 'start' }, { type: 'start' }] },
    ],
    ['65 events', { videoId: 'vid_shapes', access: 'public', events: Array(65).fill({ type: 'switch' }) }],
    [
      'an hour of play',
      { videoId: 'vid_shapes', access: 'public', events: [{ type: 'play', ms: 3_600_000 }] },
    ],
    [
      'ten minutes of play in pieces',
      { videoId: 'vid_shapes', access: 'public', events: Array(11).fill({ type: 'play', ms: 60_000 }) },
    ],
    ['negative time', { videoId: 'vid_shapes', access: 'public', events: [{ type: 'rebuffer', ms: -5 }] }],
    [
      'a point past 100 %',
      { videoId: 'vid_shapes', access: 'public', events: [{ type: 'reach', points: [21] }] },
    ],
    ['a bad id', { videoId: '../vid_shapes', access: 'public', events: [{ type: 'start' }] }],
    ['an array', [{ videoId: 'vid_shapes', access: 'public', events: [{ type: 'start' }] }]],
  ])('%s: 400, nothing stored', async (_what, body) => {
    const res = await send(body, '10.1.0.1');
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe(errors.invalidRequest.code);
    expect(await rawFor('vid_shapes')).toBe(0);
  });

  it('over 8 KB: 413 (by Content-Length, or counted when it lies or is chunked), nothing stored', async () => {
    const big = JSON.stringify({
      videoId: 'vid_shapes',
      access: 'x'.repeat(2000),
      events: Array(60).fill({ type: 'start', referrer: 'https://a.example'.padEnd(150, 'a') }),
    });
    expect(big.length).toBeGreaterThan(8192);
    const res = await send(big, '10.1.0.2');
    expect(res.status).toBe(413);
    expect((await res.json()).code).toBe(errors.beaconTooLarge.code);
    // Says 9000 bytes, sends 20: refused before any is read.
    const lying = await rawRequest(
      t.url,
      '/v1/beacons',
      'POST',
      { 'content-type': 'text/plain', 'content-length': '9000' },
      Buffer.from('{"videoId":"vid_s"}'),
    );
    expect(lying.status).toBe(413);
    // Chunked, no length: counted as it arrives.
    const chunked = await rawRequest(
      t.url,
      '/v1/beacons',
      'POST',
      { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' },
      Buffer.from(`${(big.length).toString(16)}\r\n${big}\r\n0\r\n\r\n`),
    );
    expect(chunked.status).toBe(413);
    // Says 10 bytes, sends a whole beacon: only 10 are read, which are not JSON.
    const short = await rawRequest(
      t.url,
      '/v1/beacons',
      'POST',
      { 'content-type': 'text/plain', 'content-length': '10' },
      Buffer.from(JSON.stringify({ videoId: 'vid_shapes', access: 'public', events: [{ type: 'start' }] })),
    );
    expect(short.status).toBe(400);
    expect(await rawFor('vid_shapes')).toBe(0);
  });

  it(`rate limit: ${PER_MINUTE} a minute per viewer and video, then 429 with Retry-After; others unaffected`, async () => {
    const body = (videoId: string) => ({ videoId, access: 'public', events: [{ type: 'play', ms: 100 }] });
    for (let i = 0; i < PER_MINUTE; i++)
      expect((await send(body('vid_limits'), '10.2.0.1')).status).toBe(204);
    const refused = await send(body('vid_limits'), '10.2.0.1');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect((await refused.json()).code).toBe(errors.tooManyBeacons.code);
    // Another User-Agent from the same address is the same viewer for the limit.
    expect((await send(body('vid_limits'), '10.2.0.1', 'other/2')).status).toBe(429);
    expect((await send(body('vid_limits'), '10.2.0.2')).status).toBe(204);
    expect((await send(body('vid_other'), '10.2.0.1')).status).toBe(204);
    expect(await rawFor('vid_limits')).toBe(PER_MINUTE + 1);
  });

  it('the limiter forgets the oldest viewers first and never holds more than its size', () => {
    const l = new WindowLimiter(2, 60_000, 3);
    expect([l.take('a', 0), l.take('a', 1), l.take('a', 2)]).toEqual([true, true, false]);
    for (const k of ['b', 'c', 'd']) l.take(k, 3);
    expect(l.size).toBe(3);
    expect(l.take('a', 4)).toBe(true); // forgotten: a new window
    expect(l.take('b', 60_004)).toBe(true); // its window is over
  });

  it('an unknown or unplayable video, a signed video without its token (or with another video’s): 204 all the same, nothing stored', async () => {
    const start = [{ type: 'start', startupMs: 100 }];
    const answers: string[] = [];
    const record = async (res: Response) => {
      answers.push(
        `${res.status} ${await res.text()} ${res.headers.get('content-type')} ${res.headers.get('access-control-allow-origin')}`,
      );
    };
    await record(await send({ videoId: 'vid_nowhere', access: 'public', events: start }, '10.3.0.1'));
    await record(await send({ videoId: 'vid_busy', access: 'public', events: start }, '10.3.0.1'));
    await record(await send({ videoId: 'vid_signed', access: 'public', events: start }, '10.3.0.1'));
    const other = (await (await t.api('/v1/videos/vid_other/playback')).json()) as { url: string };
    const otherToken = new URL(other.url).pathname.split('/')[3]!;
    expect(otherToken).toBe('public');
    const signed = (await (await t.api('/v1/videos/vid_signed/playback')).json()) as { url: string };
    const token = new URL(signed.url).pathname.split('/')[3]!;
    await record(
      await send({ videoId: 'vid_signed', access: `${token.slice(0, -2)}xx`, events: start }, '10.3.0.1'),
    );
    await record(await send({ videoId: 'vid_stats', access: token, events: start }, '10.3.0.1'));
    // And a stored one answers exactly the same.
    await record(await send({ videoId: 'vid_signed', access: token, events: start }, '10.3.0.2'));
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]).toMatch(/^204 {2}/);
    for (const id of ['vid_busy', 'vid_stats']) expect(await rawFor(id)).toBe(0);
    expect(await rawFor('vid_signed')).toBe(1);

    // The session token the player holds once the master is served (outlives the playback token) counts too.
    const master = await (await fetch(signed.url)).text();
    const session = /\.\.\/([^/]+)\/720p\/index\.m3u8/.exec(master)![1]!;
    expect(
      (
        await send(
          { videoId: 'vid_signed', access: session, events: [{ type: 'play', ms: 100 }] },
          '10.3.0.3',
        )
      ).status,
    ).toBe(204);
    expect(await rawFor('vid_signed')).toBe(2);
  });

  it('nothing can be read through it: GET and the other methods are not routes, answers carry no data', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${t.url}/v1/beacons`, { method });
      expect(res.status, method).toBe(404);
    }
    expect((await fetch(`${t.url}/v1/beacons?videoId=vid_stats`)).status).toBe(404);
    const pre = await fetch(`${t.url}/v1/beacons`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(await pre.text()).toBe('');
  });

  it('the rollup: views, unique viewers, watch time, retention, startup p50/p95, rebuffers, bit rate, referrers; raw rows deleted', async () => {
    await rollUp(); // what earlier tests sent
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    const v = 'vid_stats';
    const ok = async (body: object, ip: string, ua = 'agent/1') =>
      expect((await send({ videoId: v, access: 'public', ...body }, ip, ua)).status).toBe(204);
    // Viewer A, first view, in two beacons: to the end, with a switch up and one stall.
    await ok(
      {
        events: [
          { type: 'start', startupMs: 400, referrer: 'https://blog.example' },
          { type: 'play', ms: 10_000, bitrate: 1_000_000 },
          { type: 'reach', points: range(0, 10) },
        ],
      },
      '10.4.0.1',
    );
    await ok(
      {
        events: [
          { type: 'switch', bitrate: 2_000_000 },
          { type: 'play', ms: 5000, bitrate: 2_000_000 },
          { type: 'rebuffer', ms: 1000 },
          { type: 'reach', points: range(11, 20) },
        ],
      },
      '10.4.0.1',
    );
    // Viewer A again (same address and browser): a second view, not a second viewer.
    await ok(
      {
        events: [
          { type: 'start', startupMs: 600 },
          { type: 'play', ms: 2000, bitrate: 1_000_000 },
          { type: 'reach', points: [0, 1, 2] },
        ],
      },
      '10.4.0.1',
    );
    // Viewer B: slow start, a quarter of the video, an error.
    await ok(
      {
        events: [
          { type: 'start', startupMs: 3000, referrer: 'https://news.example' },
          { type: 'play', ms: 4000, bitrate: 500_000 },
          { type: 'reach', points: range(0, 4) },
          { type: 'error', kind: 'networkError' },
        ],
      },
      '10.4.0.2',
    );
    // Viewer C: same address as A, another browser; a referrer with a path is not an origin: dropped.
    await ok(
      {
        events: [
          { type: 'start', startupMs: 800, referrer: 'https://blog.example/private/post?id=7' },
          { type: 'play', ms: 1000 },
          { type: 'reach', points: [0] },
        ],
      },
      '10.4.0.1',
      'agent/2',
    );
    const raw = await db().query<{ viewer: string | null; referrer: string | null }>(
      'SELECT viewer, referrer FROM view_events WHERE video_id = $1',
      [v],
    );
    expect(raw).toHaveLength(5);
    expect(
      raw
        .map((r) => r.referrer)
        .filter(Boolean)
        .sort(),
    ).toEqual(['https://blog.example', 'https://news.example']);
    // No address in the data: viewers are 128-bit hashes.
    for (const r of raw) if (r.viewer) expect(r.viewer).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(await db().query('SELECT * FROM view_events'))).not.toContain('10.4.0');

    expect((await rollUp()).events).toBe(5);
    expect(await countViewEvents(db())).toBe(0);
    const a = await analytics(v);
    expect(a).toMatchObject({
      videoId: v,
      views: 4,
      uniqueViewers: 3,
      watchTimeSeconds: 22,
      rebufferCount: 1,
      renditionSwitches: 1,
      errors: 1,
      topReferrers: [
        { origin: 'https://blog.example', views: 1 },
        { origin: 'https://news.example', views: 1 },
      ],
    });
    expect(a['rebufferRatio']).toBeCloseTo(1000 / 23_000, 3);
    // (10 s × 1 Mbit/s + 5 s × 2 + 2 s × 1 + 4 s × 0.5) ÷ 21 s with a known bit rate
    expect(a['averageBitrate']).toBe(Math.round(24_000_000 / 21));
    expect(a.retention).toHaveLength(21);
    expect(a.retention.slice(0, 6)).toEqual([1, 0.75, 0.75, 0.5, 0.5, 0.25]);
    expect(a.retention[20]).toBe(0.25);
    const startup = a['startupTimeMs'] as { p50: number; p95: number };
    expect(startup.p50).toBeGreaterThanOrEqual(600);
    expect(startup.p50).toBeLessThanOrEqual(800);
    expect(startup.p95).toBeGreaterThanOrEqual(3000);
    expect(startup.p95).toBeLessThanOrEqual(3250);
    const today = new Date().toISOString().slice(0, 10);
    expect(a.days).toHaveLength(30);
    expect(a.days.at(-1)).toEqual({ day: today, views: 4, uniqueViewers: 3, watchTimeSeconds: 22 });

    // A later rollup the same day adds to the day; viewer A is still one viewer.
    await ok({ events: [{ type: 'start', startupMs: 500 }] }, '10.4.0.1');
    await ok({ events: [{ type: 'start', startupMs: 500 }] }, '10.4.0.9');
    await rollUp();
    const b = await analytics(v);
    expect([b.views, b.uniqueViewers]).toEqual([6, 4]);
    // Other videos' numbers are their own.
    expect((await analytics('vid_other')).views).toBe(1);
    // Only today's salt is kept.
    const salts = await db().query<{ day: string }>(
      "SELECT to_char(day, 'YYYY-MM-DD') AS day FROM analytics_salts",
    );
    expect(salts).toEqual([{ day: today }]);
  });

  it('the startup histogram: buckets and interpolated quantiles', () => {
    const hist = new Array(STARTUP_BUCKETS).fill(0);
    for (const ms of [120, 130, 140, 150, 2000]) hist[startupBucket(ms)]++;
    expect(histogramQuantile(hist, 0.5)).toBeGreaterThanOrEqual(100);
    expect(histogramQuantile(hist, 0.5)).toBeLessThanOrEqual(150);
    expect(histogramQuantile(hist, 0.95)).toBeGreaterThanOrEqual(2000);
    expect(histogramQuantile(hist, 0.95)).toBeLessThanOrEqual(2100);
    expect(histogramQuantile(new Array(STARTUP_BUCKETS).fill(0), 0.5)).toBeNull();
    expect(startupBucket(10 ** 9)).toBe(STARTUP_BUCKETS - 1);
  });

  it('raw rows are capped: the oldest beyond the cap are dropped before the rollup', async () => {
    for (let i = 0; i < 4; i++)
      await send(
        { videoId: 'vid_other', access: 'public', events: [{ type: 'play', ms: 1000 }] },
        `10.5.0.${i}`,
      );
    expect(await rollUpAnalytics(db(), { maxRawEvents: 1 })).toEqual({ events: 1, dropped: 3 });
    expect(await countViewEvents(db())).toBe(0);
  });

  it('GET /v1/videos/{id}/analytics: from/to, defaults, and hostile ranges and ids', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const one = await analytics('vid_stats', `?from=${today}&to=${today}`);
    expect(one.days).toHaveLength(1);
    expect(one.views).toBe(6);
    const empty = await analytics('vid_stats', '?from=2020-01-01&to=2020-01-31');
    expect(empty).toMatchObject({ views: 0, uniqueViewers: 0, watchTimeSeconds: 0, averageBitrate: null });
    expect(empty['startupTimeMs']).toEqual({ p50: null, p95: null });
    expect(empty.retention).toEqual(new Array(21).fill(0));
    expect(empty.days).toHaveLength(31);
    // A smuggled id in the query does not change the video.
    const smuggled = await analytics('vid_other', '?id=vid_stats&videoId=vid_stats');
    expect(smuggled.videoId).toBe('vid_other');
    expect(smuggled.views).toBe(1);
    for (const q of [
      '?from=2026-02-30',
      '?from=yesterday',
      '?to=2026-13-01',
      '?from=2026-03-02&to=2026-03-01',
      '?from=2020-01-01&to=2026-01-01',
      "?from=2026-01-01'--",
    ]) {
      const res = await t.api(`/v1/videos/vid_stats/analytics${q}`);
      expect(res.status, q).toBe(400);
      expect((await res.json()).code).toBe(errors.invalidRequest.code);
    }
    expect((await t.api('/v1/videos/vid_nowhere/analytics')).status).toBe(404);
    expect((await t.api('/v1/videos/..%2Fvid_stats/analytics')).status).toBe(400);
    expect((await fetch(`${t.url}/v1/videos/vid_stats/analytics`)).status).toBe(401);
    expect((await fetch(`${t.url}/v1/analytics`)).status).toBe(401);
    // A read key is enough.
    const key = (await (
      await t.api('/v1/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'dashboard', scopes: ['read'] }),
      })
    ).json()) as { key: string };
    const read = await fetch(`${t.url}/v1/analytics`, { headers: { Authorization: `Bearer ${key.key}` } });
    expect(read.status).toBe(200);
  });

  it('GET /v1/analytics: library totals, per day, the most viewed videos first; a deleted video takes its numbers with it', async () => {
    const res = await t.api('/v1/analytics');
    expect(res.status).toBe(200);
    const all = (await res.json()) as {
      views: number;
      days: { views: number }[];
      videos: { id: string; title: string; views: number }[];
    };
    expect(all.days).toHaveLength(30);
    // Most viewed first, then by id; a video watched but never started has time and no view.
    expect(all.videos.map((x) => [x.id, x.views])).toEqual([
      ['vid_stats', 6],
      ['vid_other', 1],
      ['vid_signed', 1],
      ['vid_limits', 0],
    ]);
    expect(all.views).toBe(8);
    expect(all.days.at(-1)!.views).toBe(8);
    expect((await t.api('/v1/analytics?from=2026-01-02&to=2026-01-01')).status).toBe(400);

    expect((await t.api('/v1/videos/vid_stats', { method: 'DELETE' })).status).toBe(204);
    const after = (await (await t.api('/v1/analytics')).json()) as { views: number };
    expect(after.views).toBe(2);
    const left = await db().query("SELECT 1 FROM viewer_days WHERE video_id = 'vid_stats'");
    expect(left).toEqual([]);
  });
});

describe('the rollup on Postgres: the same SQL, and two rollups at once count every event once', () => {
  let pg: TestDb;
  beforeAll(async () => {
    pg = await postgresDb();
  });
  afterAll(() => pg?.drop());

  it('adds 300 events from two concurrent rollups into one day, with unique viewers', async () => {
    const db = pg.db;
    await insertUploadingVideo(db, {
      id: 'vid_pg',
      title: 'On Postgres',
      filename: 'a.mp4',
      playbackPolicy: 'public',
    });
    const { day } = await todaysSalt(db, 'salt-1');
    expect((await todaysSalt(db, 'salt-2')).day).toBe(day);
    const base = {
      videoId: 'vid_pg',
      day,
      referrer: null,
      startupMs: 700,
      playingMs: 1000,
      bitrateBits: 1_000_000,
      bitrateMs: 1000,
      rebuffers: 0,
      rebufferMs: 0,
      switches: 0,
      errors: 0,
      reached: 1,
    };
    for (let i = 0; i < 300; i++)
      await insertViewEvent(db, {
        ...base,
        started: true,
        viewer: `viewer-${i % 30}`,
        referrer: i % 2 ? 'https://a.example' : null,
      });
    const [a, b] = await Promise.all([
      rollUpAnalytics(db, { maxRawEvents: 1_000_000 }),
      rollUpAnalytics(db, { maxRawEvents: 1_000_000 }),
    ]);
    expect(a.events + b.events).toBe(300);
    expect(await countViewEvents(db)).toBe(0);
    const [d] = await videoDays(db, 'vid_pg', day, day);
    expect(d).toMatchObject({
      views: 300,
      uniqueViewers: 30,
      watchMs: 300_000,
      referrers: { 'https://a.example': 150 },
    });
    expect(d!.retention[0]).toBe(300);
    const lib = await libraryTotals(db, day, day, 10);
    expect(lib.videos).toEqual([
      expect.objectContaining({ videoId: 'vid_pg', title: 'On Postgres', views: 300, uniqueViewers: 30 }),
    ]);
    expect(lib.days).toEqual([expect.objectContaining({ day, views: 300 })]);
  });
});

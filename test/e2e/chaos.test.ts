/**
 * Chaos: three `reel worker` processes on one Postgres and a dozen short clips, while a loop kills a random
 * worker with SIGKILL every 2–4 s (its ffmpeg with it) and starts a new one in its place, until every video
 * is ready. Then: each video was published exactly once, every published ladder is complete and plays,
 * nothing of a lost attempt is visible or left behind, and the logs account for every reclaim.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { parseMasterPlaylist, probeAudioRendition, probeRendition, resolveUri } from '../helpers/hls.js';
import { tusUpload } from '../helpers/upload.js';

const LEASE_SECONDS = 2;
/**
 * Rungs for the test: a 1280×720 source gets all three. Sized so that an attempt takes a few seconds on
 * 2 cores with three workers, long enough for kills every 2–4 s to land in the middle of many of them.
 */
const LADDER = [720, 360, 240];
const SIZE = { width: 1280, height: 720 };
/** The chaos stops (and the test fails) if the videos are not all ready by then. */
const CHAOS_LIMIT_MS = 150_000;

interface Clip {
  name: string;
  seconds: number;
  audio: boolean;
}
const CLIPS: Clip[] = [
  { name: 'chaos-6s-audio', seconds: 6, audio: true },
  { name: 'chaos-5s-silent', seconds: 5, audio: false },
  { name: 'chaos-4s-audio', seconds: 4, audio: true },
];
const UPLOADS = 12;

interface EventRow {
  video_id: string;
  attempt: number;
  event: string;
  worker_id: string | null;
  detail: string | null;
  at_ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chaos: workers killed at random while a dozen videos are processed', () => {
  let tdb: TestDb;
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    tdb = await postgresDb();
  });
  afterAll(async () => {
    await cluster?.close();
    await tdb?.drop();
  });

  it('publishes each video exactly once, completely, and leaves nothing of lost attempts', async () => {
    const started = Date.now();
    const files = await Promise.all(
      CLIPS.map((c) => makeClip(c.name, { ...SIZE, seconds: c.seconds, audio: c.audio })),
    );
    cluster = await startCluster({
      databaseUrl: tdb.url!,
      workers: 3,
      env: {
        REEL_LEASE_SECONDS: String(LEASE_SECONDS),
        REEL_LADDER: LADDER.join(','),
        REEL_POLL_MS: '200',
        // Kills are not failures of the video: never give up on one because of them.
        REEL_MAX_ATTEMPTS: '100',
        REEL_RETRY_BASE_SECONDS: '0.2',
      },
    });
    const c = cluster;
    const db = tdb.db;

    // ---- chaos, while the clips are uploaded and processed ----
    const kills: { slot: number; workerId: string; at: number }[] = [];
    const until = started + CHAOS_LIMIT_MS;
    let allReady = false;
    let failed: string | undefined;
    const fail = (why: string) => {
      failed ??= why;
    };
    const watch = (async () => {
      while (!allReady && !failed && Date.now() < until) {
        const rows = await db.query<{ status: string; n: number; error: string | null }>(
          `SELECT status, count(*)::int AS n, max(error) AS error FROM videos GROUP BY status`,
        );
        const ready = rows.find((r) => r.status === 'ready')?.n ?? 0;
        const bad = rows.find((r) => r.status === 'failed');
        if (bad) fail(`${bad.n} video(s) failed: ${bad.error}`);
        if (ready === UPLOADS) allReady = true;
        await sleep(250);
      }
    })().catch((err: unknown) => fail(`watching the videos failed: ${err}`));
    const chaos = (async () => {
      // One kill every 2–4 s, counted from kill to kill (the restart is part of the interval).
      let next = Date.now() + 2000 + Math.random() * 2000;
      while (!allReady && !failed && Date.now() < until) {
        await sleep(Math.max(0, next - Date.now()));
        if (allReady || failed) break;
        next = Date.now() + 2000 + Math.random() * 2000;
        const slot = Math.floor(Math.random() * 3);
        const victim = await c.kill(slot, 'SIGKILL');
        kills.push({ slot, workerId: victim.workerId!, at: victim.killedAt! });
        await c.startWorker(slot);
      }
    })().catch((err: unknown) => fail(`the chaos loop failed: ${err}`));

    const ids: string[] = [];
    const clipOf = new Map<string, Clip>();
    try {
      for (let i = 0; i < UPLOADS; i++) {
        const clip = CLIPS[i % CLIPS.length]!;
        const id = await tusUpload(c, fs.readFileSync(files[i % CLIPS.length]!), {
          filename: `${clip.name}-${i}.mp4`,
        });
        ids.push(id);
        clipOf.set(id, clip);
      }
    } catch (err) {
      fail(`an upload failed: ${err}`);
    }
    await Promise.all([chaos, watch]);
    const chaosSeconds = (Date.now() - started) / 1000;
    expect(failed, c.tail()).toBeUndefined();
    expect(allReady, `not every video was ready after ${chaosSeconds} s\n${c.tail()}`).toBe(true);

    // ---- exactly once ----
    const events = await db.query<EventRow>(
      `SELECT video_id, attempt, event, worker_id, detail, (extract(epoch FROM at) * 1000)::float8 AS at_ms
         FROM job_events ORDER BY id`,
    );
    const videos = await db.query<{ id: string; status: string; output_prefix: string }>(
      'SELECT id, status, output_prefix FROM videos',
    );
    expect(videos.map((v) => v.id).sort()).toEqual([...ids].sort());
    const publishedPrefix = new Map<string, string>();
    for (const v of videos) {
      const pubs = events.filter((e) => e.video_id === v.id && e.event === 'published');
      expect(pubs, `published events of ${v.id}`).toHaveLength(1);
      expect(v.status).toBe('ready');
      expect(v.output_prefix).toBe(pubs[0]!.detail);
      expect(v.output_prefix).toBe(`videos/${v.id}/a${pubs[0]!.attempt}/`);
      publishedPrefix.set(v.id, v.output_prefix);
    }

    // ---- nothing of a lost attempt is left behind (once the orphan collector has run) ----
    const objects = path.join(c.dataDir, 'objects');
    const leftovers = () =>
      ids.flatMap((id) => {
        const dir = path.join(objects, 'videos', id);
        const kept = publishedPrefix.get(id)!.split('/')[2];
        return fs.existsSync(dir)
          ? fs
              .readdirSync(dir)
              .filter((d) => d !== kept)
              .map((d) => `videos/${id}/${d}/`)
          : [];
      });
    const collectStarted = Date.now();
    let left = leftovers();
    while (left.length > 0 && Date.now() - collectStarted < 8 * LEASE_SECONDS * 1000 + 10_000) {
      await sleep(500);
      left = leftovers();
    }
    expect(left, 'outputs of attempts that did not publish').toEqual([]);
    expect(await db.query('SELECT prefix FROM orphan_prefixes')).toEqual([]);
    for (const id of ids) {
      expect(fs.readdirSync(path.join(objects, 'videos', id))).toEqual([
        publishedPrefix.get(id)!.split('/')[2],
      ]);
    }
    expect(fs.readdirSync(path.join(objects, '.tmp')), 'half-written objects').toEqual([]);
    // Work directories of attempts killed mid-transcode: the worker died and could not clean up; the next
    // worker to start on this machine removes those whose process is gone.
    const workDir = path.join(c.dataDir, 'work');
    const workDirs = () => (fs.existsSync(workDir) ? fs.readdirSync(workDir) : []);
    let workLeft = workDirs();
    while (workLeft.length > 0 && Date.now() - collectStarted < 8 * LEASE_SECONDS * 1000 + 10_000) {
      await sleep(500);
      workLeft = workDirs();
    }
    expect(workLeft, 'work directories of attempts that did not publish').toEqual([]);

    // ---- every published ladder is complete and plays (over HTTP, through the playback URL) ----
    for (const id of ids) {
      const clip = clipOf.get(id)!;
      const view = (await (await c.api(`/v1/videos/${id}`)).json()) as {
        status: string;
        renditions: { height: number }[];
      };
      expect(view.status).toBe('ready');
      expect(view.renditions.map((r) => r.height)).toEqual(LADDER);
      const { url } = (await (await c.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
      const masterRes = await fetch(url);
      expect(masterRes.status).toBe(200);
      const master = parseMasterPlaylist(await masterRes.text());
      expect(master.variants).toHaveLength(LADDER.length);
      for (const [i, v] of master.variants.entries()) {
        const p = await probeRendition(resolveUri(url, v.uri));
        expect(p.height, `${id} ${v.uri}`).toBe(LADDER[i]);
        expect(p.width % 2).toBe(0);
        expect(Math.abs(p.width / p.height - 16 / 9)).toBeLessThan(0.02);
        expect(Math.abs(p.durationSec - clip.seconds), `${id} ${v.uri} duration`).toBeLessThan(0.5);
        expect(p.profile).toBe('High');
        expect(v.attributes['AUDIO'] !== undefined).toBe(clip.audio);
      }
      const audio = master.media.filter((m) => m['TYPE'] === 'AUDIO' && m['URI']);
      expect(audio.length, `${id} audio renditions`).toBe(clip.audio ? 1 : 0);
      for (const m of audio) {
        const a = await probeAudioRendition(resolveUri(url, m['URI']!));
        expect(a.codec).toBe('aac');
        expect(a.channels).toBe(2);
        expect(Math.abs(a.durationSec - clip.seconds)).toBeLessThan(0.5);
      }
    }

    // ---- the logs account for every reclaim ----
    await sleep(200); // the last lines of the live processes
    const logs = c.logs();
    const reclaimLogs = logs.filter((l) => l.msg === 'job reclaimed after an expired lease');
    const reclaims = events.filter((e) => e.event === 'reclaimed');
    // One exception, counted and printed: the worker that reclaimed was SIGKILLed before its line reached
    // stdout (the kill came within a second of the reclaim and that process wrote nothing after it). Reel's
    // logger writes stdout asynchronously, so a kill a few ms after a log call loses the line.
    const procs = c.processes();
    const unloggedReclaims: string[] = [];
    for (const r of reclaims) {
      const line = reclaimLogs.find((l) => l.videoId === r.video_id && l.attempt === r.attempt);
      if (line) continue;
      const proc = procs.find((p) => p.workerId === r.worker_id);
      const killedMs = proc?.killedAt !== undefined ? proc.killedAt - r.at_ms : undefined;
      const silentAfter = proc ? !logs.some((l) => l.pid === proc.pid && l.time > r.at_ms + 5) : false;
      const explained = killedMs !== undefined && killedMs < 1000 && silentAfter;
      expect(
        explained,
        `a log line for the reclaim of ${r.video_id} attempt ${r.attempt} by ${r.worker_id} (${
          killedMs !== undefined ? `killed ${killedMs.toFixed(0)} ms after the reclaim` : 'not killed'
        }, ${silentAfter ? 'silent after it' : 'logged after it'})\nevents: ${JSON.stringify(
          events.filter((e) => e.video_id === r.video_id),
        )}\nlogs: ${JSON.stringify(logs.filter((l) => l.videoId === r.video_id && l.proc !== 'api'))}`,
      ).toBe(true);
      unloggedReclaims.push(`${r.video_id}/a${r.attempt} (killed ${killedMs!.toFixed(0)} ms later)`);
    }
    for (const l of reclaimLogs) {
      expect(
        reclaims.some((r) => r.video_id === l.videoId && r.attempt === l.attempt),
        `an event for the logged reclaim of ${l.videoId} attempt ${l.attempt}`,
      ).toBe(true);
    }
    // …and every reclaim is explained: the attempt before it was on a worker that was killed, or that
    // lost its lease and said so.
    const killedWorkers = new Map(kills.map((k) => [k.workerId, k.at]));
    const abandoned = logs.filter((l) => l.msg === 'attempt abandoned: lease lost, nothing published');
    const claims = events.filter((e) => e.event === 'claimed' || e.event === 'reclaimed');
    let claimsWithoutEvent = 0;
    for (const r of reclaims) {
      const before = claims
        .filter((e) => e.video_id === r.video_id && e.attempt < r.attempt)
        .sort((a, b) => b.attempt - a.attempt)[0];
      expect(before, `an attempt before the reclaim of ${r.video_id} attempt ${r.attempt}`).toBeDefined();
      if (before!.attempt !== r.attempt - 1) claimsWithoutEvent += r.attempt - 1 - before!.attempt;
      const killed = killedWorkers.has(before!.worker_id ?? '');
      const lost = abandoned.some((l) => l.videoId === before!.video_id && l.attempt === before!.attempt);
      expect(
        killed || lost,
        `attempt ${before!.attempt} of ${r.video_id} (worker ${before!.worker_id}) was neither killed nor lost its lease`,
      ).toBe(true);
    }

    // ---- counts ----
    // Encode time thrown away: attempts that noticed their lost lease say how long they ran; for an
    // attempt killed with its worker, the time from its claim to the kill.
    const finished = new Set(
      events
        .filter((e) => ['published', 'stale', 'retry', 'failed', 'released'].includes(e.event))
        .map((e) => `${e.video_id}/${e.attempt}`),
    );
    let killedAttempts = 0;
    let killedSeconds = 0;
    for (const e of claims) {
      const killedAt = killedWorkers.get(e.worker_id ?? '');
      if (killedAt === undefined || finished.has(`${e.video_id}/${e.attempt}`)) continue;
      if (abandoned.some((l) => l.videoId === e.video_id && l.attempt === e.attempt)) continue;
      killedAttempts++;
      killedSeconds += Math.max(0, killedAt - e.at_ms) / 1000;
    }
    const abandonedSeconds = abandoned.reduce((s, l) => s + Number(l['wastedSeconds'] ?? 0), 0);
    const readySeconds = logs
      .filter((l) => l.msg === 'video ready')
      .reduce((s, l) => s + Number(l['seconds'] ?? 0), 0);
    const counts = {
      videos: ids.length,
      kills: kills.length,
      killsThatHitAJob: killedAttempts,
      attempts: claims.length,
      reclaims: reclaims.length,
      leaseLostAndAbandoned: abandoned.length,
      staleEvents: events.filter((e) => e.event === 'stale').length,
      retries: events.filter((e) => e.event === 'retry').length,
      claimsWithoutEvent,
      reclaimsUnloggedBecauseKilledAtOnce: unloggedReclaims,
      wastedSecondsKilled: Number(killedSeconds.toFixed(1)),
      wastedSecondsAbandoned: Number(abandonedSeconds.toFixed(1)),
      wastedSecondsTotal: Number((killedSeconds + abandonedSeconds).toFixed(1)),
      publishedAttemptSeconds: Number(readySeconds.toFixed(1)),
      workDirsOfDeadWorkersSwept: logs.filter(
        (l) => l.msg === 'removed the work directory of a worker that died',
      ).length,
      secondsUntilAllReady: Number(chaosSeconds.toFixed(1)),
      secondsTotal: Number(((Date.now() - started) / 1000).toFixed(1)),
    };
    console.log(`chaos counts: ${JSON.stringify(counts, null, 2)}`);

    expect(kills.length).toBeGreaterThanOrEqual(3);
    expect(reclaims.length, 'the kills interrupted some jobs').toBeGreaterThan(0);
  }, 240_000);
});

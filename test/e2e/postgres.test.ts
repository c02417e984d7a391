/**
 * Scaled-out Reel on a real Postgres: `reel serve --roles upload,play` and `reel worker` run as child
 * processes against a private Postgres server started for this file (so that it can be stopped and
 * restarted without touching the machine's shared one), sharing one data directory for the filesystem
 * object store. Each test gets its own database and data directory.
 *
 * Covered: a Postgres restart during a run; SIGTERM hand-back of running tasks; SIGKILL takeover after
 * the lease; retry with backoff, give-up and POST /retry re-running only what failed; a permanent error; a
 * stolen lease killing ffmpeg within a heartbeat; migrations applied once by processes starting together.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/core/ports.js';
import { listMigrations, migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { getVideo, insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { FFMPEG, makeClip, makeTextFile } from '../fixtures/generate.js';
import { type PrivatePostgres, startPrivatePostgres } from '../helpers/private-postgres.js';
import { type ReelProcess, spawnReel } from '../helpers/process.js';
import { waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const API_KEY = 'reel_test_postgres_key_0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface JobEventRow {
  event: string;
  /** The task the event is about (a chunk, the audio); null for the job's planning step. */
  task_id: string | null;
  attempt: number;
  worker_id: string | null;
  detail: string | null;
  at: Date;
}

/** One database and one data directory, shared by the processes of a test. */
interface Cluster {
  dbUrl: string;
  dataDir: string;
  db: Db;
  env: Record<string, string>;
}

interface Proc {
  proc: ReelProcess;
  pid: number;
  /** The JSON log lines printed so far. */
  logs(): Record<string, unknown>[];
  alive(): boolean;
}

interface WorkerProc extends Proc {
  workerId: string;
}

interface ApiProc extends Proc {
  url: string;
  api(pathname: string, init?: RequestInit): Promise<Response>;
}

// ---- processes under /proc ----

function statOf(pid: number): { comm: string; state: string; ppid: number } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = stat.lastIndexOf(')');
  const [state, ppid] = stat.slice(close + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), state: state!, ppid: Number(ppid) };
}

/** Live (not zombie) processes whose parent is pid. */
function childrenOf(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = statOf(Number(name));
    if (s && s.ppid === pid && s.state !== 'Z') out.push({ pid: Number(name), comm: s.comm });
  }
  return out;
}

const ffmpegChildren = (pid: number) =>
  childrenOf(pid)
    .filter((c) => c.comm === 'ffmpeg')
    .map((c) => c.pid);

/** A process's arguments (empty once it is gone). */
function cmdlineOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function isAlive(pid: number, comm?: string): boolean {
  const s = statOf(pid);
  return !!s && s.state !== 'Z' && (comm === undefined || s.comm === comm);
}

function parseLogs(out: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut in the middle
    }
  }
  return lines;
}

describe('scaled out over a private Postgres', () => {
  let pgs: PrivatePostgres;
  let clips: { long: string; small: string };
  const spawned: ReelProcess[] = [];
  /** ffmpeg processes seen under our workers: killed after each test if still there. */
  const strays = new Set<number>();
  const clusters: Cluster[] = [];

  beforeAll(async () => {
    const [server, long, small] = await Promise.all([
      startPrivatePostgres(),
      // The same clip as the restart test (one cache file): 30 s of 720p.
      makeClip('restart-720p', { width: 1280, height: 720, seconds: 30 }),
      makeClip('pg-small', { width: 320, height: 180, seconds: 3 }),
    ]);
    pgs = server;
    clips = { long, small };
  });

  afterAll(async () => {
    await pgs?.destroy();
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      for (const p of spawned) {
        console.log(`---- output of pid ${p.child.pid} (${p.child.spawnargs.slice(3).join(' ')}) ----`);
        console.log(p.output().slice(-6000));
      }
      if (pgs) console.log(`---- private Postgres log ----\n${pgs.log()}`);
    }
    for (const p of spawned) {
      if (p.child.pid) for (const pid of ffmpegChildren(p.child.pid)) strays.add(pid);
      p.child.kill('SIGKILL');
    }
    await Promise.all(spawned.map((p) => Promise.race([p.exited, sleep(5000)])));
    for (const pid of strays) {
      if (isAlive(pid, 'ffmpeg')) process.kill(pid, 'SIGKILL');
    }
    spawned.length = 0;
    strays.clear();
    if (pgs && !pgs.isRunning()) await pgs.start();
    for (const c of clusters) {
      await c.db.close().catch(() => undefined);
      fs.rmSync(c.dataDir, { recursive: true, force: true });
    }
    clusters.length = 0;
  });

  /** A fresh database (migrated unless told otherwise) and data directory. */
  async function cluster(opts: { migrate?: boolean; env?: Record<string, string> } = {}): Promise<Cluster> {
    const dbUrl = await pgs.createDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-pg-e2e-'));
    const db = await openPostgres(dbUrl);
    const c: Cluster = {
      dbUrl,
      dataDir,
      db,
      env: {
        DATABASE_URL: dbUrl,
        REEL_DATA_DIR: dataDir,
        REEL_API_KEY: API_KEY,
        HOST: '127.0.0.1',
        PORT: '0',
        REEL_X264_PRESET: 'superfast',
        // Two small rungs keep a 30 s 720p transcode to a few seconds on two cores.
        REEL_LADDER: '360,240',
        REEL_LEASE_SECONDS: '10',
        REEL_POLL_MS: '200',
        REEL_MAX_ATTEMPTS: '3',
        REEL_RETRY_BASE_SECONDS: '0.5',
        REEL_SHUTDOWN_GRACE_SECONDS: '0',
        FFMPEG_PATH: FFMPEG,
        LOG_LEVEL: 'info',
        ...opts.env,
      },
    };
    clusters.push(c);
    if (opts.migrate !== false) await migrate(db);
    return c;
  }

  function track(proc: ReelProcess): Proc {
    spawned.push(proc);
    return {
      proc,
      pid: proc.child.pid!,
      logs: () => parseLogs(proc.output()),
      alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
    };
  }

  async function startWorker(c: Cluster, env: Record<string, string> = {}): Promise<WorkerProc> {
    const p = track(spawnReel(['worker'], { ...c.env, ...env }));
    const [, workerId] = await p.proc.waitForOutput(
      /"workerId":"([^"]+)"[^\n]*"msg":"worker started"/,
      60_000,
    );
    return { ...p, workerId: workerId! };
  }

  async function startApi(c: Cluster, env: Record<string, string> = {}): Promise<ApiProc> {
    const p = track(spawnReel(['serve', '--roles', 'upload,play'], { ...c.env, ...env }));
    const [, url] = await p.proc.waitForOutput(/URL:\s+(http:\/\/\S+)/, 60_000);
    return {
      ...p,
      url: url!,
      api: (pathname, init = {}) =>
        fetch(url + pathname, {
          ...init,
          headers: { Authorization: `Bearer ${API_KEY}`, ...(init.headers as Record<string, string>) },
          signal: AbortSignal.timeout(15_000),
        }),
    };
  }

  /** Queues a clip the way a finished upload does: source in the store, video and job in one transaction. */
  async function queueClip(c: Cluster, file: string, maxAttempts = 3): Promise<string> {
    const id = `v${crypto.randomBytes(6).toString('hex')}`;
    const key = `sources/${id}/original`;
    const dest = path.join(c.dataDir, 'objects', key);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(file, dest);
    await insertUploadingVideo(c.db, { id, title: id, filename: 'clip.mp4', playbackPolicy: 'public' });
    expect(
      await queueUploadedVideo(c.db, { id, sourceKey: key, sourceSize: fs.statSync(file).size, maxAttempts }),
    ).toBe(true);
    return id;
  }

  const eventsOf = (c: Cluster, id: string) =>
    c.db.query<JobEventRow>(
      'SELECT event, task_id::text, attempt, worker_id, detail, at FROM job_events WHERE video_id = $1 ORDER BY id',
      [id],
    );
  const brief = (events: JobEventRow[]) => events.map((e) => `${e.event}@${e.attempt}`);
  /** The events of one task (or of the planning step: null). */
  const ofTask = (events: JobEventRow[], taskId: string | null) => events.filter((e) => e.task_id === taskId);
  /** Every task of the video published exactly once, and the video made ready once. */
  async function publishedOnce(c: Cluster, id: string): Promise<void> {
    const events = await eventsOf(c, id);
    const tasks = await c.db.query<{ id: string; state: string; attempt: number }>(
      'SELECT id::text, state, attempt FROM tasks WHERE video_id = $1',
      [id],
    );
    expect(tasks.length).toBeGreaterThan(1);
    for (const t of tasks) {
      expect(t.state).toBe('done');
      const pubs = ofTask(events, t.id).filter((e) => e.event === 'published');
      expect(
        pubs.map((e) => e.attempt),
        brief(ofTask(events, t.id)).join(' '),
      ).toEqual([t.attempt]);
    }
    expect(events.filter((e) => e.event === 'ready')).toHaveLength(1);
  }
  /** The store holds only what was published under the video (an audio attempt may publish part of it). */
  async function onlyPublishedPrefixes(c: Cluster, id: string): Promise<void> {
    const rows = await c.db.query<{ dir: string }>(
      `SELECT DISTINCT split_part(key, '/', 3) AS dir FROM outputs WHERE video_id = $1`,
      [id],
    );
    const kept = new Set(rows.map((r) => r.dir));
    const dir = path.join(c.dataDir, 'objects', 'videos', id);
    const found = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    expect(found.filter((d) => !kept.has(d))).toEqual([]);
  }

  async function videoSettles(c: Cluster, id: string, timeoutMs = 90_000) {
    return waitFor(
      `video ${id} to be ready or failed`,
      async () => {
        const v = await getVideo(c.db, id);
        return v && (v.status === 'ready' || v.status === 'failed') ? v : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until the worker's ffmpeg is under way on the video; returns the ffmpeg pids. */
  async function transcoding(c: Cluster, w: Proc, id: string, minProgress = 0.05): Promise<number[]> {
    return waitFor(
      'the transcode to be under way',
      async () => {
        const v = await getVideo(c.db, id);
        const pids = ffmpegChildren(w.pid);
        for (const pid of pids) strays.add(pid);
        return v?.status === 'processing' && v.progress >= minProgress && pids.length > 0 ? pids : undefined;
      },
      60_000,
      50,
    );
  }

  const exitedWithin = async (p: Proc, ms: number) =>
    Promise.race([p.proc.exited.then((code) => ({ code })), sleep(ms).then(() => undefined)]);

  it('the pg adapter survives a restart: queries fail during it, a cut-off transaction rejects, then all works', async () => {
    const c = await cluster();
    expect(await c.db.query('SELECT 1 AS x')).toEqual([{ x: 1 }]);
    // A transaction that holds its connection while the server goes away.
    const tx = c.db.transaction(async (q) => {
      await q.query('SELECT 1');
      await sleep(1500);
      await q.query('SELECT 2');
    });
    const txResult = tx.then(
      () => 'committed',
      (err: Error) => err.message,
    );
    await sleep(200);
    await pgs.stop('fast');
    await expect(c.db.query('SELECT 1')).rejects.toThrow();
    expect(await txResult).not.toBe('committed');
    await pgs.start();
    expect(await c.db.query('SELECT 2 AS x')).toEqual([{ x: 2 }]);
    expect(await c.db.transaction((q) => q.query('SELECT 3 AS x'))).toEqual([{ x: 3 }]);
  });

  it('a Postgres restart during a run: API and worker survive, the video and a later upload become ready', async () => {
    // A long poll interval: only NOTIFY (over a LISTEN connection re-opened after the restart) wakes the
    // idle worker in time for the second upload.
    const c = await cluster({ migrate: false, env: { REEL_POLL_MS: '20000', REEL_LEASE_SECONDS: '10' } });
    const [api, worker] = await Promise.all([startApi(c), startWorker(c)]);
    const up = { url: api.url, apiKey: API_KEY };
    const id1 = await tusUpload(up, fs.readFileSync(clips.long), { filename: 'long.mp4' });
    await transcoding(c, worker, id1, 0.02);

    await pgs.stop('fast');
    const downAt = Date.now();
    // During the outage: the API answers with an error, promptly; health stays up.
    expect((await api.api('/healthz')).status).toBe(200);
    const during = await api.api(`/v1/videos/${id1}`);
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ statusCode: during.status });
    await sleep(Math.max(0, 2000 - (Date.now() - downAt)));
    await pgs.start();

    expect(api.alive()).toBe(true);
    expect(worker.alive()).toBe(true);
    expect((await api.api('/healthz')).status).toBe(200);

    const v1 = await waitFor(
      'the first video to settle after the restart',
      async () => {
        const v = await (await api.api(`/v1/videos/${id1}`)).json();
        return v.status === 'ready' || v.status === 'failed' ? v : undefined;
      },
      90_000,
    );
    expect(v1.status, v1.error).toBe('ready');
    expect(v1.renditions.map((r: { height: number }) => r.height)).toEqual([360, 240]);
    await publishedOnce(c, id1);

    // A second upload after the restart: the idle worker is woken by NOTIFY, not the 20 s poll.
    const id2 = await tusUpload(up, fs.readFileSync(clips.small), { filename: 'small.mp4' });
    const v2 = await videoSettles(c, id2, 60_000);
    expect(v2.status, v2.error ?? '').toBe('ready');
    const [claim] = await eventsOf(c, id2);
    expect(claim?.event).toBe('claimed');
    const latency = claim!.at.getTime() - new Date(v2.created_at).getTime();
    expect(latency, 'claim latency after the restart (ms)').toBeLessThan(8000);

    expect(api.alive()).toBe(true);
    expect(worker.alive()).toBe(true);
    const { url: playUrl } = await (await api.api(`/v1/videos/${id2}/playback`)).json();
    expect((await fetch(playUrl)).status).toBe(200);
  });

  it('SIGTERM with no grace hands the running tasks back: ffmpeg gone, the next worker starts them at once', async () => {
    const c = await cluster({ env: { REEL_LEASE_SECONDS: '60', REEL_SHUTDOWN_GRACE_SECONDS: '0' } });
    const w1 = await startWorker(c);
    const id = await queueClip(c, clips.long);
    const ffmpegPids = await transcoding(c, w1, id);

    const termAt = Date.now();
    w1.proc.child.kill('SIGTERM');
    const exit = await exitedWithin(w1, 10_000);
    const exitMs = Date.now() - termAt;
    expect(exit, `the worker still runs ${exitMs} ms after SIGTERM`).toEqual({ code: 0 });
    expect(exitMs).toBeLessThan(5000);
    for (const pid of ffmpegPids)
      expect(isAlive(pid, 'ffmpeg'), `ffmpeg ${pid} outlived its worker`).toBe(false);
    expect(w1.proc.output()).toMatch(/work handed back on shutdown/);

    // Every task it held is queued again at once, its lease cleared; none is still running.
    const tasks = await c.db.query<{ id: string; state: string; lease_expires_at: Date | null }>(
      `SELECT id::text, state, lease_expires_at FROM tasks WHERE video_id = $1 AND state <> 'done'`,
      [id],
    );
    expect(tasks.length).toBeGreaterThan(0);
    for (const t of tasks) expect(t).toMatchObject({ state: 'queued', lease_expires_at: null });
    const released = (await eventsOf(c, id)).filter((e) => e.event === 'released');
    expect(released.length).toBeGreaterThan(0);
    expect(released.every((e) => e.worker_id === w1.workerId)).toBe(true);

    // The lease was 60 s: a second worker that waited for it would be obvious.
    const w2 = await startWorker(c);
    const startedAt = Date.now();
    const handedBack = released[0]!.task_id;
    const claimed = await waitFor(
      'the second worker to claim a handed-back task',
      async () =>
        (await eventsOf(c, id)).find(
          (e) => e.task_id === handedBack && e.event === 'claimed' && e.worker_id === w2.workerId,
        ),
      15_000,
      100,
    );
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(claimed.attempt).toBe(released[0]!.attempt + 1);
    const v = await videoSettles(c, id);
    expect(v.status, v.error ?? '').toBe('ready');
    await publishedOnce(c, id);
  });

  it('SIGKILL mid-transcode: another worker takes the tasks over once their leases expire', async () => {
    const c = await cluster({ env: { REEL_LEASE_SECONDS: '2' } });
    const w1 = await startWorker(c);
    const id = await queueClip(c, clips.long);
    const orphanPids = await transcoding(c, w1, id);
    w1.proc.child.kill('SIGKILL');
    await w1.proc.exited;
    const killedAt = Date.now();
    // The killed worker's ffmpeg is orphaned and runs on to the end of its chunk (nothing tells it its
    // parent died); it only writes to the dead attempt's scratch directory, never to the store. It is
    // stopped here so that it does not slow the takeover down.
    for (const pid of orphanPids) if (isAlive(pid, 'ffmpeg')) process.kill(pid, 'SIGKILL');

    const w2 = await startWorker(c);
    const reclaimed = await waitFor(
      'a task to be reclaimed',
      async () => (await eventsOf(c, id)).find((e) => e.event === 'reclaimed'),
      30_000,
      100,
    );
    expect(reclaimed.worker_id).toBe(w2.workerId);
    expect(reclaimed.task_id).not.toBeNull();
    const v = await videoSettles(c, id);
    expect(v.status, v.error ?? '').toBe('ready');
    await publishedOnce(c, id);
    const events = await eventsOf(c, id);
    // What the killed worker had finished stays published; only what it held was done again.
    expect(ofTask(events, null)[0]!.worker_id).toBe(w1.workerId);
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    await waitFor(
      'the orphan collector',
      async () =>
        (await c.db.query('SELECT prefix FROM orphan_prefixes WHERE collected_at IS NULL')).length === 0,
      30_000,
    );
    await onlyPublishedPrefixes(c, id);
  });

  it('transient failures retry with backoff, then fail with the reason; POST /retry re-runs only what failed', async () => {
    const c = await cluster({ env: { REEL_MAX_ATTEMPTS: '2', REEL_RETRY_BASE_SECONDS: '0.5' } });
    const broken = path.join(c.dataDir, 'broken-ffmpeg.sh');
    fs.writeFileSync(broken, '#!/bin/sh\necho "simulated failure: scratch disk unavailable" >&2\nexit 1\n', {
      mode: 0o755,
    });
    const [api, w1] = await Promise.all([startApi(c), startWorker(c, { FFMPEG_PATH: broken })]);
    const up = { url: api.url, apiKey: API_KEY };

    const id = await tusUpload(up, fs.readFileSync(clips.small), { filename: 'small.mp4' });
    const failed = await videoSettles(c, id, 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/simulated failure: scratch disk unavailable/);
    const view = await (await api.api(`/v1/videos/${id}`)).json();
    expect(view).toMatchObject({ status: 'failed', error: failed.error, playable: false });
    const events = await eventsOf(c, id);
    // The planning step worked (ffprobe is fine); the task that gave up first tried twice, with backoff.
    expect(brief(ofTask(events, null))).toEqual(['claimed@1', 'planned@1']);
    const gaveUp = events.find((e) => e.event === 'failed')!;
    // (Its commit also records how many other tasks it cancelled, when any were still running.)
    const mine = ofTask(events, gaveUp.task_id).filter((e) => e.event !== 'cancelled');
    expect(brief(mine)).toEqual(['claimed@1', 'retry@1', 'claimed@2', 'failed@2']);
    expect(events.every((e) => e.worker_id === w1.workerId || e.worker_id === null)).toBe(true);
    // Backoff: the second attempt waited for the first retry delay (0.5 s), by the database clock.
    expect(mine[2]!.at.getTime() - mine[1]!.at.getTime()).toBeGreaterThanOrEqual(450);
    const states = await c.db.query<{ state: string }>('SELECT state FROM tasks WHERE video_id = $1', [id]);
    expect(states.every((t) => ['failed', 'cancelled', 'done'].includes(t.state))).toBe(true);

    // A permanent error (the upload is not a video) fails at once: one attempt, no retry, no tasks.
    const textId = await tusUpload(up, fs.readFileSync(await makeTextFile()), { filename: 'notes.mp4' });
    const text = await videoSettles(c, textId, 30_000);
    expect(text.status).toBe('failed');
    expect(text.error).toMatch(/not a video/);
    expect(brief(await eventsOf(c, textId))).toEqual(['claimed@1', 'failed@1']);

    // Fix ffmpeg (restart the worker with the real one), then retry: the planning is not done again.
    w1.proc.child.kill('SIGTERM');
    expect(await exitedWithin(w1, 10_000)).toEqual({ code: 0 });
    await startWorker(c);
    const retry = await api.api(`/v1/videos/${id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    expect((await retry.json()).status).toBe('queued');
    const ready = await videoSettles(c, id, 60_000);
    expect(ready.status, ready.error ?? '').toBe('ready');
    expect(ready.error).toBeNull();
    await publishedOnce(c, id);
    expect(brief(ofTask(await eventsOf(c, id), null))).toEqual(['claimed@1', 'planned@1']);
    expect((await api.api(`/v1/videos/${id}/retry`, { method: 'POST' })).status).toBe(409);
  });

  it('a lost lease (taken over in SQL) kills the ffmpeg child within a heartbeat and publishes nothing', async () => {
    // Lease 3 s: heartbeats every second.
    const c = await cluster({ env: { REEL_LEASE_SECONDS: '3' } });
    const w = await startWorker(c);
    const id = await queueClip(c, clips.long);
    await transcoding(c, w, id);
    // A later chunk must be encoding (the 2 s first chunk can end between two looks), and only chunk
    // encoders are watched: the audio task (`-vn`) keeps its lease and runs on.
    const pids = await waitFor(
      'a later chunk to be encoding',
      async () => {
        const [r] = await c.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM tasks
            WHERE video_id = $1 AND state = 'running' AND kind = 'video' AND chunk >= 1`,
          [id],
        );
        const encoders = ffmpegChildren(w.pid).filter((pid) => !cmdlineOf(pid).includes('-vn'));
        for (const pid of encoders) strays.add(pid);
        return r!.n > 0 && encoders.length > 0 ? encoders : undefined;
      },
      60_000,
      25,
    );

    // What a takeover does to the rows: a new claim bumps the fencing token of every running chunk.
    const stolen = await c.db.query<{ id: string; attempt: number }>(
      `UPDATE tasks SET attempt = attempt + 1
        WHERE video_id = $1 AND state = 'running' AND kind = 'video' RETURNING id::text, attempt`,
      [id],
    );
    expect(stolen.length).toBeGreaterThan(0);
    const stolenAt = Date.now();
    await waitFor(
      'ffmpeg to be killed',
      async () => pids.every((pid) => !isAlive(pid, 'ffmpeg')),
      10_000,
      25,
    );
    const killMs = Date.now() - stolenAt;
    // A heartbeat (1 s), its query and the kill (about 1 s measured). Watching only the chunk encoders
    // matters: the audio's ffmpeg keeps its lease and runs on, which once made this look like 3 s.
    expect(killMs, 'ffmpeg outlived the lost lease by more than a heartbeat').toBeLessThan(2500);
    expect(ffmpegChildren(w.pid).filter((p) => pids.includes(p))).toEqual([]);
    await w.proc.waitForOutput(/lease lost/, 5000);
    await w.proc.waitForOutput(/attempt abandoned: lease lost, nothing more published/, 5000);
    expect(w.alive()).toBe(true);

    // Every stolen attempt ends stale, also one that was still fetching its source when it was stolen.
    await waitFor(
      'every stolen attempt to end stale',
      async () => {
        const ev = await eventsOf(c, id);
        return stolen.every((t) => brief(ofTask(ev, t.id)).includes(`stale@${t.attempt - 1}`));
      },
      10_000,
      50,
    );
    const events = await eventsOf(c, id);
    for (const t of stolen) {
      const mine = ofTask(events, t.id);
      expect(mine.filter((e) => e.event === 'published')).toEqual([]);
      expect(brief(mine)).toContain(`stale@${t.attempt - 1}`);
      // Nothing of the stolen attempt is published or left in the store.
      const keys = await c.db.query<{ key: string }>('SELECT key FROM outputs WHERE task_id = $1', [t.id]);
      expect(keys).toEqual([]);
      expect(fs.existsSync(path.join(c.dataDir, 'objects', 'videos', id, `t${t.id}-a${t.attempt - 1}`))).toBe(
        false,
      );
    }

    // Nobody holds the bumped attempts: when their leases run out the tasks are taken over again, and finish.
    const done = await videoSettles(c, id);
    expect(done.status, done.error ?? '').toBe('ready');
    await publishedOnce(c, id);
    const after = await eventsOf(c, id);
    for (const t of stolen) {
      expect(
        ofTask(after, t.id)
          .filter((e) => e.event === 'published')
          .map((e) => e.attempt),
      ).toEqual([t.attempt + 1]);
    }
  });

  it('migrations are applied exactly once when four workers start at the same moment', async () => {
    const c = await cluster({ migrate: false });
    expect(
      await c.db.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_migrations'`),
    ).toEqual([]);
    const workers = await Promise.all(Array.from({ length: 4 }, () => startWorker(c)));
    expect(workers.every((w) => w.alive())).toBe(true);
    expect(new Set(workers.map((w) => w.workerId)).size).toBe(4);
    const rows = await c.db.query<{ version: number; n: number }>(
      'SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version',
    );
    expect(rows).toEqual(listMigrations().map((m) => ({ version: m.version, n: 1 })));
    // The schema works: a queued job is processed.
    const id = await queueClip(c, clips.small);
    const v = await videoSettles(c, id, 60_000);
    expect(v.status, v.error ?? '').toBe('ready');
  });
});

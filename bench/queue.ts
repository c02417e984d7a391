/**
 * `npm run bench:queue`: the lease queue under load. 50 tiny jobs (160×90, 1 s) are queued at once and
 * drained by 1, 2 and 4 `reel worker` processes against Postgres (a fresh database each time). For each
 * worker count it prints:
 *
 * - jobs per minute (queued → last published), against a reference measured in the same run: the same 50
 *   ffmpeg commands Reel runs, drained by as many plain loops in this process, with no queue at all;
 * - the claim latency (queued → claimed, from jobs.created_at and job_events) at p50 and p99, against the
 *   same reference's queued → started;
 * - the time the workers spent in SQL (every query they sent, timed in each worker process around
 *   node-postgres; start-up queries and idle polls that found no job left out) against the time they spent
 *   on their jobs ('video ready' seconds): the overhead of the queue itself, which should stay under 1%.
 *
 * BENCH_JOBS, BENCH_WORKERS (e.g. "1,2,4") and BENCH_LEASE_SECONDS (default 30, production's) change the run.
 *
 * The same file is the entry of the worker processes (`bench/queue.ts worker`): it wraps node-postgres's
 * Client.query with a timer and then runs the real `reel worker`; at exit it writes its totals.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

const STATS_DIR_ENV = 'BENCH_SQL_STATS_DIR';

// ---------------------------------------------------------------- worker side

/**
 * What a query is for. The worker awaits the first group between claiming a job and 'video ready' (they
 * lengthen the job); the second runs on timers or unawaited, alongside ffmpeg; the last is not per job.
 */
const ON_THE_PATH = ['claim', 'event', 'prefix', 'commit-tx', 'other'] as const;
const ALONGSIDE = ['heartbeat', 'progress', 'orphan-gc'] as const;
type Kind = (typeof ON_THE_PATH)[number] | (typeof ALONGSIDE)[number] | 'startup' | 'idle-poll';

function classify(sql: string, inTransaction: boolean): Kind {
  // Everything in a transaction: the fenced commit (publish, or fail/retry/release), BEGIN to COMMIT.
  if (inTransaction) return 'commit-tx';
  const s = sql.trim();
  if (/WITH next AS/.test(s) || /SET status = 'processing'/.test(s)) return 'claim';
  if (/^UPDATE jobs SET lease_expires_at = now\(\) \+/.test(s)) return 'heartbeat';
  if (/SET progress = /.test(s)) return 'progress';
  if (/INSERT INTO job_events/.test(s)) return 'event';
  if (/^INSERT INTO orphan_prefixes/.test(s)) return 'prefix';
  if (/orphan_prefixes/.test(s)) return 'orphan-gc';
  return 'other';
}

interface SqlStats {
  pid: number;
  /** milliseconds and count per kind */
  ms: Record<string, number>;
  count: Record<string, number>;
}

async function runWorker(): Promise<void> {
  const stats: SqlStats = { pid: process.pid, ms: {}, count: {} };
  const add = (kind: Kind, ms: number) => {
    stats.ms[kind] = (stats.ms[kind] ?? 0) + ms;
    stats.count[kind] = (stats.count[kind] ?? 0) + 1;
  };
  let claiming = false;
  const inTransaction = new WeakSet<object>();
  type QueryFn = (...args: unknown[]) => unknown;
  const proto = pg.Client.prototype as unknown as { query: QueryFn };
  const original = proto.query;
  proto.query = function timedQuery(this: unknown, ...args: unknown[]) {
    const first = args[0];
    const sql = typeof first === 'string' ? first : ((first as { text?: string } | null)?.text ?? '');
    if (/^\s*LISTEN\b/i.test(sql)) return original.apply(this, args);
    // Everything before the first claim is the process starting (migrations, keys): not per-job work.
    if (/WITH next AS/.test(sql)) claiming = true;
    if (/^\s*BEGIN\b/i.test(sql)) inTransaction.add(this as object);
    const kind = claiming ? classify(sql, inTransaction.has(this as object)) : 'startup';
    if (/^\s*(COMMIT|ROLLBACK)\b/i.test(sql)) inTransaction.delete(this as object);
    const started = performance.now();
    const done = (res: unknown) => {
      const rows = (res as { rowCount?: number | null } | undefined)?.rowCount;
      add(
        kind === 'claim' && /WITH next AS/.test(sql) && rows === 0 ? 'idle-poll' : kind,
        performance.now() - started,
      );
    };
    const cb = args.findIndex((a) => typeof a === 'function');
    if (cb >= 0) {
      const callback = args[cb] as (err: unknown, res: unknown) => unknown;
      args[cb] = (err: unknown, res: unknown) => {
        done(res);
        return callback(err, res);
      };
      return original.apply(this, args);
    }
    const out = original.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === 'function') {
      return (out as Promise<unknown>).then(
        (res) => {
          done(res);
          return res;
        },
        (err: unknown) => {
          done(undefined);
          throw err;
        },
      );
    }
    return out;
  };
  const dir = process.env[STATS_DIR_ENV];
  if (dir) {
    process.on('exit', () => {
      fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(stats));
    });
  }
  const { main } = await import('../src/cli/main.js');
  await main(process.argv.slice(2));
}

// ---------------------------------------------------------------- bench side

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function runTool(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} exited ${code}: ${err}`))));
  });
}

interface DrainResult {
  jobsPerMinute: number;
  latencyP50: number;
  latencyP99: number;
  /** mean seconds per job */
  jobSeconds: number;
}

/** The reference: the same ffmpeg command for every job, drained by `n` loops, no queue at all. */
async function plainFfmpeg(clip: string, jobs: number, n: number, ladder: number[]): Promise<DrainResult> {
  const { loadConfig } = await import('../src/config.js');
  const { buildTranscodeArgs } = await import('../src/media/ffmpegArgs.js');
  const { planTranscode } = await import('../src/media/ladder.js');
  const { probe } = await import('../src/media/probe.js');
  const config = loadConfig({ ladder: ladder.join(',') }, {});
  const source = await probe(clip, { ffprobePath: config.ffprobePath });
  const plan = planTranscode(source, { rungs: config.ladder, preset: config.x264Preset, crf: config.crf });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-queue-ffmpeg-'));
  const latencies: number[] = [];
  const durations: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let i = next++; i < jobs; i = next++) {
        const started = performance.now();
        latencies.push((started - t0) / 1000);
        const out = path.join(root, String(i));
        fs.mkdirSync(out);
        await runTool(
          config.ffmpegPath,
          buildTranscodeArgs(plan, { path: clip, demuxer: source.demuxer }, out),
        );
        durations.push((performance.now() - started) / 1000);
      }
    }),
  );
  const makespan = (performance.now() - t0) / 1000;
  fs.rmSync(root, { recursive: true, force: true });
  return {
    jobsPerMinute: (jobs / makespan) * 60,
    latencyP50: percentile(latencies, 50),
    latencyP99: percentile(latencies, 99),
    jobSeconds: durations.reduce((a, b) => a + b, 0) / durations.length,
  };
}

interface ReelResult extends DrainResult {
  latencyMin: number;
  /** SQL the worker awaited while on a job (claim, events, prefix, the fenced commit). */
  pathSqlSeconds: number;
  /** SQL alongside ffmpeg (heartbeats, progress, orphan collection). */
  alongsideSqlSeconds: number;
  sqlByKind: Record<string, { ms: number; count: number }>;
  workSeconds: number;
  attempts: number;
  published: number;
}

async function reelDrain(
  clip: string,
  jobs: number,
  n: number,
  ladder: number[],
  lease: number,
): Promise<ReelResult> {
  const { postgresDb } = await import('../test/helpers/db.js');
  const { startCluster } = await import('../test/helpers/cluster.js');
  const { insertUploadingVideo, queueUploadedVideo } = await import('../src/db/videos.js');
  const { createFsStore } = await import('../src/storage/fs.js');
  const { keys } = await import('../src/storage/keys.js');

  const tdb = await postgresDb();
  const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-queue-stats-'));
  const cluster = await startCluster({
    databaseUrl: tdb.url!,
    workers: n,
    http: false,
    entry: 'bench/queue.ts',
    env: {
      [STATS_DIR_ENV]: statsDir,
      REEL_LADDER: ladder.join(','),
      REEL_LEASE_SECONDS: String(lease),
      REEL_X264_PRESET: process.env.REEL_X264_PRESET ?? 'veryfast',
      REEL_SHUTDOWN_GRACE_SECONDS: '5',
    },
  });
  try {
    const db = tdb.db;
    const store = createFsStore(path.join(cluster.dataDir, 'objects'));
    const size = fs.statSync(clip).size;
    const ids = Array.from({ length: jobs }, () => `bq${crypto.randomBytes(8).toString('hex')}`);
    for (const id of ids) {
      await insertUploadingVideo(db, { id, title: id, filename: 'tiny.mp4', playbackPolicy: 'public' });
      const tmp = path.join(cluster.dataDir, `${id}.mp4`);
      fs.copyFileSync(clip, tmp);
      await store.putFile(keys.source(id), tmp, { move: true });
    }
    // All jobs queued in one transaction (one created_at, one burst of notifications at commit).
    await db.transaction(async (tx) => {
      const inTx = { ...tx, transaction: <T>(fn: (q: typeof tx) => Promise<T>) => fn(tx) };
      for (const id of ids) {
        await queueUploadedVideo(inTx, { id, sourceKey: keys.source(id), sourceSize: size, maxAttempts: 3 });
      }
    });
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const [row] = await db.query<{ done: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE state = 'done')::int AS done,
                count(*) FILTER (WHERE state = 'failed')::int AS failed FROM jobs`,
      );
      if (row!.failed > 0) throw new Error(`${row!.failed} job(s) failed:\n${cluster.tail()}`);
      if (row!.done === jobs) break;
      if (Date.now() > deadline) throw new Error(`the drain did not finish:\n${cluster.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // SIGTERM: the workers (idle now) exit and write their SQL totals.
    await Promise.all(cluster.workers().map((w) => cluster.kill(w.slot, 'SIGTERM')));

    const [span] = await db.query<{ first_queued: number; last_published: number }>(
      `SELECT (extract(epoch FROM min(j.created_at)) * 1000)::float8 AS first_queued,
              (extract(epoch FROM (SELECT max(at) FROM job_events WHERE event = 'published')) * 1000)::float8
                AS last_published
         FROM jobs j`,
    );
    const latencies = (
      await db.query<{ s: number }>(
        `SELECT extract(epoch FROM (e.at - j.created_at))::float8 AS s
           FROM job_events e JOIN jobs j ON j.id = e.job_id
          WHERE e.event IN ('claimed', 'reclaimed')
            AND e.attempt = (SELECT min(attempt) FROM job_events f WHERE f.job_id = e.job_id)`,
      )
    ).map((r) => r.s);
    const [counts] = await db.query<{ attempts: number; published: number }>(
      `SELECT count(*) FILTER (WHERE event IN ('claimed', 'reclaimed'))::int AS attempts,
              count(*) FILTER (WHERE event = 'published')::int AS published FROM job_events`,
    );
    const ready = cluster.logs().filter((l) => l.msg === 'video ready');
    const workSeconds = ready.reduce((s, l) => s + Number(l['seconds'] ?? 0), 0);

    const byKind: Record<string, { ms: number; count: number }> = {};
    const files = fs.readdirSync(statsDir);
    if (files.length !== n) throw new Error(`expected SQL totals from ${n} workers, got ${files.length}`);
    for (const f of files) {
      const s = JSON.parse(fs.readFileSync(path.join(statsDir, f), 'utf8')) as SqlStats;
      for (const [k, ms] of Object.entries(s.ms)) {
        const e = byKind[k] ?? { ms: 0, count: 0 };
        e.ms += ms;
        e.count += s.count[k] ?? 0;
        byKind[k] = e;
      }
    }
    const sum = (kinds: readonly string[]) => kinds.reduce((s, k) => s + (byKind[k]?.ms ?? 0), 0) / 1000;
    const makespan = (span!.last_published - span!.first_queued) / 1000;
    return {
      jobsPerMinute: (jobs / makespan) * 60,
      latencyP50: percentile(latencies, 50),
      latencyP99: percentile(latencies, 99),
      latencyMin: Math.min(...latencies),
      jobSeconds: workSeconds / Math.max(1, ready.length),
      pathSqlSeconds: sum(ON_THE_PATH),
      alongsideSqlSeconds: sum(ALONGSIDE),
      sqlByKind: byKind,
      workSeconds,
      attempts: counts!.attempts,
      published: counts!.published,
    };
  } finally {
    await cluster.close();
    fs.rmSync(statsDir, { recursive: true, force: true });
    await tdb.drop();
  }
}

async function runBench(): Promise<void> {
  const { makeClip } = await import('../test/fixtures/generate.js');
  const jobs = Number(process.env.BENCH_JOBS ?? 50);
  const workerCounts = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
  const lease = Number(process.env.BENCH_LEASE_SECONDS ?? 30);
  // BENCH_CLIP=short (default): 4 s of 640×360, a small but real video; tiny: 1 s of 160×90, where the
  // queue's fixed cost per job is easiest to see.
  const tiny = process.env.BENCH_CLIP === 'tiny';
  const ladder = tiny ? [90, 60] : [360, 240];
  const clip = tiny
    ? await makeClip('bench-queue-tiny', { width: 160, height: 90, seconds: 1 })
    : await makeClip('bench-queue-short', { width: 640, height: 360, seconds: 4 });
  const what = tiny ? '160×90 1 s' : '640×360 4 s';
  console.log(
    `queue bench: ${jobs} jobs of a ${what} clip (ladder ${ladder.join(',')}), lease ${lease} s, ` +
      `${os.cpus().length} cores, Postgres ${(process.env.REEL_TEST_POSTGRES_URL ?? '127.0.0.1:5432').replace(/^.*@/, '')}`,
  );
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const n of workerCounts) {
    const ref = await plainFfmpeg(clip, jobs, n, ladder);
    const reel = await reelDrain(clip, jobs, n, ladder, lease);
    const overhead = reel.pathSqlSeconds / reel.workSeconds;
    const overheadAll = (reel.pathSqlSeconds + reel.alongsideSqlSeconds) / reel.workSeconds;
    // The queue's SQL is a fixed cost per job (claim, events, commit) plus a heartbeat every lease/3.
    const pathMsPerJob = (reel.pathSqlSeconds * 1000) / reel.published;
    const verdict = (r: number) => (r < 0.01 ? 'under 1%' : 'OVER 1%');
    const kinds = Object.entries(reel.sqlByKind)
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([k, v]) => `${k} ${fmt(v.ms, 0)} ms/${v.count}`)
      .join(', ');
    console.log(
      `\n${n} worker${n > 1 ? 's' : ''}: ${reel.published} published in ${reel.attempts} attempts\n` +
        `  jobs/min        reel ${fmt(reel.jobsPerMinute, 1)}, plain ffmpeg loops ${fmt(ref.jobsPerMinute, 1)}: ratio ${fmt(reel.jobsPerMinute / ref.jobsPerMinute)}\n` +
        `  claim latency   p50 ${fmt(reel.latencyP50)} s, loops ${fmt(ref.latencyP50)} s: ratio ${fmt(reel.latencyP50 / ref.latencyP50)}; ` +
        `p99 ${fmt(reel.latencyP99)} s, loops ${fmt(ref.latencyP99)} s: ratio ${fmt(reel.latencyP99 / ref.latencyP99)}; ` +
        `first ${fmt(reel.latencyMin * 1000, 0)} ms (an idle worker woken)\n` +
        `  s per job       reel ${fmt(reel.jobSeconds, 3)} (claim to published), plain ffmpeg ${fmt(ref.jobSeconds, 3)}: ratio ${fmt(reel.jobSeconds / ref.jobSeconds)}\n` +
        `  queue SQL       on the job's path ${fmt(reel.pathSqlSeconds * 1000, 0)} ms of ${fmt(reel.workSeconds, 2)} s on jobs = ` +
        `${fmt(overhead * 100, 2)}% (${fmt(pathMsPerJob, 1)} ms per job): ${verdict(overhead)}, ` +
        `and under 1% for jobs longer than ${fmt(pathMsPerJob / 10, 2)} s\n` +
        `                  with heartbeats, progress and orphan collection alongside ffmpeg: ${fmt(overheadAll * 100, 2)}%: ${verdict(overheadAll)}\n` +
        `  by kind         ${kinds}`,
    );
    rows.push([
      String(n),
      fmt(reel.jobsPerMinute, 1),
      fmt(ref.jobsPerMinute, 1),
      fmt(reel.jobsPerMinute / ref.jobsPerMinute),
      fmt(reel.latencyP50),
      fmt(reel.latencyP99),
      fmt(reel.latencyP99 / ref.latencyP99),
      `${fmt(overhead * 100, 2)}%`,
      `${fmt(overheadAll * 100, 2)}%`,
    ]);
    verdicts.push(`${n}: ${verdict(overhead)} (${verdict(overheadAll)} with SQL alongside ffmpeg)`);
  }
  const header = [
    'workers',
    'jobs/min',
    'ffmpeg/min',
    'ratio',
    'claim p50 s',
    'p99 s',
    'p99 ratio',
    'SQL/job time',
    'all SQL',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  console.log(
    `\n${[header, ...rows].map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n')}`,
  );
  console.log(`queue overhead (SQL on the job's path / job time), by workers: ${verdicts.join('; ')}`);
}

if (process.argv[2] === 'worker' || process.argv[2] === 'serve') {
  runWorker().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
} else {
  runBench().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

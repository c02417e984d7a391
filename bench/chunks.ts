/**
 * `npm run bench:chunks`: chunked transcoding, measured against references from the same run.
 *
 * 1. Time to first playable (embedded mode, production settings): from the response to the final upload
 *    request to the master playlist, every rung's first segment and the first audio segment all
 *    answering 200 (the master polled every 20 ms through the playback URL, then every file fetched); for
 *    a 60 s and a 10-minute 1080p30 clip. Aims: ≤ 2.0 s and ≤ 2.5 s.
 * 2. Total time to ready with one worker (embedded, one claim loop) against today's single-process path
 *    on the same 60 s clip (probe + one ffmpeg for the whole ladder + master: transcodeToHls, the
 *    function the worker ran before chunking; the reference has no upload or database in it, so the
 *    ratio is if anything unfavourable to the chunked path). Aim: ≤ 1.05×.
 * 3. Scale-out on Postgres: two `reel worker` processes each pinned to its own core (taskset) against one
 *    such worker, on the same 60 s clip, upload to ready. Aim: ≥ 1.8× faster.
 *
 * BENCH_SECONDS and BENCH_LONG_SECONDS change the clip lengths (60 and 600); BENCH_SKIP=long,scale,ready
 * skips parts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { transcodeToHls } from '../src/media/pipeline.js';
import { makeClip } from '../test/fixtures/generate.js';
import { startCluster } from '../test/helpers/cluster.js';
import { postgresDb } from '../test/helpers/db.js';
import { startTestReel, waitFor } from '../test/helpers/reel.js';
import { tusUpload } from '../test/helpers/upload.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const longSeconds = Number(process.env.BENCH_LONG_SECONDS ?? 600);
const skip = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const defaults = loadConfig({}, {});
const PRODUCTION = { 'x264-preset': defaults.x264Preset, 'lease-seconds': '30', 'log-level': 'info' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Api {
  url: string;
  apiKey: string;
  api(pathname: string, init?: RequestInit): Promise<Response>;
}

/**
 * True when the master, every rung's first segment and the first audio segment answer 200. The master is
 * asked first (one light read, as a player that was given the link would): the rest only once it plays.
 */
async function firstFramesServed(url: string): Promise<boolean> {
  const master = await fetch(url);
  if (master.status !== 200) return false;
  const text = await master.text();
  const uris = [
    ...text.split('\n').filter((l) => l && !l.startsWith('#')),
    ...[...text.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!),
  ];
  const checks = await Promise.all(
    uris.map(async (uri) => {
      const media = new URL(uri, url);
      const r = await fetch(media);
      if (r.status !== 200) return false;
      const first = (await r.text()).split('\n').find((l) => l && !l.startsWith('#'));
      if (!first) return false;
      const [init, seg] = await Promise.all([
        fetch(new URL('init.mp4', media), { method: 'HEAD' }),
        fetch(new URL(first, media), { method: 'HEAD' }),
      ]);
      return init.status === 200 && seg.status === 200;
    }),
  );
  return uris.length > 0 && checks.every(Boolean);
}

async function readyAfter(t: Api, id: string, started: number): Promise<number> {
  await waitFor(
    'ready',
    async () => {
      const v = (await (await t.api(`/v1/videos/${id}`)).json()) as { status: string; error: string | null };
      if (v.status === 'failed') throw new Error(`the video failed: ${v.error}`);
      return v.status === 'ready';
    },
    60 * 60_000,
    250,
  );
  return (performance.now() - started) / 1000;
}

/** Embedded Reel, production settings: upload, then time to first playable and to ready. */
async function embedded(
  clip: string,
  flags: Record<string, string> = {},
): Promise<{ playable: number; ready: number }> {
  const t = await startTestReel({ ...PRODUCTION, ...flags });
  try {
    const id = await tusUpload(t, fs.readFileSync(clip), { filename: 'bench.mp4' });
    const started = performance.now();
    // The playback URL is known at once (it plays once the video is playable); then the master is polled
    // every 20 ms, without an API key (an API call writes the key's last use: 50 writes a second would take
    // CPU from the encode being measured).
    const { url } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
    for (;;) {
      if (await firstFramesServed(url)) break;
      if (performance.now() - started > 30 * 60_000) throw new Error('never playable');
      await sleep(20);
    }
    const playable = (performance.now() - started) / 1000;
    const ready = await readyAfter(t, id, started);
    return { playable, ready };
  } finally {
    await t.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  }
}

async function singleProcess(clip: string): Promise<number> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-single-'));
  const started = performance.now();
  await transcodeToHls({
    input: clip,
    outDir: out,
    settings: {
      rungs: defaults.ladder,
      preset: defaults.x264Preset,
      crf: defaults.crf,
      ffmpegPath: defaults.ffmpegPath,
      ffprobePath: defaults.ffprobePath,
    },
  });
  const elapsed = (performance.now() - started) / 1000;
  fs.rmSync(out, { recursive: true, force: true });
  return elapsed;
}

/** `workers` worker processes on Postgres, worker i pinned to core i; upload to ready. */
async function pinnedWorkers(clip: string, workers: number): Promise<number> {
  const tdb = await postgresDb();
  const cluster = await startCluster({
    databaseUrl: tdb.url!,
    workers,
    env: { REEL_X264_PRESET: defaults.x264Preset, REEL_LEASE_SECONDS: '30', REEL_POLL_MS: '100' },
  });
  try {
    cluster.workers().forEach((w, i) => {
      execFileSync('taskset', ['-a', '-cp', String(i % os.cpus().length), String(w.pid)], {
        stdio: 'ignore',
      });
    });
    const id = await tusUpload(cluster, fs.readFileSync(clip), { filename: 'bench.mp4' });
    return await readyAfter(cluster, id, performance.now());
  } finally {
    await cluster.close();
    await tdb.drop();
  }
}

const f = (n: number) => n.toFixed(2);

async function main(): Promise<void> {
  const clip = await makeClip(`bench-1080p30-${seconds}s`, { width: 1920, height: 1080, seconds, fps: 30 });
  console.log(
    `settings: ladder ${defaults.ladder.join('/')}, x264 ${defaults.x264Preset}, CRF ${defaults.crf}, ${os.cpus().length} cores`,
  );

  const short = await embedded(clip);
  console.log(`time to first playable, ${seconds} s 1080p30:   ${f(short.playable)} s  (aim ≤ 2.0 s)`);
  if (!skip.has('long')) {
    const long = await makeClip(`bench-1080p30-${longSeconds}s`, {
      width: 1920,
      height: 1080,
      seconds: longSeconds,
      fps: 30,
    });
    const l = await embedded(long);
    console.log(
      `time to first playable, ${longSeconds} s 1080p30:  ${f(l.playable)} s  (aim ≤ 2.5 s; ready after ${f(l.ready)} s)`,
    );
  }

  if (!skip.has('ready')) {
    // Reference, chunked, reference again: a warm or busy machine weighs on both sides alike.
    const ref1 = await singleProcess(clip);
    const chunked = await embedded(clip, { concurrency: '1' });
    const ref2 = await singleProcess(clip);
    const ref = (ref1 + ref2) / 2;
    console.log(`single-process ladder (transcodeToHls):    ${f(ref)} s  (runs ${f(ref1)}, ${f(ref2)})`);
    console.log(`chunked, one worker, upload end to ready:  ${f(chunked.ready)} s`);
    console.log(
      `ratio chunked / single-process:            ${(chunked.ready / ref).toFixed(3)}×  (aim ≤ 1.05×)`,
    );
  }

  if (!skip.has('scale')) {
    const one = await pinnedWorkers(clip, 1);
    const two = await pinnedWorkers(clip, 2);
    console.log(`one pinned worker (Postgres), to ready:    ${f(one)} s`);
    console.log(`two pinned workers, to ready:              ${f(two)} s`);
    console.log(`speed-up two / one:                        ${(one / two).toFixed(2)}×  (aim ≥ 1.8×)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

/**
 * `npm run bench:thumbnails`: thumbnail latency by URL for a 10-minute 1080p30 video.
 *
 * The source is made cheaply (testsrc2, x264 ultrafast: the clip bench:chunks uses) and processed with the
 * ladder 1080 and a fast preset in an embedded Reel. Then 100 requests for `thumbnail.jpg?time=T` (full
 * size, 1920×1080) at random times, one after the other: uncached (each made by ffmpeg from the published
 * segment), then the same 100 again (served from the store). The reference is the plain ffmpeg command
 * that takes one frame from the source at the same time (`ffmpeg -ss T -i source -frames:v 1 out.jpg`).
 * Prints p50/p99 of each and the ratios.
 *
 * BENCH_SECONDS (600), BENCH_REQUESTS (100), BENCH_PRESET (ultrafast), BENCH_WIDTH (full size) change it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FFMPEG, makeClip } from '../test/fixtures/generate.js';
import { startTestReel, waitFor } from '../test/helpers/reel.js';
import { tusUpload } from '../test/helpers/upload.js';

const run = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 600);
const requests = Number(process.env.BENCH_REQUESTS ?? 100);
const preset = process.env.BENCH_PRESET ?? 'ultrafast';
const width = process.env.BENCH_WIDTH;

/** A small seeded generator (mulberry32): the same times on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(ms: number[], p: number): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const f = (n: number) => `${n.toFixed(1)} ms`;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const out = await fn();
  return [performance.now() - started, out];
}

async function main(): Promise<void> {
  const clip = await makeClip(`bench-1080p30-${seconds}s`, { width: 1920, height: 1080, seconds, fps: 30 });
  const t = await startTestReel({
    ladder: '1080',
    'x264-preset': preset,
    'lease-seconds': '30',
    'log-level': 'info',
  });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-thumbs-'));
  try {
    const id = await tusUpload(t, fs.readFileSync(clip), {
      filename: 'bench.mp4',
      playback_policy: 'public',
    });
    const [processing] = await timed(() =>
      waitFor(
        'ready',
        async () => {
          const v = (await (await t.api(`/v1/videos/${id}`)).json()) as { status: string; error: string };
          if (v.status === 'failed') throw new Error(`the video failed: ${v.error}`);
          return v.status === 'ready';
        },
        60 * 60_000,
        500,
      ),
    );
    const rand = random(13);
    const times = Array.from({ length: requests }, () => Math.round(rand() * (seconds - 0.1) * 1000) / 1000);
    const url = (time: number) =>
      `${t.url}/play/${id}/public/thumbnail.jpg?time=${time}${width ? `&width=${width}` : ''}`;

    const fetchAll = async (expect: string) => {
      const ms: number[] = [];
      for (const time of times) {
        const [elapsed, res] = await timed(async () => {
          const r = await fetch(url(time));
          await r.arrayBuffer();
          return r;
        });
        if (res.status !== 200) throw new Error(`thumbnail at ${time} s: ${res.status}`);
        const how = res.headers.get('x-reel-image');
        if (how !== expect && !(expect === 'rendered' && how === 'cached'))
          throw new Error(`thumbnail at ${time} s was ${how}, expected ${expect}`);
        ms.push(elapsed);
      }
      return ms;
    };
    const uncached = await fetchAll('rendered');
    const cached = await fetchAll('cached');

    const reference: number[] = [];
    const scale = width ? ['-vf', `scale=${width}:-2`] : [];
    for (const time of times) {
      const out = path.join(work, 'ref.jpg');
      const [elapsed] = await timed(() =>
        run(FFMPEG, [
          '-hide_banner',
          '-nostdin',
          '-v',
          'error',
          '-y',
          '-ss',
          String(time),
          '-i',
          clip,
          '-frames:v',
          '1',
          ...scale,
          '-q:v',
          '3',
          out,
        ]),
      );
      reference.push(elapsed);
    }

    console.log(
      `${seconds} s 1080p30 source, ladder 1080, x264 ${preset}; processed in ${(processing / 1000).toFixed(1)} s; ` +
        `${requests} thumbnail.jpg requests at random times, ${width ? `width ${width}` : 'full size (1920×1080)'}, one at a time; ${os.cpus().length} cores`,
    );
    const row = (name: string, ms: number[]) =>
      console.log(
        `${name.padEnd(38)} p50 ${f(percentile(ms, 50)).padStart(10)}   p99 ${f(percentile(ms, 99)).padStart(10)}`,
      );
    row('uncached (ffmpeg from the segment)', uncached);
    row('cached (from the store)', cached);
    row('reference: ffmpeg -ss T -i source', reference);
    const ratio = (a: number[], b: number[], p: number) => (percentile(a, p) / percentile(b, p)).toFixed(3);
    console.log(
      `uncached / reference: p50 ${ratio(uncached, reference, 50)}×, p99 ${ratio(uncached, reference, 99)}×;  ` +
        `cached / reference: p50 ${ratio(cached, reference, 50)}×, p99 ${ratio(cached, reference, 99)}×`,
    );
  } finally {
    await t.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

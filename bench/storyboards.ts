/**
 * `npx tsx bench/storyboards.ts`: what the storyboard sheets add to the chunk encodes. Every chunk of one clip
 * (default 60 s of 1080p30 → the default ladder, the configured preset) is encoded with and without its
 * storyboard branch, alternately, BENCH_ROUNDS times (default 2); printed: ffmpeg CPU time (children's
 * rusage, steady under load) and wall time of each, summed over the video, and the share the sheets add.
 * Since a video's time to ready is its chunk encodes (the audio runs beside them), that share is what the
 * storyboards add to it. BENCH_SECONDS, BENCH_HEIGHT, BENCH_LADDER change the clip and the ladder.
 */
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { encodeVideoChunk } from '../src/media/chunkEncode.js';
import { planChunks } from '../src/media/chunkPlan.js';
import { planTranscode } from '../src/media/ladder.js';
import { probe } from '../src/media/probe.js';
import { FFMPEG, FFPROBE, makeClip } from '../test/fixtures/generate.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const height = Number(process.env.BENCH_HEIGHT ?? 1080);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const config = loadConfig(process.env.BENCH_LADDER ? { ladder: process.env.BENCH_LADDER } : {}, {});

async function childCpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

const width = Math.round((height * 16) / 9 / 2) * 2;
const clip = await makeClip(`storyboards-${seconds}s-${height}p`, { width, height, seconds, audio: false });
const info = await probe(clip, { ffprobePath: FFPROBE });
const plan = planTranscode(info, { rungs: config.ladder, preset: config.x264Preset, crf: config.crf });
const chunks = planChunks(plan, info.durationMs);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-boards-'));
const totals = { with: { cpu: 0, wall: 0 }, without: { cpu: 0, wall: 0 } };
try {
  for (let round = 0; round < rounds; round++) {
    for (const chunk of chunks) {
      // Alternate which goes first, so that neither always meets a warm cache.
      const order =
        (round + chunk.index) % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const);
      for (const kind of order) {
        const outDir = path.join(work, `${kind}-${chunk.index}`);
        const c0 = await childCpuMs();
        const t0 = performance.now();
        await encodeVideoChunk({
          source: { path: clip, demuxer: info.demuxer },
          plan,
          chunk,
          outDir,
          ffmpegPath: FFMPEG,
          sourceDurationMs: info.durationMs,
          storyboardDurationMs: kind === 'with' ? info.durationMs : undefined,
        });
        totals[kind].wall += performance.now() - t0;
        totals[kind].cpu += (await childCpuMs()) - c0;
        fs.rmSync(outDir, { recursive: true, force: true });
      }
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
const per = (ms: number) => (ms / rounds / 1000).toFixed(2);
const share = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)} %`;
console.log(
  `${seconds} s ${width}x${height} → ${plan.renditions.map((r) => r.name).join('/')}, ${chunks.length} chunks, ` +
    `preset ${plan.preset}, ${os.availableParallelism()} cores, ${rounds} rounds`,
);
console.log(
  `chunk encodes without storyboards: CPU ${per(totals.without.cpu)} s, wall ${per(totals.without.wall)} s`,
);
console.log(
  `chunk encodes with storyboards:    CPU ${per(totals.with.cpu)} s, wall ${per(totals.with.wall)} s`,
);
console.log(
  `storyboards add: CPU ${share(totals.with.cpu, totals.without.cpu)}, wall ${share(totals.with.wall, totals.without.wall)}`,
);

/**
 * `npm run bench`: a 60-second 1080p30 clip through the whole pipeline (tus upload → queued → worker →
 * ready), and in the same run the plain ffmpeg command for the same ladder and settings. Prints both
 * times and the ratio. BENCH_SECONDS shortens the clip for a quick look.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { buildTranscodeArgs } from '../src/media/ffmpegArgs.js';
import { planTranscode } from '../src/media/ladder.js';
import { probe } from '../src/media/probe.js';
import { makeClip } from '../test/fixtures/generate.js';
import { startTestReel, waitFor } from '../test/helpers/reel.js';
import { tusUpload } from '../test/helpers/upload.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const defaults = loadConfig({}, {});

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} exited ${code}`))));
  });
}

async function plainFfmpeg(clip: string): Promise<number> {
  const source = await probe(clip, { ffprobePath: defaults.ffprobePath });
  const plan = planTranscode(source, {
    rungs: defaults.ladder,
    preset: defaults.x264Preset,
    crf: defaults.crf,
  });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-ffmpeg-'));
  const started = performance.now();
  await run(defaults.ffmpegPath, buildTranscodeArgs(plan, { path: clip, demuxer: source.demuxer }, out));
  const elapsed = (performance.now() - started) / 1000;
  fs.rmSync(out, { recursive: true, force: true });
  return elapsed;
}

async function reelPipeline(clip: string): Promise<number> {
  // Production settings (preset, CRF, ladder); only the port and the data directory are the bench's.
  const t = await startTestReel({
    'x264-preset': defaults.x264Preset,
    'lease-seconds': '30',
    'log-level': 'info',
  });
  try {
    const bytes = fs.readFileSync(clip);
    const started = performance.now();
    const id = await tusUpload(t, bytes, { filename: 'bench.mp4' });
    const video = await waitFor(
      'ready',
      async () => {
        const v = (await (await t.api(`/v1/videos/${id}`)).json()) as {
          status: string;
          error: string | null;
        };
        return v.status === 'ready' || v.status === 'failed' ? v : undefined;
      },
      30 * 60_000,
      50,
    );
    const elapsed = (performance.now() - started) / 1000;
    if (video.status !== 'ready') throw new Error(`the video failed: ${video.error}`);
    return elapsed;
  } finally {
    await t.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const clip = await makeClip(`bench-1080p30-${seconds}s`, { width: 1920, height: 1080, seconds, fps: 30 });
  console.log(
    `clip: ${seconds} s of 1080p30 with stereo audio (${(fs.statSync(clip).size / 1e6).toFixed(1)} MB)`,
  );
  console.log(
    `settings: ladder ${defaults.ladder.join('/')}, x264 ${defaults.x264Preset}, CRF ${defaults.crf}, ${os.cpus().length} cores`,
  );
  // Reference, pipeline, reference again: the reference is the mean of the two, so that a warm or a
  // busy machine weighs on both sides alike.
  const ref1 = await plainFfmpeg(clip);
  const reel = await reelPipeline(clip);
  const ref2 = await plainFfmpeg(clip);
  const ref = (ref1 + ref2) / 2;
  console.log(
    `plain ffmpeg (same ladder and settings): ${ref.toFixed(2)} s (runs: ${ref1.toFixed(2)}, ${ref2.toFixed(2)})`,
  );
  console.log(`Reel, upload to ready:                   ${reel.toFixed(2)} s`);
  console.log(`ratio Reel / ffmpeg:                     ${(reel / ref).toFixed(3)}×  (aim: ≤ 1.10×)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

/**
 * Conformance of the chunked encode (chunkPlan + chunkEncode) against the single-process ladder
 * (transcodeToHls) on the same generated clip: 70 s, 640×360 30 fps with a tone, rungs 360p (640×360) and
 * 240p (426×240), preset veryfast (the default), CRF 23; six chunks (2 s, 4 × 16 s, 4 s). Each rung's
 * init + segments, concatenated in sequence order, is what a player gets; ffprobe and ffmpeg's ssim filter
 * judge it.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChunkOutput, encodeAudio, encodeVideoChunk } from '../../src/media/chunkEncode.js';
import { type ChunkSpec, planChunks } from '../../src/media/chunkPlan.js';
import { fpsArg } from '../../src/media/ffmpegArgs.js';
import { type MediaPlan, planTranscode } from '../../src/media/ladder.js';
import { transcodeToHls } from '../../src/media/pipeline.js';
import { probe } from '../../src/media/probe.js';
import { FFMPEG, FFPROBE, makeClip } from '../fixtures/generate.js';
import { parseMediaPlaylist } from '../helpers/hls.js';
import { childProcesses, expectReelError, settings } from './support.js';

const run = promisify(execFile);
const SECONDS = 70;
const FPS = 30;
const RUNGS = [360, 240];
const PRESET = 'veryfast';
const FRAMES = SECONDS * FPS;

let work: string;
let source: string;
let plan: MediaPlan;
let chunks: ChunkSpec[];
/** Per chunk: its outputs (chunk 0: the fast encode). */
const chunkOutputs: ChunkOutput[][] = [];
const chunkWallMs: number[] = [];
let firstPlainMs = 0;
let singleMs = 0;
let audioMs = 0;
let audioFirstSegmentMs = 0;
let singleCpu = 0;
let firstPlainCpu = 0;
const chunkCpu: number[] = [];
let audioCpu = 0;
const audioRuns: ChunkOutput[][] = [];
/** rung name → file (init + every segment) for the chunked and the single-process encodes. */
const chunked: Record<string, string> = {};
const single: Record<string, string> = {};
let chunkedAudio: string;

const ms = (t0: number) => Math.round(performance.now() - t0);

/** CPU time (user + system) of this process's finished children, ms: ffmpeg's work, whatever the load. */
async function childCpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): cutime and cstime are fields 16 and 17, in clock ticks (100 per second).
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

async function ffprobeJson(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(FFPROBE, ['-v', 'error', '-of', 'json', ...args], { maxBuffer: 256 << 20 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

interface Packet {
  pts: number;
  dts: number;
  duration: number;
  flags: string;
}

async function videoPackets(file: string): Promise<{ packets: Packet[]; timescale: number }> {
  const j = (await ffprobeJson([
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=time_base:packet=pts,dts,duration,flags',
    file,
  ])) as { streams: { time_base: string }[]; packets: Record<string, string>[] };
  const den = Number(j.streams[0]!.time_base.split('/')[1]);
  const packets = j.packets.map((p) => ({
    pts: Number(p['pts']),
    dts: Number(p['dts']),
    duration: Number(p['duration']),
    flags: p['flags'] ?? '',
  }));
  return { packets, timescale: den };
}

async function firstPts(file: string, stream: 'v:0' | 'a:0'): Promise<number> {
  const j = (await ffprobeJson([
    '-select_streams',
    stream,
    '-read_intervals',
    '%+#8',
    '-show_entries',
    'packet=pts_time',
    file,
  ])) as { packets: { pts_time: string }[] };
  return Math.min(...j.packets.map((p) => Number(p.pts_time)));
}

async function concat(dest: string, files: string[]): Promise<string> {
  await writeFile(dest, Buffer.concat(await Promise.all(files.map((f) => readFile(f)))));
  return dest;
}

/** Per-frame SSIM (All) of `file` against the source at this size, frames paired by index. */
async function ssimFrames(
  file: string,
  width: number,
  height: number,
  ref = { file: source, fps: String(FPS), dir: work },
): Promise<number[]> {
  const stats = path.join(ref.dir, `ssim-${path.basename(file)}-${width}.txt`);
  await run(FFMPEG, [
    '-v',
    'error',
    '-i',
    file,
    '-i',
    ref.file,
    '-lavfi',
    `[0:v]setpts=N/(${ref.fps}*TB)[d];[1:v]fps=${ref.fps},format=yuv420p,scale=w=${width}:h=${height}:flags=bicubic,setpts=N/(${ref.fps}*TB)[r];[d][r]ssim=stats_file=${stats}`,
    '-f',
    'null',
    '-',
  ]);
  const lines = (await readFile(stats, 'utf8')).trim().split('\n');
  return lines.map((l) => Number(/All:([\d.]+)/.exec(l)![1]));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Segment n's frames: [0, k) for n = 0, then 2k each (4 s), independent of src/media. */
const segFrames = (n: number, k = 60): [number, number] =>
  n === 0 ? [0, k] : [k + 2 * k * (n - 1), k + 2 * k * n];

describe('chunked encode of a 70 s clip', () => {
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'reel-chunked-'));
    source = await makeClip('chunked-70s', { width: 640, height: 360, seconds: SECONDS });
    const info = await probe(source, { ffprobePath: FFPROBE });
    plan = planTranscode(info, { rungs: RUNGS, preset: PRESET, crf: 23 });
    chunks = planChunks(plan, info.durationMs);
    const src = { path: source, demuxer: info.demuxer };

    // The reference: today's single process.
    let t0 = performance.now();
    let c0 = await childCpuMs();
    const ref = path.join(work, 'single');
    await transcodeToHls({ input: source, outDir: ref, settings: settings(RUNGS, PRESET) });
    singleMs = ms(t0);
    singleCpu = (await childCpuMs()) - c0;

    // Chunk 0 without the fast knobs, for the figures and the init identity.
    t0 = performance.now();
    c0 = await childCpuMs();
    await encodeVideoChunk({
      source: src,
      plan,
      chunk: { ...chunks[0]!, fast: false },
      outDir: path.join(work, 'c0-plain'),
      ffmpegPath: FFMPEG,
    });
    firstPlainMs = ms(t0);
    firstPlainCpu = (await childCpuMs()) - c0;
    for (const chunk of chunks) {
      t0 = performance.now();
      c0 = await childCpuMs();
      const r = await encodeVideoChunk({
        source: src,
        plan,
        chunk,
        outDir: path.join(work, `c${chunk.index}`),
        ffmpegPath: FFMPEG,
        sourceDurationMs: info.durationMs,
      });
      chunkWallMs.push(ms(t0));
      chunkCpu.push((await childCpuMs()) - c0);
      chunkOutputs.push(r.outputs);
    }
    for (let i = 0; i < 2; i++) {
      const got: ChunkOutput[] = [];
      t0 = performance.now();
      c0 = await childCpuMs();
      await encodeAudio({
        source: src,
        plan,
        outDir: path.join(work, `audio${i}`),
        ffmpegPath: FFMPEG,
        sourceDurationMs: info.durationMs,
        onOutput: async (o) => {
          if (o.seq === 0 && i === 0) audioFirstSegmentMs = ms(t0);
          got.push(o);
        },
      });
      if (i === 0) {
        audioMs = ms(t0);
        audioCpu = (await childCpuMs()) - c0;
      }
      audioRuns.push(got);
    }

    await mkdir(path.join(work, 'cat'), { recursive: true });
    for (const r of plan.renditions) {
      const segs = chunkOutputs
        .flat()
        .filter((o) => o.rendition === r.name && o.seq !== null)
        .sort((a, b) => a.seq! - b.seq!);
      chunked[r.name] = await concat(path.join(work, 'cat', `chunked-${r.name}.mp4`), [
        path.join(work, 'c0', r.name, 'init.mp4'),
        ...segs.map((s) => s.file),
      ]);
      const media = parseMediaPlaylist(await readFile(path.join(ref, r.name, 'index.m3u8'), 'utf8'));
      single[r.name] = await concat(path.join(work, 'cat', `single-${r.name}.mp4`), [
        path.join(ref, r.name, media.map!),
        ...media.segments.map((s) => path.join(ref, r.name, s.uri)),
      ]);
    }
    chunkedAudio = await concat(
      path.join(work, 'cat', 'chunked-audio.mp4'),
      audioRuns[0]!.map((o) => o.file),
    );

    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const cpuSum = sum(chunkCpu) + audioCpu;
    console.log(
      [
        `chunked ${SECONDS} s 640x360 30 fps, ${RUNGS.map((r) => `${r}p`).join('+')}, ${PRESET}: ${chunks.length} chunks`,
        `  first chunk (2 s) wall ${chunkWallMs[0]} ms / CPU ${chunkCpu[0]} ms with the fast knobs; ${firstPlainMs} ms / ${firstPlainCpu} ms without`,
        `  chunk wall (ms): ${chunkWallMs.join(', ')}; CPU (ms): ${chunkCpu.join(', ')}`,
        `  audio task: first segment handed over after ${audioFirstSegmentMs} ms, done in ${audioMs} ms (CPU ${audioCpu} ms)`,
        `  single process: wall ${singleMs} ms, CPU ${singleCpu} ms; chunked (video + audio): wall ${sum(chunkWallMs) + audioMs} ms, CPU ${cpuSum} ms`,
        `  CPU overhead of chunking: ${(cpuSum / singleCpu).toFixed(3)}x, ${Math.round((cpuSum - singleCpu) / (chunks.length - 1))} ms per extra chunk`,
      ].join('\n'),
    );
  }, 900_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('plans several chunks on segment edges', () => {
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    expect(chunks[0]).toMatchObject({ startFrame: 0, frames: 60, fast: true, poster: true });
  });

  it('has exactly the source frame count, like the single process, in every rung', async () => {
    const src = (await ffprobeJson([
      '-select_streams',
      'v:0',
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      source,
    ])) as {
      streams: { nb_read_packets: string }[];
    };
    expect(Number(src.streams[0]!.nb_read_packets)).toBe(FRAMES);
    for (const r of plan.renditions) {
      const c = await videoPackets(chunked[r.name]!);
      const s = await videoPackets(single[r.name]!);
      expect(c.packets.length, `${r.name} chunked`).toBe(FRAMES);
      expect(s.packets.length, `${r.name} single`).toBe(FRAMES);
    }
  });

  it('decode times are continuous across chunk edges: one frame apart, no gap, no overlap', async () => {
    for (const r of plan.renditions) {
      const { packets, timescale } = await videoPackets(chunked[r.name]!);
      const frame = timescale / FPS;
      const steps = new Set(packets.slice(1).map((p, i) => p.dts - packets[i]!.dts));
      expect([...steps], `${r.name} dts steps`).toEqual([frame]);
      // presentation times: every frame slot exactly once
      const pts = packets.map((p) => p.pts).sort((a, b) => a - b);
      const ptsSteps = new Set(pts.slice(1).map((p, i) => p - pts[i]!));
      expect([...ptsSteps], `${r.name} pts steps`).toEqual([frame]);
    }
  });

  it('keyframes exactly every 2 s, at the same times in every rung', async () => {
    const times: number[][] = [];
    for (const r of plan.renditions) {
      const { packets, timescale } = await videoPackets(chunked[r.name]!);
      const keys = packets.filter((p) => p.flags.includes('K')).map((p) => p.pts);
      const gaps = new Set(keys.slice(1).map((k, i) => k - keys[i]!));
      expect([...gaps], `${r.name} keyframe gaps`).toEqual([2 * timescale]);
      expect(keys.length).toBe(SECONDS / 2);
      times.push(keys.map((k) => k / timescale));
    }
    for (const t of times.slice(1)) expect(t).toEqual(times[0]);
  });

  it('segments: contiguous seq numbers, each at most 4 s and starting with a keyframe', async () => {
    for (const r of plan.renditions) {
      const segs = chunkOutputs
        .flat()
        .filter((o) => o.rendition === r.name && o.seq !== null)
        .sort((a, b) => a.seq! - b.seq!);
      expect(segs.map((s) => s.seq)).toEqual(segs.map((_, i) => i));
      expect(segs.map((s) => s.path)).toEqual(
        segs.map((_, i) => `${r.name}/seg_${String(i).padStart(5, '0')}.m4s`),
      );
      const total = segs.reduce((a, s) => a + s.duration!, 0);
      expect(total).toBeCloseTo(SECONDS, 3);
      expect(segs[0]!.duration).toBeCloseTo(2, 3);
      for (const s of segs) expect(s.duration!, s.path).toBeLessThanOrEqual(4 + 1e-6);
      const init = path.join(work, 'c0', r.name, 'init.mp4');
      for (const s of segs) {
        const one = await concat(path.join(work, 'cat', 'one.mp4'), [init, s.file]);
        const { packets } = await videoPackets(one);
        const byDts = [...packets].sort((a, b) => a.dts - b.dts);
        expect(byDts[0]!.flags, `${s.path} starts with a keyframe`).toContain('K');
      }
    }
  });

  it('every chunk writes the same init segment per rung, the fast first chunk too', async () => {
    for (const r of plan.renditions) {
      const ref = await readFile(path.join(work, 'c0', r.name, 'init.mp4'));
      const dirs = [...chunks.map((c) => `c${c.index}`), 'c0-plain'];
      for (const d of dirs) {
        const init = await readFile(path.join(work, d, r.name, 'init.mp4'));
        expect(init.equals(ref), `${d}/${r.name}/init.mp4`).toBe(true);
      }
      const inits = chunkOutputs.flat().filter((o) => o.path === `${r.name}/init.mp4`);
      expect(inits.length).toBe(chunks.length);
    }
  });

  it('audio starts within one frame of the video', async () => {
    const v = await firstPts(chunked[plan.renditions[0]!.name]!, 'v:0');
    const a = await firstPts(chunkedAudio, 'a:0');
    console.log(`  first pts: video ${v.toFixed(4)} s, audio ${a.toFixed(4)} s`);
    expect(v).toBeGreaterThan(0); // the B-frame delay is real: the check is not vacuous
    expect(Math.abs(a - v)).toBeLessThan(1 / FPS);
  });

  it('the first sound plays with the first picture (AAC priming accounted for)', async () => {
    // The tone starts at the source's time 0, as does its first picture, which plays at the video's first pts.
    const v = await firstPts(chunked[plan.renditions[0]!.name]!, 'v:0');
    const a = await firstPts(chunkedAudio, 'a:0');
    const { stdout } = await run(
      FFMPEG,
      ['-v', 'error', '-i', chunkedAudio, '-t', '0.5', '-ac', '1', '-f', 's16le', '-'],
      {
        encoding: 'buffer',
        maxBuffer: 16 << 20,
      },
    );
    let onset = -1;
    for (let i = 0; i + 1 < stdout.length; i += 2) {
      if (Math.abs(stdout.readInt16LE(i)) > 300) {
        onset = i / 2;
        break;
      }
    }
    expect(onset).toBeGreaterThan(0);
    const sound = a + onset / 48000;
    console.log(`  first sound at ${sound.toFixed(4)} s, first picture at ${v.toFixed(4)} s`);
    expect(Math.abs(sound - v)).toBeLessThan(0.003);
  });

  it('audio: init first, segments in order, and the same cuts on a retry', () => {
    const [one, two] = audioRuns;
    expect(one![0]!.path).toBe('audio/init.mp4');
    const segs = one!.slice(1);
    expect(segs.map((s) => s.seq)).toEqual(segs.map((_, i) => i));
    const total = segs.reduce((a, s) => a + s.duration!, 0);
    expect(Math.abs(total - SECONDS)).toBeLessThan(0.1);
    for (const s of segs.slice(0, -1)) expect(s.duration!).toBeLessThanOrEqual(4.1);
    const cuts = (run: ChunkOutput[]) => run.map((o) => [o.path, o.seq, o.duration]);
    expect(cuts(two!)).toEqual(cuts(one!));
  });

  it('quality: SSIM within 0.005 of the single process overall, no segment 0.02 below', async () => {
    for (const r of plan.renditions) {
      const c = await ssimFrames(chunked[r.name]!, r.width, r.height);
      const s = await ssimFrames(single[r.name]!, r.width, r.height);
      expect(c.length).toBe(FRAMES);
      expect(s.length).toBe(FRAMES);
      const worst: [number, number, number] = [0, 1, 1];
      for (let n = 0; ; n++) {
        const [a, b] = segFrames(n);
        if (a >= FRAMES) break;
        const cs = mean(c.slice(a, b));
        const ss = mean(s.slice(a, b));
        if (cs - ss < worst[1] - worst[2]) worst.splice(0, 3, n, cs, ss);
        expect(
          cs,
          `${r.name} segment ${n}: chunked ${cs.toFixed(4)} vs single ${ss.toFixed(4)}`,
        ).toBeGreaterThanOrEqual(ss - 0.02);
      }
      console.log(
        `  SSIM ${r.name}: chunked ${mean(c).toFixed(4)}, single ${mean(s).toFixed(4)}; worst segment ${worst[0]}: ${worst[1].toFixed(4)} vs ${worst[2].toFixed(4)}`,
      );
      expect(mean(c)).toBeGreaterThanOrEqual(mean(s) - 0.005);
    }
  });

  it('the poster comes with the chunk that holds its time', () => {
    const posters = chunkOutputs.flat().filter((o) => o.path === 'poster.jpg');
    expect(posters.length).toBe(1);
    expect(posters[0]!.bytes).toBeGreaterThan(1000);
    expect(chunkOutputs[0]!.some((o) => o.path === 'poster.jpg')).toBe(true);
  });
});

describe('chunk failures', () => {
  let dir: string;
  let clip: string;
  let small: MediaPlan;
  let demuxer: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'reel-chunkfail-'));
    clip = await makeClip('chunked-short', { width: 320, height: 180, seconds: 6 });
    const info = await probe(clip, { ffprobePath: FFPROBE });
    demuxer = info.demuxer;
    small = planTranscode(info, { rungs: [180], preset: PRESET, crf: 23 });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const spec = (startFrame: number, frames: number | null): ChunkSpec => ({
    index: 1,
    startFrame,
    frames,
    firstSeq: 1,
    fast: false,
    poster: false,
  });

  it('a chunk that gets fewer frames than planned, or none, is a truncated source', async () => {
    // 6 s = 180 frames: frames 60..299 cannot all be there; nothing is there from 240 on.
    const src = { path: clip, demuxer };
    const short = encodeVideoChunk({
      source: src,
      plan: small,
      chunk: spec(60, 240),
      outDir: path.join(dir, 'a'),
      ffmpegPath: FFMPEG,
    });
    const e = await expectReelError(short, 'REEL_TRUNCATED_SOURCE', true);
    expect(e.message).toContain('120 of the 240 frames');
    const none = encodeVideoChunk({
      source: src,
      plan: small,
      chunk: spec(300, null),
      outDir: path.join(dir, 'b'),
      ffmpegPath: FFMPEG,
    });
    await expectReelError(none, 'REEL_TRUNCATED_SOURCE', true);
    // the same last chunk where the video is: fine
    const ok = await encodeVideoChunk({
      source: src,
      plan: small,
      chunk: spec(60, null),
      outDir: path.join(dir, 'c'),
      ffmpegPath: FFMPEG,
    });
    expect(ok.frames).toBe(120);
    expect(ok.outputs.filter((o) => o.seq !== null).map((o) => [o.seq, o.duration])).toEqual([[1, 4]]);
  });

  it('aborting kills ffmpeg at once, video and audio alike, and leaves no process', async () => {
    const src = { path: clip, demuxer };
    const c = new AbortController();
    const reason = new Error('lease lost');
    const video = encodeVideoChunk({
      source: src,
      plan: small,
      chunk: spec(60, null),
      outDir: path.join(dir, 'd'),
      ffmpegPath: FFMPEG,
      signal: c.signal,
    });
    const audio = encodeAudio({
      source: src,
      plan: small,
      outDir: path.join(dir, 'e'),
      ffmpegPath: FFMPEG,
      signal: c.signal,
      onOutput: () => new Promise((r) => setTimeout(r, 300)),
    });
    setTimeout(() => c.abort(reason), 100);
    const [v, a] = await Promise.allSettled([video, audio]);
    expect(v).toEqual({ status: 'rejected', reason });
    expect(a).toEqual({ status: 'rejected', reason });
    await new Promise((r) => setTimeout(r, 200));
    expect((await childProcesses()).filter((p) => /ffmpeg|setpriv/.test(p))).toEqual([]);
  });
});

describe('chunk edges on awkward frame rates', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'reel-chunkfps-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // A variable-rate phone-style clip (frames dropped irregularly, ~23.4 fps on average: encoded at 23.976) and
  // 29.97 fps written as 2997/100 (encoded at 30000/1001): the fps filter duplicates or drops frames, and a
  // chunk edge must do exactly what the single process does there.
  it.each([
    ['vfr', { width: 320, height: 180, seconds: 20, vfr: true }, '24000/1001'],
    ['ntsc', { width: 320, height: 180, seconds: 20, fps: 29.97 }, '30000/1001'],
  ] as const)(
    '%s: same frames as the single process, 4 s chunks, no segment worse',
    async (name, opts, fps) => {
      const clip = await makeClip(`chunked-${name}`, opts);
      const info = await probe(clip, { ffprobePath: FFPROBE });
      const p = planTranscode(info, { rungs: [180], preset: PRESET, crf: 23 });
      expect(fpsArg(p.fps)).toBe(fps);
      const ref = path.join(dir, `${name}-single`);
      await transcodeToHls({ input: clip, outDir: ref, settings: settings([180], PRESET) });
      const media = parseMediaPlaylist(await readFile(path.join(ref, '180p', 'index.m3u8'), 'utf8'));
      const singleFile = await concat(path.join(dir, `${name}-single.mp4`), [
        path.join(ref, '180p', media.map!),
        ...media.segments.map((s) => path.join(ref, '180p', s.uri)),
      ]);
      const specs = planChunks(p, info.durationMs, { chunkSeconds: 4 });
      expect(specs.length).toBeGreaterThanOrEqual(5);
      const segs: ChunkOutput[] = [];
      for (const chunk of specs) {
        const r = await encodeVideoChunk({
          source: { path: clip, demuxer: info.demuxer },
          plan: p,
          chunk,
          outDir: path.join(dir, `${name}-c${chunk.index}`),
          ffmpegPath: FFMPEG,
        });
        segs.push(...r.outputs.filter((o) => o.seq !== null));
      }
      segs.sort((a, b) => a.seq! - b.seq!);
      const chunkedFile = await concat(path.join(dir, `${name}-chunked.mp4`), [
        path.join(dir, `${name}-c0`, '180p', 'init.mp4'),
        ...segs.map((s) => s.file),
      ]);
      const c = await videoPackets(chunkedFile);
      const s = await videoPackets(singleFile);
      expect(c.packets.length).toBe(s.packets.length);
      const at = { file: clip, fps, dir };
      const cs = await ssimFrames(chunkedFile, 320, 180, at);
      const ss = await ssimFrames(singleFile, 320, 180, at);
      const k = Math.round(p.fps * 2);
      let worst = 1;
      for (let n = 0; ; n++) {
        const [a, b] = segFrames(n, k);
        if (a >= cs.length) break;
        const d = mean(cs.slice(a, b)) - mean(ss.slice(a, b));
        worst = Math.min(worst, d);
        expect(d, `${name} segment ${n}`).toBeGreaterThanOrEqual(-0.02);
      }
      console.log(
        `  ${name}: ${c.packets.length} frames; SSIM chunked ${mean(cs).toFixed(4)}, single ${mean(ss).toFixed(4)}, worst segment ${worst.toFixed(4)}`,
      );
      expect(mean(cs)).toBeGreaterThanOrEqual(mean(ss) - 0.005);
    },
  );
});

describe('audio task', () => {
  it('a sliver of audio at the very end joins the last segment, with or without the duration', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'reel-chunkaudio-'));
    try {
      // 8.1 s: 381 AAC frames with the priming one, 188 per fragment: 188 + 188 + 5 (0.1 s).
      const clip = await makeClip('chunked-audio-tail', { width: 160, height: 90, seconds: 8.1 });
      const info = await probe(clip, { ffprobePath: FFPROBE });
      const p = planTranscode(info, { rungs: [90], preset: PRESET, crf: 23 });
      for (const known of [true, false]) {
        const got: ChunkOutput[] = [];
        const r = await encodeAudio({
          source: { path: clip, demuxer: info.demuxer },
          plan: p,
          outDir: path.join(dir, String(known)),
          ffmpegPath: FFMPEG,
          sourceDurationMs: known ? info.durationMs : undefined,
          onOutput: async (o) => {
            got.push(o);
          },
        });
        expect(r.segments).toBe(2);
        expect(r.codecs).toBe('mp4a.40.2');
        const durations = got.filter((o) => o.seq !== null).map((o) => Math.round(o.duration! * 1000));
        expect(durations).toEqual([4011, 4117]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

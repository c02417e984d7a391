import { describe, expect, it } from 'vitest';
import {
  CHUNK_SECONDS,
  type ChunkSpec,
  FIRST_CHUNK_SECONDS,
  frameOfSeq,
  planChunks,
  seqOfFrame,
} from '../../src/media/chunkPlan.js';

const plan = (fps: number, atSeconds?: number) => ({
  fps,
  keyframeSeconds: 2,
  segmentSeconds: 4,
  poster: atSeconds === undefined ? null : { atSeconds, width: 640, height: 360 },
});

/** Checks what every plan must satisfy, for a video of `total` output frames. */
function checkInvariants(chunks: ChunkSpec[], k: number, total: number) {
  expect(chunks[0]!.startFrame).toBe(0);
  expect(chunks[0]!.firstSeq).toBe(0);
  expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
  for (const [i, c] of chunks.entries()) {
    expect(c.startFrame % k, 'chunks start on keyframes').toBe(0);
    expect(frameOfSeq(c.firstSeq, k), 'chunks start on segment edges').toBe(c.startFrame);
    expect(c.fast).toBe(i === 0);
    const next = chunks[i + 1];
    if (next) {
      expect(c.frames, 'only the last chunk is open-ended').not.toBeNull();
      expect(c.startFrame + c.frames!, 'no gap, no overlap').toBe(next.startFrame);
      // the segment after the chunk's last frame is the next chunk's first
      expect(seqOfFrame(c.startFrame + c.frames!, k)).toBe(next.firstSeq);
    } else {
      expect(c.frames).toBeNull();
      expect(c.startFrame).toBeLessThan(Math.max(total, 1));
    }
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  }
}

describe('planChunks', () => {
  it('a 70 s 30 fps video: a 2 s first chunk, then chunks of CHUNK_SECONDS, a tail merged into the last', () => {
    const chunks = planChunks(plan(30, 1), 70_000);
    checkInvariants(chunks, 60, 2100);
    expect(FIRST_CHUNK_SECONDS).toBe(2);
    expect(CHUNK_SECONDS % 4).toBe(0);
    expect(chunks[0]).toEqual({ index: 0, startFrame: 0, frames: 60, firstSeq: 0, fast: true, poster: true });
    const per = (CHUNK_SECONDS / 4) * 120;
    expect(chunks[1]).toMatchObject({ startFrame: 60, frames: per, firstSeq: 1, poster: false });
    // every frame is in exactly one chunk
    const last = chunks.at(-1)!;
    expect(2100 - last.startFrame).toBeGreaterThanOrEqual(120);
  });

  it('with 8 s chunks: seq numbers and frames as the segment grid says', () => {
    const chunks = planChunks(plan(30), 30_000, { chunkSeconds: 8 });
    expect(chunks.map((c) => [c.startFrame, c.frames, c.firstSeq])).toEqual([
      [0, 60, 0],
      [60, 240, 1], // seq 1, 2: frames 60..299
      [300, 240, 3],
      [540, 240, 5],
      [780, null, 7], // 780..899: a whole segment is not a tail: its own chunk
    ]);
    expect(chunks.every((c) => !c.poster)).toBe(true); // no poster plan, no poster
  });

  it('a tail shorter than one segment joins the chunk before it', () => {
    // 26.5 s = 795 frames: chunks at 0, 60, 300, 540; 540 + 240 = 780 leaves 15 frames
    const chunks = planChunks(plan(30), 26_500, { chunkSeconds: 8 });
    expect(chunks.map((c) => [c.startFrame, c.frames])).toEqual([
      [0, 60],
      [60, 240],
      [300, 240],
      [540, null],
    ]);
    checkInvariants(chunks, 60, 795);
  });

  it('the first chunk never grows: a short video is a 2 s chunk and a tail', () => {
    expect(planChunks(plan(30), 3_000).map((c) => [c.startFrame, c.frames])).toEqual([
      [0, 60],
      [60, null],
    ]);
    expect(planChunks(plan(30), 2_000).map((c) => [c.startFrame, c.frames])).toEqual([[0, null]]);
    expect(planChunks(plan(30), 500).map((c) => [c.startFrame, c.frames])).toEqual([[0, null]]);
  });

  it('NTSC rates: keyint from the exact rate, edges on its keyframes', () => {
    const chunks = planChunks(plan(30000 / 1001), 60_000);
    checkInvariants(chunks, 60, Math.round(60 * 29.97));
    const c24 = planChunks(plan(24000 / 1001), 60_000, { chunkSeconds: 12 });
    checkInvariants(c24, 48, Math.round(60 * 23.976));
    expect(c24[1]).toMatchObject({ startFrame: 48, frames: 3 * 96, firstSeq: 1 });
  });

  it('the poster goes to the chunk its time falls in', () => {
    const chunks = planChunks(plan(25, 9), 40_000, { chunkSeconds: 4 });
    // 25 fps: k = 50; chunks start at 0, 50 (2 s), 150 (6 s), 250 (10 s)...; 9 s = frame 225
    expect(chunks.filter((c) => c.poster).map((c) => c.startFrame)).toEqual([150]);
    // past the end (a lying duration): the last chunk
    const end = planChunks(plan(25, 100), 40_000, { chunkSeconds: 4 });
    expect(end.filter((c) => c.poster).map((c) => c.index)).toEqual([end.length - 1]);
  });

  it('a longer first chunk stays on segment edges', () => {
    const chunks = planChunks(plan(30), 60_000, { firstChunkSeconds: 6, chunkSeconds: 16 });
    expect(chunks[0]).toMatchObject({ startFrame: 0, frames: 180, firstSeq: 0 });
    expect(chunks[1]).toMatchObject({ startFrame: 180, firstSeq: 2 });
    checkInvariants(chunks, 60, 1800);
  });
});

/** Pure: image requests checked and placed in the published segments; the render gate's bounds. */
import { describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { RenderGate } from '../../src/media/renderGate.js';
import {
  animatedRequest,
  fitSize,
  imageCacheKey,
  locateSpan,
  type SegmentEntry,
  stillRequest,
} from '../../src/media/thumbnailPlan.js';

const rungs = [
  { name: '240p', width: 426, height: 240, frameRate: 30 },
  { name: '1080p', width: 1920, height: 1080, frameRate: 30 },
  { name: '720p', width: 1280, height: 720, frameRate: 30 },
];
const source = { videoId: 'vid0000000000001', durationSeconds: 60, rungs };
/** Segment 0 is 2 s, then 4 s each, as the chunked pipeline publishes them. */
const segments = (n: number, from = 0): SegmentEntry[] =>
  Array.from({ length: n }, (_, i) => ({ seq: from + i, duration: from + i === 0 ? 2 : 4 }));

describe('image requests', () => {
  it('a still: the top rung, the frame on its grid, the middle by default, capped sizes', () => {
    expect(stillRequest('thumbnail.jpg', { time: '7.5', width: '640' }, source)).toMatchObject({
      format: 'jpg',
      rung: { name: '1080p' },
      frame: 225,
      size: { width: 640, height: 360 },
    });
    expect(stillRequest('thumbnail.png', {}, source)).toMatchObject({
      frame: 900,
      size: { width: 1920, height: 1080 },
    });
    expect(stillRequest('thumbnail.webp', { width: '99999' }, source).size).toEqual({
      width: 1920,
      height: 1080,
    });
    expect(fitSize({ width: 1920, height: 1080 }, 400, 400)).toEqual({ width: 400, height: 225 });
    expect(fitSize({ width: 1080, height: 1920 }, undefined, 320)).toEqual({ width: 180, height: 320 });
  });

  it('an animated preview: defaults, caps, the smallest rung at least as large', () => {
    expect(animatedRequest({}, source)).toMatchObject({
      rung: { name: '240p' },
      startDs: 0,
      endDs: 50,
      fps: 10,
      size: { width: 320, height: 180 },
    });
    expect(animatedRequest({ width: '200', start: '58', fps: '120' }, source)).toMatchObject({
      rung: { name: '240p' },
      startDs: 580,
      endDs: 600,
      fps: 30,
    });
    expect(animatedRequest({ width: '5000' }, source)).toMatchObject({
      rung: { name: '720p' },
      size: { width: 640, height: 360 },
    });
  });

  it('refuses what is malformed, naming the parameter', () => {
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as { code: string; message: string }).code;
      }
      return 'accepted';
    };
    const code = errors.invalidImageParameter.code;
    for (const q of [{ time: '1e2' }, { time: '61' }, { width: '0' }, { time: ['1', '2'] }, { height: 'x' }])
      expect(refused(() => stillRequest('thumbnail.jpg', q, source))).toBe(code);
    for (const q of [{ start: '5', end: '5' }, { start: '0', end: '10.1' }, { fps: '0' }, { start: '60' }])
      expect(refused(() => animatedRequest(q, source))).toBe(code);
  });

  it('cache keys are bounded by the quantised values', () => {
    const a = stillRequest('thumbnail.jpg', { time: '7.51' }, source);
    const b = stillRequest('thumbnail.jpg', { time: '7.52' }, source);
    expect(imageCacheKey('vid0000000000001', a)).toBe(imageCacheKey('vid0000000000001', b));
    expect(imageCacheKey('vid0000000000001', a)).toBe(
      'videos/vid0000000000001/thumbs/1080p/f225-1920x1080.jpg',
    );
  });
});

describe('placing a request in the published segments', () => {
  it('a still: its segment and the seek inside it (a quarter frame early)', () => {
    const req = stillRequest('thumbnail.jpg', { time: '7.5' }, source);
    expect(locateSpan(req, segments(15), true)).toEqual({
      seqs: [2],
      seekSeconds: 1.491667,
      spanSeconds: null,
    });
    expect(
      locateSpan(stillRequest('thumbnail.jpg', { time: '0' }, source), segments(15), true)?.seqs,
    ).toEqual([0]);
  });

  it('while processing, only the contiguous run from segment 0 counts', () => {
    const req = stillRequest('thumbnail.jpg', { time: '7.5' }, source);
    expect(locateSpan(req, segments(2), false)).toBeNull();
    expect(locateSpan(req, [...segments(2), ...segments(3, 3)], false)).toBeNull();
    expect(locateSpan(req, [], false)).toBeNull();
  });

  it('a ready video: a time past the last published frame takes the last frame', () => {
    const req = stillRequest('thumbnail.jpg', { time: '60' }, source);
    const span = locateSpan(req, segments(15), true)!;
    expect(span.seqs).toEqual([14]);
    expect(span.seekSeconds).toBeCloseTo(4 - 1 / 30 - 1 / 120, 5);
  });

  it('an animated preview spans the segments it crosses', () => {
    const req = animatedRequest({ start: '1', end: '11' }, source);
    expect(locateSpan(req, segments(15), true)).toEqual({
      seqs: [0, 1, 2, 3],
      seekSeconds: 1,
      spanSeconds: 10,
    });
  });
});

describe('the render gate', () => {
  it('runs at most `active` at once, queues `waiting`, refuses beyond, shares identical runs', async () => {
    const gate = new RenderGate(1, 1);
    let release!: () => void;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const make = (tag: string) => async () => {
      started++;
      await blocked;
      return Buffer.from(tag);
    };
    const a = gate.run('a', make('a'));
    const a2 = gate.run('a', make('a-again'));
    const b = gate.run('b', make('b'));
    expect(() => gate.run('c', make('c'))).toThrow(expect.objectContaining({ code: errors.imageBusy.code }));
    await Promise.resolve();
    expect(started).toBe(1);
    release();
    expect((await a).toString()).toBe('a');
    expect((await a2).toString()).toBe('a');
    expect((await b).toString()).toBe('b');
    expect(started).toBe(2);
    expect((await gate.run('c', make('c'))).toString()).toBe('c');
  });
});

/** Shared bits of the media tests that run ffmpeg. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { isReelError, type ReelError } from '../../src/core/errors.js';
import { FFMPEG, FFPROBE } from '../fixtures/generate.js';

const run = promisify(execFile);

/** Quick settings for tests: superfast still makes H.264 High (ultrafast makes Constrained Baseline). */
export const settings = (rungs: number[], preset = 'superfast') => ({
  rungs,
  preset,
  crf: 23,
  ffmpegPath: FFMPEG,
  ffprobePath: FFPROBE,
});

/** Awaits a promise that must reject with a ReelError of this code; returns the error. */
export async function expectReelError(
  p: Promise<unknown>,
  code: string,
  permanent?: boolean,
): Promise<ReelError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeDefined();
  expect(isReelError(err), `expected a ReelError, got ${String(err)}`).toBe(true);
  const e = err as ReelError;
  expect(e.code, e.message).toBe(code);
  if (permanent !== undefined) expect(e.permanent).toBe(permanent);
  return e;
}

/** Processes this test process started that are still there (zombies included), as "pid command". */
export async function childProcesses(): Promise<string[]> {
  const { stdout } = await run('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)]).catch(
    (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
  );
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/\bps$/.test(l));
}

/** Mean luma of the four corner cells of an image scaled to 9×16 (or 16×9): [tl, tr, bl, br]. */
export async function cornerLuma(
  image: string,
  w: number,
  h: number,
): Promise<[number, number, number, number]> {
  const { stdout } = await run(
    FFMPEG,
    ['-v', 'error', '-i', image, '-vf', `scale=${w}:${h},format=gray`, '-f', 'rawvideo', '-'],
    { encoding: 'buffer' },
  );
  const px = (x: number, y: number) => stdout[y * w + x]!;
  return [px(0, 0), px(w - 1, 0), px(0, h - 1), px(w - 1, h - 1)];
}

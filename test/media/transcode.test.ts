import { describe, expect, it } from 'vitest';
import { progressFraction, progressMicros, runTranscode } from '../../src/media/transcode.js';
import { FFMPEG } from '../fixtures/generate.js';
import { childProcesses, expectReelError } from './support.js';

/** ffmpeg reading a synthetic source and discarding the result: no files needed. */
const nullRun = (seconds: number, extra: string[] = []) => [
  '-nostdin',
  '-v',
  'error',
  '-nostats',
  '-progress',
  'pipe:1',
  ...extra,
  '-f',
  'lavfi',
  '-i',
  `testsrc2=size=160x120:rate=30:duration=${seconds}`,
  '-f',
  'null',
  '-',
];

describe('progress parsing (pure)', () => {
  it('reads out_time_us, and out_time_ms which ffmpeg also writes in microseconds', () => {
    expect(progressMicros('out_time_us=1500000')).toBe(1_500_000);
    expect(progressMicros('out_time_ms=1500000')).toBe(1_500_000);
    expect(progressMicros('out_time_us=N/A')).toBeUndefined();
    expect(progressMicros('out_time=00:00:01.500000')).toBeUndefined();
    expect(progressMicros('frame=12')).toBeUndefined();
  });

  it('is a fraction of the source duration, clamped to [0, 1]', () => {
    expect(progressFraction(1_500_000, 3000)).toBe(0.5);
    expect(progressFraction(-40_000, 3000)).toBe(0);
    expect(progressFraction(3_100_000, 3000)).toBe(1);
    expect(progressFraction(1_000_000, 0)).toBe(0);
  });
});

describe('runTranscode (real ffmpeg)', () => {
  it('reports progress up to 1', async () => {
    const seen: number[] = [];
    await runTranscode({
      ffmpegPath: FFMPEG,
      args: nullRun(2),
      durationMs: 2000,
      onProgress: (f) => seen.push(f),
    });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((f) => f >= 0 && f <= 1)).toBe(true);
    expect(seen.at(-1)).toBeGreaterThan(0.95);
  });

  it('a failing ffmpeg → REEL_TRANSCODE_FAILED (retryable) with its last error line', async () => {
    const err = await expectReelError(
      runTranscode({
        ffmpegPath: FFMPEG,
        args: ['-v', 'error', '-i', '/nonexistent/input.mp4', '-f', 'null', '-'],
        durationMs: 1000,
      }),
      'REEL_TRANSCODE_FAILED',
      false,
    );
    expect(err.message).toContain('No such file or directory');
    expect((err.cause as { exitCode: number }).exitCode).not.toBe(0);
  });

  it('paths can be kept out of the message', async () => {
    const err = await expectReelError(
      runTranscode({
        ffmpegPath: FFMPEG,
        args: ['-v', 'error', '-i', '/nonexistent/input.mp4', '-f', 'null', '-'],
        durationMs: 1000,
        redact: { '/nonexistent/input.mp4': 'source' },
      }),
      'REEL_TRANSCODE_FAILED',
    );
    expect(err.message).not.toContain('/nonexistent');
    expect(err.message).toContain('source');
  });

  it('a missing ffmpeg → REEL_FFMPEG_MISSING', async () => {
    await expectReelError(
      runTranscode({ ffmpegPath: '/nonexistent/ffmpeg', args: [], durationMs: 1000 }),
      'REEL_FFMPEG_MISSING',
    );
  });

  it('an already aborted signal rejects with its reason and starts nothing', async () => {
    const reason = new Error('stopped before start');
    const p = runTranscode({
      ffmpegPath: FFMPEG,
      args: nullRun(1),
      durationMs: 1000,
      signal: AbortSignal.abort(reason),
    });
    await expect(p).rejects.toBe(reason);
    expect(await childProcesses()).toEqual([]);
  });

  it('aborting kills ffmpeg at once and rejects with the reason', async () => {
    const ac = new AbortController();
    let progressed = false;
    // -re: read at real-time speed, so this would run for 60 s
    const p = runTranscode({
      ffmpegPath: FFMPEG,
      args: nullRun(60, ['-re']),
      durationMs: 60_000,
      signal: ac.signal,
      onProgress: () => {
        progressed = true;
      },
    });
    const settled = p.catch((e: unknown) => e);
    const deadline = Date.now() + 5000;
    while (!progressed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(progressed).toBe(true);
    expect((await childProcesses()).some((l) => l.endsWith('ffmpeg'))).toBe(true);

    const reason = new Error('lease lost');
    const t0 = Date.now();
    ac.abort(reason);
    expect(await settled).toBe(reason);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await childProcesses()).toEqual([]);
  });

  it('aborting without a reason rejects with an AbortError', async () => {
    const ac = new AbortController();
    const p = runTranscode({
      ffmpegPath: FFMPEG,
      args: nullRun(60, ['-re']),
      durationMs: 60_000,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

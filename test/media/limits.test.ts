import { describe, expect, it } from 'vitest';
import type { SourceInfo } from '../../src/core/types.js';
import { checkSourceLimits, transcodeBudgetSeconds } from '../../src/media/limits.js';

const limits = { maxDurationSeconds: 12 * 3600, maxDimension: 4096, maxPixels: 4096 * 2176 };
const source = (extra: Partial<SourceInfo> = {}): SourceInfo => ({
  durationMs: 60_000,
  width: 1920,
  height: 1080,
  rotation: 0,
  displayWidth: 1920,
  displayHeight: 1080,
  fps: 30,
  pixFmt: 'yuv420p',
  videoCodec: 'h264',
  videoBitRate: 5_000_000,
  hasAudio: true,
  ...extra,
});
const MB = 1024 * 1024;
const codeOf = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('checkSourceLimits (pure)', () => {
  it('passes ordinary sources: 4K UHD, DCI 4K, portrait phone video, exactly 12 h', () => {
    expect(() => checkSourceLimits(source({ width: 3840, height: 2160 }), 100 * MB, limits)).not.toThrow();
    expect(() => checkSourceLimits(source({ width: 4096, height: 2160 }), 100 * MB, limits)).not.toThrow();
    const portrait = source({
      width: 1920,
      height: 1080,
      rotation: 90,
      displayWidth: 1080,
      displayHeight: 1920,
    });
    expect(() => checkSourceLimits(portrait, 100 * MB, limits)).not.toThrow();
    expect(() => checkSourceLimits(source({ durationMs: 12 * 3600_000 }), 5000 * MB, limits)).not.toThrow();
  });

  it('refuses a source longer than the limit, saying how long it is and what the limit is', () => {
    const e = (() => {
      try {
        checkSourceLimits(source({ durationMs: 12 * 3600_000 + 1000 }), 5000 * MB, limits);
      } catch (err) {
        return err as { code: string; message: string; permanent: boolean };
      }
    })();
    expect(e?.code).toBe('REEL_SOURCE_TOO_LONG');
    expect(e?.permanent).toBe(true);
    expect(e?.message).toContain('The video is 12 h long; this server accepts at most 12 h');
    expect(e?.message).toContain('REEL_MAX_DURATION_SECONDS');
  });

  it('refuses a frame wider or taller than the limit, or with too many pixels in all', () => {
    expect(codeOf(() => checkSourceLimits(source({ width: 8192, height: 8192 }), MB, limits))).toBe(
      'REEL_FRAME_TOO_LARGE',
    );
    // 4100 wide: one side too long, though the area is small
    expect(
      codeOf(() =>
        checkSourceLimits(
          source({ width: 4100, height: 200, displayWidth: 4100, displayHeight: 200 }),
          MB,
          limits,
        ),
      ),
    ).toBe('REEL_FRAME_TOO_LARGE');
    // 4096×4096: every side allowed, 16.8 Mpixel is not
    expect(codeOf(() => checkSourceLimits(source({ width: 4096, height: 4096 }), MB, limits))).toBe(
      'REEL_FRAME_TOO_LARGE',
    );
    // non-square pixels stretching a 3000-wide frame to 6000 on screen
    expect(
      codeOf(() =>
        checkSourceLimits(
          source({ width: 3000, height: 1000, displayWidth: 6000, displayHeight: 1000 }),
          MB,
          limits,
        ),
      ),
    ).toBe('REEL_FRAME_TOO_LARGE');
  });

  it('refuses a small file that claims hours (a lying header), not a short or a sparse but real one', () => {
    const tenHours = source({ durationMs: 10 * 3600_000 });
    expect(codeOf(() => checkSourceLimits(tenHours, 7 * 1024, limits))).toBe('REEL_IMPLAUSIBLE_DURATION');
    // 10 h of a still picture at 2 kbit/s is 9 MB: accepted
    expect(codeOf(() => checkSourceLimits(tenHours, 9 * MB, limits))).toBeUndefined();
    // a 30 s clip of 2 KB is odd but cheap: left to the transcode
    expect(codeOf(() => checkSourceLimits(source({ durationMs: 30_000 }), 2048, limits))).toBeUndefined();
  });
});

describe('transcodeBudgetSeconds (pure)', () => {
  it('is the floor plus the factor times the duration', () => {
    expect(transcodeBudgetSeconds(0, { floorSeconds: 600, factor: 10 })).toBe(600);
    expect(transcodeBudgetSeconds(3600_000, { floorSeconds: 600, factor: 10 })).toBe(36_600);
    expect(transcodeBudgetSeconds(2500, { floorSeconds: 0.5, factor: 0 })).toBe(0.5);
  });
});

import { describe, expect, it } from 'vitest';
import type { SourceInfo } from '../../src/core/types.js';
import {
  ceilingKbps,
  outputFps,
  planLadder,
  planTranscode,
  tableCeilingKbps,
} from '../../src/media/ladder.js';

const RUNGS = [1080, 720, 480, 240];

function source(width: number, height: number, extra: Partial<SourceInfo> = {}): SourceInfo {
  const rotation = extra.rotation ?? 0;
  const swap = rotation === 90 || rotation === 270;
  return {
    durationMs: 10_000,
    width,
    height,
    rotation,
    displayWidth: swap ? height : width,
    displayHeight: swap ? width : height,
    fps: 30,
    pixFmt: 'yuv420p',
    videoCodec: 'h264',
    videoBitRate: undefined,
    hasAudio: true,
    ...extra,
  };
}

const sizes = (s: SourceInfo, rungs = RUNGS) =>
  planLadder(s, rungs).map((r) => `${r.name} ${r.width}x${r.height}`);

function expectSane(s: SourceInfo, rungs = RUNGS) {
  const plan = planLadder(s, rungs);
  expect(plan.length).toBeGreaterThan(0);
  for (const r of plan) {
    expect(r.width % 2, `${r.name} width even`).toBe(0);
    expect(r.height % 2, `${r.name} height even`).toBe(0);
    expect(r.width, `${r.name} not upscaled`).toBeLessThanOrEqual(s.displayWidth);
    expect(r.height, `${r.name} not upscaled`).toBeLessThanOrEqual(s.displayHeight);
    // aspect ratio within what rounding to even numbers costs
    const aspect = r.width / r.height;
    const want = s.displayWidth / s.displayHeight;
    expect(Math.abs(aspect - want) / want, `${r.name} aspect`).toBeLessThan(0.01);
    expect(r.bufsizeKbps).toBe(2 * r.maxrateKbps);
  }
  // highest first, names unique
  const px = plan.map((r) => r.width * r.height);
  expect([...px].sort((a, b) => b - a)).toEqual(px);
  expect(new Set(plan.map((r) => r.name)).size).toBe(plan.length);
}

describe('planLadder', () => {
  it('1920×1080 gets the whole default ladder', () => {
    const s = source(1920, 1080);
    expect(sizes(s)).toEqual(['1080p 1920x1080', '720p 1280x720', '480p 854x480', '240p 426x240']);
    expectSane(s);
  });

  it('3840×2160 is scaled down to the top rung, never kept at 4K', () => {
    const s = source(3840, 2160);
    expect(sizes(s)).toEqual(['1080p 1920x1080', '720p 1280x720', '480p 854x480', '240p 426x240']);
    expectSane(s);
  });

  it('a source between rungs keeps its own size only when it is clearly larger than the rung below', () => {
    expect(sizes(source(1000, 562))).toEqual(['562p 1000x562', '480p 854x480', '240p 428x240']);
    // 502 is within 15% of 480: a near-duplicate rendition would only cost encode time.
    expect(sizes(source(892, 502))).toEqual(['480p 852x480', '240p 426x240']);
    expectSane(source(1000, 562));
  });

  it('1280×720 is never upscaled to 1080p', () => {
    const s = source(1280, 720);
    expect(sizes(s)).toEqual(['720p 1280x720', '480p 854x480', '240p 426x240']);
    expectSane(s);
  });

  it('640×360 keeps its own size on top of the rungs below it, and 360p when it is a rung', () => {
    const s = source(640, 360);
    expect(sizes(s)).toEqual(['360p 640x360', '240p 426x240']);
    expect(sizes(s, [720, 360, 240])).toEqual(['360p 640x360', '240p 426x240']);
    expectSane(s);
  });

  it('a 1080×1920 portrait source keeps its orientation: rungs are the short side', () => {
    const s = source(1080, 1920);
    expect(sizes(s)).toEqual(['1080p 1080x1920', '720p 720x1280', '480p 480x854', '240p 240x426']);
    expectSane(s);
  });

  it('a rotated phone clip (coded 1920×1080, rotation 90) comes out portrait', () => {
    const s = source(1920, 1080, { rotation: 90 });
    expect(s.displayWidth).toBe(1080);
    expect(sizes(s)).toEqual(['1080p 1080x1920', '720p 720x1280', '480p 480x854', '240p 240x426']);
    expectSane(s);
  });

  it('1279×719 (within 5% below 720) keeps the 720p rung at its own size, floored to even', () => {
    const s = source(1279, 719);
    expect(sizes(s)).toEqual(['720p 1278x718', '480p 854x480', '240p 426x240']);
    expectSane(s);
  });

  it('a source more than 5% below a rung does not get that rung, but keeps its own size on top', () => {
    expect(sizes(source(1200, 675))).toEqual(['674p 1200x674', '480p 854x480', '240p 426x240']);
  });

  it('160×120, below the lowest rung, gets exactly one rendition at its own size', () => {
    const s = source(160, 120);
    expect(sizes(s)).toEqual(['120p 160x120']);
    expectSane(s);
    expect(sizes(source(161, 121))).toEqual(['120p 160x120']);
  });

  it('odd and unusual sizes: 4:3, ultra-wide, odd dimensions, duplicate or unsorted rungs', () => {
    expect(sizes(source(1440, 1080))).toEqual([
      '1080p 1440x1080',
      '720p 960x720',
      '480p 640x480',
      '240p 320x240',
    ]);
    expect(sizes(source(1920, 804))).toEqual(['720p 1720x720', '480p 1146x480', '240p 574x240']);
    expect(sizes(source(1921, 1081))).toEqual([
      '1080p 1920x1080',
      '720p 1280x720',
      '480p 852x480',
      '240p 426x240',
    ]);
    expect(sizes(source(1920, 1080), [240, 720, 720, 480])).toEqual([
      '720p 1280x720',
      '480p 854x480',
      '240p 426x240',
    ]);
    for (const [w, h] of [
      [1440, 1080],
      [1920, 804],
      [1921, 1081],
      [720, 1280],
      [3, 3],
    ] as const) {
      expectSane(source(w, h));
    }
  });
});

describe('bitrate ceilings', () => {
  it('follow the table at 30 fps for the common 16:9 rungs', () => {
    const s = source(1920, 1080);
    expect(planLadder(s, RUNGS).map((r) => r.maxrateKbps)).toEqual([6000, 3500, 1500, 500]);
    expect(ceilingKbps(640, 360, 30)).toBe(900);
    expect(ceilingKbps(3840, 2160, 30)).toBe(16000);
  });

  it('are interpolated by pixel count, portrait equal to landscape, and at least 100 kbit/s', () => {
    expect(ceilingKbps(720, 1280, 30)).toBe(3500);
    const fourThree = ceilingKbps(960, 720, 30);
    expect(fourThree).toBeGreaterThan(1500);
    expect(fourThree).toBeLessThan(3500);
    expect(ceilingKbps(160, 120, 30)).toBe(100);
  });

  it('are 1.5× above 30 fps', () => {
    expect(ceilingKbps(1280, 720, 60)).toBe(5250);
    expect(ceilingKbps(1280, 720, 30000 / 1001)).toBe(3500);
    expect(planLadder(source(1280, 720, { fps: 59.94 }), [720])[0]!.maxrateKbps).toBe(5250);
  });

  it('are capped at 1.3× a known source bit rate, but never below 40% of the table', () => {
    expect(ceilingKbps(1280, 720, 30, 2_000_000)).toBe(2600);
    expect(ceilingKbps(1280, 720, 30, 10_000_000)).toBe(3500);
    expect(ceilingKbps(1280, 720, 30, 500_000)).toBe(1400);
    expect(tableCeilingKbps(1280, 720, 30)).toBe(3500);
  });
});

describe('outputFps', () => {
  it('keeps standard rates, NTSC ones exactly', () => {
    expect(outputFps(30)).toBe(30);
    expect(outputFps(25)).toBe(25);
    expect(outputFps(30000 / 1001)).toBe(30000 / 1001);
    expect(outputFps(29.97)).toBe(30000 / 1001);
    expect(outputFps(24000 / 1001)).toBe(24000 / 1001);
    expect(outputFps(60000 / 1001)).toBe(60000 / 1001);
  });

  it('snaps a variable-rate average to the nearest standard rate, rounds odd rates, caps at 60', () => {
    expect(outputFps(29.6)).toBe(30000 / 1001);
    expect(outputFps(59.2)).toBe(60000 / 1001);
    expect(outputFps(20.2)).toBe(20);
    expect(outputFps(120)).toBe(60);
    expect(outputFps(240)).toBe(60);
    expect(outputFps(0.5)).toBe(1);
  });

  it('defaults to 30 when the rate is unknown or absurd', () => {
    expect(outputFps(0)).toBe(30);
    expect(outputFps(Number.NaN)).toBe(30);
    expect(outputFps(90000)).toBe(30);
  });
});

describe('planTranscode', () => {
  it('plans 2 s keyframes, 4 s segments, stereo AAC, the poster', () => {
    const plan = planTranscode(source(1920, 1080, { fps: 29.97 }), {
      rungs: RUNGS,
      preset: 'veryfast',
      crf: 21,
    });
    expect(plan.fps).toBe(30000 / 1001);
    expect(plan.keyframeSeconds).toBe(2);
    expect(plan.segmentSeconds).toBe(4);
    expect(plan.segmentSeconds % plan.keyframeSeconds).toBe(0);
    expect(plan.preset).toBe('veryfast');
    expect(plan.crf).toBe(21);
    expect(plan.audio).toEqual({ bitrateKbps: 128, channels: 2, sampleRate: 48000 });
    expect(plan.renditions).toHaveLength(4);
    expect(plan.poster).toEqual({ atSeconds: 1, width: 1280, height: 720 });
  });

  it('has no audio when the source has none; a short clip takes its poster at 10%', () => {
    const plan = planTranscode(source(1080, 1920, { hasAudio: false, durationMs: 4000 }), {
      rungs: RUNGS,
      preset: 'veryfast',
      crf: 21,
    });
    expect(plan.audio).toBeNull();
    expect(plan.poster).toEqual({ atSeconds: 0.4, width: 1080, height: 1920 });
  });
});

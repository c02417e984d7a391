/** Pure storyboard geometry and storyboard.vtt, and I-frame playlists from keyframe ranges. */
import { describe, expect, it } from 'vitest';
import {
  contiguousKeyframes,
  iframePeakBandwidth,
  renderIFramePlaylistText,
} from '../../src/media/iframePlaylist.js';
import {
  chunkStoryboard,
  renderStoryboardCues,
  sheetSpan,
  storyboardChain,
  storyboardInterval,
  tileSize,
  vttTime,
} from '../../src/media/storyboard.js';

describe('storyboard geometry', () => {
  it('the interval is even, from 2 s, keeps a video to 300 tiles, and never exceeds a chunk (16 s)', () => {
    expect(storyboardInterval(12_000)).toBe(2);
    expect(storyboardInterval(600_000)).toBe(2);
    expect(storyboardInterval(601_000)).toBe(4);
    expect(storyboardInterval(3_600_000)).toBe(12);
    expect(600 / storyboardInterval(600_000)).toBeLessThanOrEqual(300);
    expect(storyboardInterval(36_000_000)).toBe(16);
    expect(storyboardInterval(0)).toBe(2);
  });

  it('tiles are 160 px wide with the lowest rung aspect, even; portrait and tiny rungs too', () => {
    expect(tileSize({ width: 426, height: 240 })).toEqual({ width: 160, height: 90 });
    expect(tileSize({ width: 240, height: 426 })).toEqual({ width: 160, height: 284 });
    expect(tileSize({ width: 96, height: 54 })).toEqual({ width: 96, height: 54 });
  });

  it("a chunk's tiles: those whose time falls in its span, at their frame numbers in the chunk", () => {
    const plan = {
      fps: 30,
      renditions: [
        { width: 640, height: 360 },
        { width: 426, height: 240 },
      ],
    };
    const first = chunkStoryboard(plan, { startFrame: 0, frames: 60 }, 22_000)!;
    expect(first).toMatchObject({ first: 0, count: 1, frames: [0], columns: 1, rows: 1 });
    const second = chunkStoryboard(plan, { startFrame: 60, frames: 480 }, 22_000)!;
    expect(second).toMatchObject({ first: 1, count: 8, frames: [0, 60, 120, 180, 240, 300, 360, 420] });
    // The last chunk runs to the planned end.
    const last = chunkStoryboard(plan, { startFrame: 540, frames: null }, 22_000)!;
    expect(last).toMatchObject({ first: 9, count: 2, frames: [0, 60], columns: 2, rows: 1 });
    // Longer intervals: tiles on the interval's grid, not the chunk's start.
    const long = chunkStoryboard(plan, { startFrame: 540, frames: 480 }, 3_600_000)!;
    expect(long).toMatchObject({ interval: 12, first: 2, count: 1, frames: [180] });
    expect(storyboardChain(second)).toBe(
      'select=eq(n\\,0)+eq(n\\,60)+eq(n\\,120)+eq(n\\,180)+eq(n\\,240)+eq(n\\,300)+eq(n\\,360)+eq(n\\,420),' +
        'scale=w=160:h=90,setsar=1,tile=8x1,format=yuvj420p',
    );
    // A last chunk that ran past the planned end: its sheet stands for its tiles only.
    expect(sheetSpan(last, 540, 120, 30)).toBe(4);
    expect(sheetSpan(last, 540, 200, 30)).toBeCloseTo(4, 6);
    expect(sheetSpan(last, 540, 100, 30)).toBeCloseTo(100 / 30, 6);
  });
});

describe('storyboard.vtt', () => {
  const tile = { width: 160, height: 90 };
  const cues = (vtt: string) =>
    [...vtt.matchAll(/^(\S+) --> (\S+)\n(\S+)$/gm)].map((m) => [m[1], m[2], m[3]]);

  it('cues from 0 to the end of the sheets published from chunk 0, stopping at a gap', () => {
    const vtt = renderStoryboardCues(
      [
        { index: 0, duration: 2 },
        { index: 1, duration: 16 },
        { index: 3, duration: 16 },
      ],
      2,
      tile,
    );
    expect(vtt.startsWith('WEBVTT\n\n')).toBe(true);
    const got = cues(vtt);
    expect(got).toHaveLength(9);
    expect(got[0]).toEqual(['00:00:00.000', '00:00:02.000', 'storyboard/0.jpg#xywh=0,0,160,90']);
    expect(got[1]).toEqual(['00:00:02.000', '00:00:04.000', 'storyboard/1.jpg#xywh=0,0,160,90']);
    expect(got[8]).toEqual(['00:00:16.000', '00:00:18.000', 'storyboard/1.jpg#xywh=1120,0,160,90']);
    expect(renderStoryboardCues([{ index: 1, duration: 16 }], 2, tile)).toBe('WEBVTT\n\n');
  });

  it('the last cue ends with the video; rows of 10; hours in the timestamps', () => {
    const got = cues(
      renderStoryboardCues(
        [
          { index: 0, duration: 2 },
          { index: 1, duration: 24.5 },
        ],
        2,
        tile,
      ),
    );
    expect(got.at(-1)).toEqual(['00:00:26.000', '00:00:26.500', 'storyboard/1.jpg#xywh=320,90,160,90']);
    expect(vttTime(3723.4567)).toBe('01:02:03.457');
  });
});

describe('I-frame playlists', () => {
  const seg = (seq: number, n = 2) => ({
    seq,
    iframes: Array.from({ length: n }, (_, i) => ({ offset: i * 1000, length: 400 + seq, duration: 2 })),
  });

  it('EVENT while processing, the contiguous run only; VOD with ENDLIST when complete', () => {
    const run = contiguousKeyframes([seg(0, 1), seg(1), seg(3)]);
    expect(run.map((s) => s.seq)).toEqual([0, 1]);
    const growing = renderIFramePlaylistText({ run, complete: false });
    expect(growing).toContain('#EXT-X-PLAYLIST-TYPE:EVENT');
    expect(growing).toContain('#EXT-X-I-FRAMES-ONLY');
    expect(growing).not.toContain('#EXT-X-ENDLIST');
    expect(growing).toContain('#EXTINF:2.000000,\n#EXT-X-BYTERANGE:401@1000\nseg_00001.m4s');
    const done = renderIFramePlaylistText({
      run: contiguousKeyframes([seg(0, 1), seg(1), seg(2)]),
      complete: true,
    });
    expect(done).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(done.endsWith('#EXT-X-ENDLIST\n')).toBe(true);
    expect(done).toContain('#EXT-X-TARGETDURATION:4');
    // A segment published without keyframes (before I-frame playlists) ends the run.
    expect(contiguousKeyframes([{ seq: 0, iframes: [] }])).toEqual([]);
  });

  it('BANDWIDTH: the peak of I-frame bytes over their EXTINFs, windows of 2–6 s', () => {
    const run = [
      { seq: 0, iframes: [{ offset: 0, length: 1000, duration: 2 }] },
      {
        seq: 1,
        iframes: [
          { offset: 0, length: 1000, duration: 2 },
          { offset: 5000, length: 3000, duration: 2 },
        ],
      },
    ];
    expect(iframePeakBandwidth(run)).toBe(12_000);
  });
});

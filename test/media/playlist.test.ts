import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RenditionInfo } from '../../src/core/types.js';
import {
  avcCodecString,
  bitrateStats,
  buildMasterPlaylist,
  type MasterVariant,
  mergeShortTail,
  parseMediaPlaylist,
  readAvcC,
  renderMasterPlaylist,
  renderMediaPlaylist,
  writeMasterPlaylist,
} from '../../src/media/playlist.js';
import { parseMasterPlaylist } from '../helpers/hls.js';

const v720: MasterVariant = {
  uri: '720p/index.m3u8',
  bandwidth: 3_000_123.4,
  averageBandwidth: 2_500_000,
  codecs: 'avc1.64001F,mp4a.40.2',
  width: 1280,
  height: 720,
  frameRate: 30000 / 1001,
  audioGroup: 'aud',
};
const v240: MasterVariant = {
  ...v720,
  uri: '240p/index.m3u8',
  bandwidth: 600_000,
  averageBandwidth: 500_000,
  codecs: 'avc1.640015,mp4a.40.2',
  width: 426,
  height: 240,
};
const audio = { groupId: 'aud', name: 'audio', uri: 'audio/index.m3u8', channels: 2 };

describe('buildMasterPlaylist', () => {
  it('writes the header, the audio group and the variants highest first', () => {
    const text = buildMasterPlaylist([v240, v720], audio);
    expect(text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:7',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=3000123,AVERAGE-BANDWIDTH=2500000,CODECS="avc1.64001F,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="aud"',
        '720p/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=600000,AVERAGE-BANDWIDTH=500000,CODECS="avc1.640015,mp4a.40.2",RESOLUTION=426x240,FRAME-RATE=29.970,AUDIO="aud"',
        '240p/index.m3u8',
        '',
      ].join('\n'),
    );
  });

  it('has no audio group and no AUDIO attribute for video-only variants', () => {
    const text = buildMasterPlaylist(
      [{ ...v720, codecs: 'avc1.64001F', audioGroup: undefined, frameRate: 25 }],
      null,
    );
    expect(text).not.toContain('EXT-X-MEDIA');
    expect(text).not.toContain('AUDIO=');
    expect(text).toContain('CODECS="avc1.64001F",RESOLUTION=1280x720,FRAME-RATE=25.000\n');
  });

  it('round-trips through an independent parser (quoted commas in CODECS included)', () => {
    const parsed = parseMasterPlaylist(buildMasterPlaylist([v720, v240], audio));
    expect(parsed.version).toBe(7);
    expect(parsed.independentSegments).toBe(true);
    expect(parsed.media).toEqual([
      {
        TYPE: 'AUDIO',
        'GROUP-ID': 'aud',
        NAME: 'audio',
        DEFAULT: 'YES',
        AUTOSELECT: 'YES',
        CHANNELS: '2',
        URI: 'audio/index.m3u8',
      },
    ]);
    expect(parsed.variants.map((v) => v.uri)).toEqual(['720p/index.m3u8', '240p/index.m3u8']);
    expect(parsed.variants[0]!.attributes).toEqual({
      BANDWIDTH: '3000123',
      'AVERAGE-BANDWIDTH': '2500000',
      CODECS: 'avc1.64001F,mp4a.40.2',
      RESOLUTION: '1280x720',
      'FRAME-RATE': '29.970',
      AUDIO: 'aud',
    });
  });
});

describe('codec strings', () => {
  it('formats avc1.PPCCLL in hex', () => {
    expect(avcCodecString(100, 0, 31)).toBe('avc1.64001F');
    expect(avcCodecString(100, 0, 40)).toBe('avc1.640028');
    expect(avcCodecString(66, 0xc0, 30)).toBe('avc1.42C01E');
  });

  it('reads profile, constraints and level from an avcC box', () => {
    const box = Buffer.concat([
      Buffer.from([0, 0, 0, 40]),
      Buffer.from('avcC', 'latin1'),
      Buffer.from([1, 100, 0, 31, 0xff, 0xe1]),
    ]);
    expect(readAvcC(Buffer.concat([Buffer.alloc(100), box]))).toEqual([100, 0, 31]);
    expect(readAvcC(Buffer.alloc(100))).toBeUndefined();
  });
});

describe('media playlists and bit rates', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    '#EXT-X-TARGETDURATION:4',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-MAP:URI="init.mp4"',
    '#EXTINF:4.000000,',
    'seg_00000.m4s',
    '#EXTINF:4.000000,',
    'seg_00001.m4s',
    '#EXTINF:1.500000,',
    'seg_00002.m4s',
    '#EXT-X-ENDLIST',
  ].join('\n');

  it('parses segments, durations and the init segment', () => {
    const pl = parseMediaPlaylist(text);
    expect(pl.mapUri).toBe('init.mp4');
    expect(pl.targetDuration).toBe(4);
    expect(pl.endList).toBe(true);
    expect(pl.segments).toEqual([
      { uri: 'seg_00000.m4s', duration: 4 },
      { uri: 'seg_00001.m4s', duration: 4 },
      { uri: 'seg_00002.m4s', duration: 1.5 },
    ]);
  });

  it('peak is the busiest segment, average is all bits over all time', () => {
    const s = bitrateStats([
      { duration: 4, bytes: 500_000 },
      { duration: 4, bytes: 1_000_000 },
      { duration: 1.5, bytes: 150_000 },
    ]);
    expect(s.peakBps).toBe(2_000_000);
    expect(s.averageBps).toBe(Math.round((1_650_000 * 8) / 9.5));
    expect(s.durationSec).toBe(9.5);
  });

  it('peak per RFC 8216: a 21 ms last audio segment is not a window of its own (it was announced at 310 kbit/s)', () => {
    // The 8 s clip's audio as ffmpeg cut it: 4.011 s, 3.989 s, then one AAC frame.
    const audio = [
      { duration: 4.010667, bytes: 63_789 },
      { duration: 3.989333, bytes: 54_299 },
      { duration: 0.021333, bytes: 813 },
    ];
    const s = bitrateStats(audio, 4);
    // The sliver alone is 305 kbit/s; the largest window of 2–6 s is the first segment, 127 kbit/s.
    expect(Math.round((813 * 8) / 0.021333)).toBeGreaterThan(300_000);
    expect(s.peakBps).toBe(Math.round((63_789 * 8) / 4.010667));
  });

  it('windows run from 0.5 to 1.5 × the target duration and may span segments', () => {
    // Target 4: windows of 2–6 s. 1 s segments: the best window is 4 of them, never one alone.
    const ones = [100, 100, 900, 100, 100, 100, 100].map((kb) => ({ duration: 1, bytes: kb * 1000 }));
    const s = bitrateStats(ones, 4);
    // Best 2-s window: 100 + 900 (or 900 + 100) kB over 2 s = 4 Mbit/s; the 900 kB second alone (7.2) is too short.
    expect(s.peakBps).toBe(4_000_000);
    // Without a target, the longest segment sets it (1 s → windows of 0.5–1.5 s): single seconds count.
    expect(bitrateStats(ones).peakBps).toBe(7_200_000);
    // Shorter than half the target in all: no window qualifies, the peak is the average.
    const short = bitrateStats([{ duration: 1, bytes: 1000 }], 4);
    expect(short.peakBps).toBe(short.averageBps);
  });
});

describe('mergeShortTail (pure)', () => {
  const playlist = (durations: number[], target = 4) =>
    [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      `#EXT-X-TARGETDURATION:${target}`,
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXT-X-MAP:URI="init.mp4"',
      ...durations.flatMap((d, i) => [`#EXTINF:${d.toFixed(6)},`, `seg_${String(i).padStart(5, '0')}.m4s`]),
      '#EXT-X-ENDLIST',
      '',
    ].join('\n');

  it('folds a 21 ms last segment into the one before, keeping the total duration and the target', () => {
    const m = mergeShortTail(playlist([4.010667, 3.989333, 0.021333]))!;
    expect(m).toMatchObject({ into: 'seg_00001.m4s', from: 'seg_00002.m4s' });
    const pl = parseMediaPlaylist(m.text);
    expect(pl.segments).toEqual([
      { uri: 'seg_00000.m4s', duration: 4.010667 },
      { uri: 'seg_00001.m4s', duration: 4.010666 },
    ]);
    expect(pl.targetDuration).toBe(4);
    expect(pl.endList).toBe(true);
    expect(pl.mapUri).toBe('init.mp4');
  });

  it('raises the target duration when the merged segment rounds above it', () => {
    const m = mergeShortTail(playlist([4, 4.4, 0.2]))!;
    expect(parseMediaPlaylist(m.text).targetDuration).toBe(5);
  });

  it('leaves alone a real last segment, a one-segment playlist and an unfinished playlist', () => {
    expect(mergeShortTail(playlist([4, 4, 1]))).toBeUndefined();
    expect(mergeShortTail(playlist([0.1]))).toBeUndefined();
    expect(mergeShortTail(playlist([4, 0.02]).replace('#EXT-X-ENDLIST\n', ''))).toBeUndefined();
  });
});

describe('renderMasterPlaylist (chunked videos: rendered from the stored renditions)', () => {
  const r720: RenditionInfo = {
    name: '720p',
    width: 1280,
    height: 720,
    bandwidth: 3_000_123.4,
    averageBandwidth: 2_500_000,
    codecs: 'avc1.64001F,mp4a.40.2',
    frameRate: 30000 / 1001,
  };
  const r240: RenditionInfo = {
    ...r720,
    name: '240p',
    width: 426,
    height: 240,
    bandwidth: 600_000,
    averageBandwidth: 500_000,
    codecs: 'avc1.640015,mp4a.40.2',
  };
  const aac = { codecs: 'mp4a.40.2', bandwidth: 130_000, channels: 2 };

  it('is the text the single-process ladder gets for the same renditions', () => {
    expect(renderMasterPlaylist([r240, r720], aac)).toBe(buildMasterPlaylist([v240, v720], audio));
    const videoOnly = renderMasterPlaylist([{ ...r720, codecs: 'avc1.64001F', frameRate: 25 }], null);
    expect(videoOnly).not.toContain('EXT-X-MEDIA');
    expect(videoOnly).not.toContain('AUDIO=');
    expect(videoOnly).toContain('CODECS="avc1.64001F",RESOLUTION=1280x720,FRAME-RATE=25.000\n');
  });

  it('leaves CODECS out while the first chunk has not told them', () => {
    const text = renderMasterPlaylist([{ ...r720, codecs: '' }], aac);
    expect(text).not.toContain('CODECS');
    expect(parseMasterPlaylist(text).variants[0]!.attributes).toMatchObject({
      BANDWIDTH: '3000123',
      RESOLUTION: '1280x720',
      AUDIO: 'aud',
    });
  });

  it('writeMasterPlaylist (the single-process ladder) writes the same text as before the refactor', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'reel-master-'));
    try {
      const avcC = Buffer.concat([Buffer.from('....avcC', 'latin1'), Buffer.from([1, 100, 0, 31, 0xff])]);
      for (const [name, bytes] of [
        ['720p', 1_000_000],
        ['audio', 64_000],
      ] as const) {
        await mkdir(path.join(dir, name));
        await writeFile(
          path.join(dir, name, 'index.m3u8'),
          '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:4.000000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n',
        );
        await writeFile(path.join(dir, name, 'init.mp4'), avcC);
        await writeFile(path.join(dir, name, 'seg_00000.m4s'), Buffer.alloc(bytes));
        await writeFile(path.join(dir, name, 'seg_00001.m4s'), Buffer.alloc(bytes / 2));
      }
      const infos = await writeMasterPlaylist(
        dir,
        {
          renditions: [{ name: '720p', width: 1280, height: 720, maxrateKbps: 3000, bufsizeKbps: 6000 }],
          audio: { bitrateKbps: 128, channels: 2, sampleRate: 48000 },
          fps: 30,
        },
        { ffprobePath: '/nonexistent/ffprobe' },
      );
      expect(await readFile(path.join(dir, 'master.m3u8'), 'utf8')).toBe(
        [
          '#EXTM3U',
          '#EXT-X-VERSION:7',
          '#EXT-X-INDEPENDENT-SEGMENTS',
          '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
          // peak: the first 4 s segment (1 MB video + 64 kB audio); average: all bytes over 8 s
          '#EXT-X-STREAM-INF:BANDWIDTH=2128000,AVERAGE-BANDWIDTH=1596000,CODECS="avc1.64001F,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="aud"',
          '720p/index.m3u8',
          '',
        ].join('\n'),
      );
      expect(renderMasterPlaylist(infos, { ...aac, channels: 2 })).toBe(
        await readFile(path.join(dir, 'master.m3u8'), 'utf8'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('renderMediaPlaylist (chunked videos: rendered from the published segments)', () => {
  const seg = (seq: number, duration = 4) => ({ seq, duration });

  it('in progress: an EVENT playlist from the start, of the contiguous run from seq 0 only', () => {
    const text = renderMediaPlaylist({
      segments: [seg(3), seg(0), seg(1), seg(5)],
      targetDuration: 4,
      complete: false,
    });
    expect(text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:7',
        '#EXT-X-TARGETDURATION:4',
        '#EXT-X-MEDIA-SEQUENCE:0',
        '#EXT-X-PLAYLIST-TYPE:EVENT',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '#EXT-X-START:TIME-OFFSET=0',
        '#EXT-X-MAP:URI="init.mp4"',
        '#EXTINF:4.000000,',
        'seg_00000.m4s',
        '#EXTINF:4.000000,',
        'seg_00001.m4s',
        '',
      ].join('\n'),
    );
    const pl = parseMediaPlaylist(text);
    expect(pl.endList).toBe(false);
    expect(pl.mapUri).toBe('init.mp4');
  });

  it('nothing before seq 0 is published: a valid playlist with no segment', () => {
    const pl = parseMediaPlaylist(
      renderMediaPlaylist({ segments: [seg(1)], targetDuration: 4, complete: false }),
    );
    expect(pl.segments).toEqual([]);
    expect(pl.targetDuration).toBe(4);
  });

  it('complete: VOD with ENDLIST and no start offset; every segment, its duration as published', () => {
    const text = renderMediaPlaylist({
      segments: [seg(0), seg(1, 3.2), seg(2, 0.733333)],
      targetDuration: 4,
      complete: true,
    });
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:VOD\n');
    expect(text).not.toContain('EXT-X-START');
    expect(text.endsWith('#EXT-X-ENDLIST\n')).toBe(true);
    const pl = parseMediaPlaylist(text);
    expect(pl.segments).toEqual([
      { uri: 'seg_00000.m4s', duration: 4 },
      { uri: 'seg_00001.m4s', duration: 3.2 },
      { uri: 'seg_00002.m4s', duration: 0.733333 },
    ]);
  });

  it('TARGETDURATION is the plan’s unless a segment rounds to more (RFC 8216: AAC’s 4.010667 s is not longer)', () => {
    const target = (durations: number[], planned = 4) =>
      parseMediaPlaylist(
        renderMediaPlaylist({
          segments: durations.map((d, i) => seg(i, d)),
          targetDuration: planned,
          complete: false,
        }),
      ).targetDuration;
    expect(target([1.5])).toBe(4);
    expect(target([4.0000001, 4])).toBe(4);
    expect(target([4.010667, 3.989333, 4.032])).toBe(4);
    expect(target([4, 4.6])).toBe(5);
    expect(target([2], 6)).toBe(6);
    // Every EXTINF, rounded, is within the target (RFC 8216 4.3.3.1).
    expect(target([4.49, 4.51, 3])).toBe(5);
    expect(target([4.49, 3])).toBe(4);
  });
});

import { describe, expect, it } from 'vitest';
import {
  avcCodecString,
  bitrateStats,
  buildMasterPlaylist,
  type MasterVariant,
  parseMediaPlaylist,
  readAvcC,
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
});

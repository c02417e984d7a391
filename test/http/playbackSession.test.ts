import { describe, expect, it } from 'vitest';
import {
  masterForSession,
  sessionExpiry,
  signingKeyRetireAfterSeconds,
} from '../../src/http/playbackSession.js';

describe('playback sessions (planning)', () => {
  it('every relative URI of the master goes through the session; absolute ones are left alone', () => {
    const master = [
      '#EXTM3U',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",URI="audio/index.m3u8"',
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="https://cdn.example/en.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=2000000,AUDIO="aud"',
      '720p/index.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="720p/iframes.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=400000,AUDIO="aud"\r',
      '240p/index.m3u8\r',
      '/play/other/public/x.m3u8',
      '',
    ].join('\n');
    expect(masterForSession(master, 'S.E.SS').split('\n')).toEqual([
      '#EXTM3U',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",URI="../S.E.SS/audio/index.m3u8"',
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="https://cdn.example/en.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=2000000,AUDIO="aud"',
      '../S.E.SS/720p/index.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="../S.E.SS/720p/iframes.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=400000,AUDIO="aud"\r',
      '../S.E.SS/240p/index.m3u8',
      '/play/other/public/x.m3u8',
      '',
    ]);
    // Resolved as a player does, from the master's URL.
    expect(
      new URL('../S.E.SS/720p/index.m3u8', 'https://reel.example/play/v1/START/master.m3u8').pathname,
    ).toBe('/play/v1/S.E.SS/720p/index.m3u8');
  });

  it('a session lasts 3 × the duration plus the allowance, never less than the token that started it', () => {
    const settings = { sessionAllowanceSeconds: 600 };
    expect(sessionExpiry(1000, 7_200_000, 1100, settings)).toBe(1000 + 21_600 + 600);
    expect(sessionExpiry(1000, 1500, 1100, settings)).toBe(1000 + 5 + 600);
    expect(sessionExpiry(1000, null, 1100, settings)).toBe(1600);
    expect(sessionExpiry(1000, 1000, 9000, settings)).toBe(9000);
  });

  it('a superseded key retires after the refresh interval plus the longest a token it signed can live', () => {
    const s = { tokenTtlSeconds: 3600, sessionAllowanceSeconds: 14_400, signingKeyRefreshSeconds: 60 };
    // A 2 h film: its sessions (6 h + 4 h) outlive playback tokens.
    expect(signingKeyRetireAfterSeconds(7_200_000, s)).toBe(60 + 21_600 + 14_400);
    // Short videos and a long token lifetime: the token decides.
    expect(signingKeyRetireAfterSeconds(10_000, { ...s, tokenTtlSeconds: 86_400 })).toBe(60 + 86_400);
  });
});

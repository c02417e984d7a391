import { describe, expect, it } from 'vitest';
import { contentDisposition, planDownloads, remuxArgs } from '../../src/media/downloadPlan.js';

const rungs = [
  { name: '720p', width: 1280, height: 720 },
  { name: '360p', width: 640, height: 360 },
];

describe('planDownloads', () => {
  it('a rung MP4 each with the default audio, and the audio alone as M4A', () => {
    expect(planDownloads(rungs, true)).toEqual([
      { name: '720p', path: 'download/720p.mp4', inputs: ['720p', 'audio'], width: 1280, height: 720 },
      { name: '360p', path: 'download/360p.mp4', inputs: ['360p', 'audio'], width: 640, height: 360 },
      { name: 'audio', path: 'download/audio.m4a', inputs: ['audio'], width: null, height: null },
    ]);
  });
  it('without audio: video-only MP4s and no M4A', () => {
    expect(planDownloads(rungs, false).map((d) => [d.path, d.inputs])).toEqual([
      ['download/720p.mp4', ['720p']],
      ['download/360p.mp4', ['360p']],
    ]);
  });
});

describe('remuxArgs', () => {
  it('copies streams from local MP4 inputs only, fast start', () => {
    const args = remuxArgs(['/w/v.mp4', '/w/a.mp4'], '/w/out.mp4');
    expect(args.join(' ')).toContain(
      '-protocol_whitelist file -f mp4 -i file:/w/v.mp4 -protocol_whitelist file -f mp4 -i file:/w/a.mp4 -map 0:v:0 -map 1:a:0 -c copy',
    );
    expect(args.join(' ')).toContain('-movflags +faststart -f mp4 -y file:/w/out.mp4');
    expect(remuxArgs(['/w/a.mp4'], '/w/a.m4a')).toContain('0');
  });
});

describe('contentDisposition', () => {
  it('an ASCII title: filename only', () => {
    expect(contentDisposition('My trip', 'download/720p.mp4')).toBe(
      'attachment; filename="My trip-720p.mp4"',
    );
  });
  it('quotes, slashes and control characters never reach the header; non-ASCII goes in filename*', () => {
    expect(contentDisposition('a"b\\c/d\r\nSet-Cookie: x', 'download/audio.m4a')).toBe(
      'attachment; filename="a b c d Set-Cookie x-audio.m4a"',
    );
    expect(contentDisposition('Été 100%', 'download/360p.mp4')).toBe(
      `attachment; filename="Ete 100_-360p.mp4"; filename*=UTF-8''%C3%89t%C3%A9%20100%25-360p.mp4`,
    );
    expect(contentDisposition('東京', 'download/360p.mp4')).toBe(
      `attachment; filename="_-360p.mp4"; filename*=UTF-8''%E6%9D%B1%E4%BA%AC-360p.mp4`,
    );
    expect(contentDisposition('   ', 'download/360p.mp4')).toBe('attachment; filename="360p.mp4"');
  });
});

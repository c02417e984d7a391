/** The subtitle parser (WebVTT, SRT) and a caption track's HLS segments: pure, no server. */
import { describe, expect, it } from 'vitest';
import {
  captionSpans,
  renderCaptionPlaylist,
  renderCaptionSegment,
} from '../../src/media/captionSegments.js';
import { parseSubtitles, SubtitleSyntaxError, toWebVtt } from '../../src/media/subtitles.js';
import { parseMediaPlaylist } from '../helpers/hls.js';

const refusal = (text: string, limits?: { maxCues: number; maxTimeSeconds: number }) => {
  try {
    parseSubtitles(text, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(SubtitleSyntaxError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('subtitle files', () => {
  it('reads WebVTT: BOM, header, NOTE/STYLE blocks, identifiers, settings, short timestamps, CRLF', () => {
    const vtt =
      '\uFEFFWEBVTT - a title\r\nKind: captions\r\n\r\nNOTE a note\r\nspanning lines\r\n\r\n' +
      'STYLE\r\n::cue { color: red }\r\n\r\n1\r\n00:01.500 --> 00:02.000 line:0\r\n<v Bob>Hi</v>\r\nthere\r\n\r\n' +
      '01:00:00.000 --> 01:00:01.250\r\nlate\r\n';
    const { format, cues } = parseSubtitles(vtt);
    expect(format).toBe('vtt');
    expect(cues).toEqual([
      { start: 1.5, end: 2, text: '<v Bob>Hi</v>\nthere', settings: 'line:0' },
      { start: 3600, end: 3601.25, text: 'late' },
    ]);
    expect(toWebVtt(cues)).toBe(
      'WEBVTT\n\n00:00:01.500 --> 00:00:02.000 line:0\n<v Bob>Hi</v>\nthere\n\n01:00:00.000 --> 01:00:01.250\nlate\n',
    );
  });

  it('reads SRT (comma or dot), drops <font> and {\\an8}, keeps <i>', () => {
    const srt =
      '1\n00:00:01,000 --> 00:00:02,000\n{\\an8}<font color="red"><i>Top</i></font>\n\n2\n00:00:03.000 --> 00:00:04.000\nx\n';
    expect(parseSubtitles(srt)).toEqual({
      format: 'srt',
      cues: [
        { start: 1, end: 2, text: '<i>Top</i>' },
        { start: 3, end: 4, text: 'x' },
      ],
    });
  });

  it('refuses what is malformed, naming the line and what was expected', () => {
    expect(refusal('')).toMatch(/^line 1: expected "WEBVTT"/);
    expect(refusal('WEBVTTX\n')).toMatch(/^line 1: expected "WEBVTT"/);
    expect(refusal('WEBVTT\n\n00:01.000 -> 00:02.000\nx\n')).toBe(
      'line 3: expected a cue timing like 00:00:01.000 --> 00:00:02.000 (or a cue identifier followed by one)',
    );
    expect(refusal('WEBVTT\n\nid\n00:01 --> 00:02.000\nx\n')).toMatch(/^line 4: expected a start time like/);
    expect(refusal('WEBVTT\n\n00:01.000 --> 00:02.000\nx\n00:03.000 --> 00:04.000\n')).toBe(
      'line 5: expected a blank line before the next cue',
    );
    expect(refusal('WEBVTT\n\n00:00:01.000 --> 00:00:61.000\nx\n')).toMatch(/^line 3: expected an end time/);
    expect(refusal('1\n00:00:01,000 --> 00:00:02,000 X1:0\nx\n')).toBe(
      'line 2: expected nothing after the end time',
    );
    expect(refusal('1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n')).toMatch(/^line 6: expected a cue timing/);
    expect(refusal('WEBVTT\n\u0000')).toBe('the file is binary, not text');
    const many = `WEBVTT\n\n${'00:01.000 --> 00:02.000\nx\n\n'.repeat(3)}`;
    expect(refusal(many, { maxCues: 2, maxTimeSeconds: 10 })).toBe('line 9: expected at most 2 cues');
  });
});

describe('caption segments', () => {
  const cues = [
    { start: 1, end: 2, text: 'a' },
    { start: 9, end: 11, text: 'across' },
    { start: 24, end: 26, text: 'after the end' },
  ];

  it('a VOD playlist of 10 s spans covering the duration', () => {
    expect(captionSpans(25)).toEqual([
      [0, 10],
      [10, 20],
      [20, 25],
    ]);
    expect(captionSpans(0)).toEqual([[0, 10]]);
    const p = renderCaptionPlaylist(25);
    const media = parseMediaPlaylist(p);
    expect(media.segments.map((s) => [s.uri, s.duration])).toEqual([
      ['seg_0.vtt', 10],
      ['seg_1.vtt', 10],
      ['seg_2.vtt', 5],
    ]);
    expect(p).toContain('#EXT-X-TARGETDURATION:10\n');
    expect(p).toContain('#EXT-X-PLAYLIST-TYPE:VOD\n');
    expect(p.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true);
  });

  it('each segment holds the cues overlapping it, unchanged, after its timestamp map', () => {
    const seg = (n: number) => renderCaptionSegment(cues, 23, n);
    expect(seg(0)).toBe(
      'WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:02.000\na\n\n' +
        '00:00:09.000 --> 00:00:11.000\nacross\n',
    );
    expect(parseSubtitles(seg(1)!).cues.map((c) => c.text)).toEqual(['across']);
    // The last segment also keeps what starts after the video ends.
    expect(parseSubtitles(seg(2)!).cues.map((c) => c.text)).toEqual(['after the end']);
    expect(seg(3)).toBeNull();
  });
});

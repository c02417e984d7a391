/**
 * A caption track as HLS (pure): a VOD WebVTT media playlist whose segments cut the video's duration in
 * fixed spans, and each segment's WebVTT (the cues overlapping its span, unchanged: a cue spanning two
 * segments is in both, and players drop the repeat).
 *
 * Timeline: every fMP4 segment of a chunked video has its tfdt shifted so that frame 0 decodes at 0
 * (media/mp4Boxes.ts), so media time 0 is MPEGTS 0: `X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000` says
 * cue times are media times (RFC 8216bis 3.1.4; hls.js subtracts its initPTS from both, Safari maps
 * LOCAL to MPEGTS on the media's own clock).
 */
import { type Cue, toWebVtt } from './subtitles.js';

/** Seconds per caption segment. */
export const CAPTION_SEGMENT_SECONDS = 10;

export const TIMESTAMP_MAP = 'X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000';

export const captionSegmentName = (n: number) => `seg_${n}.vtt`;

/** The spans [start, end) in seconds, covering the duration (at least one, even for an unknown one). */
export function captionSpans(durationSeconds: number, span = CAPTION_SEGMENT_SECONDS): [number, number][] {
  const total = Number.isFinite(durationSeconds) && durationSeconds > 0 ? durationSeconds : span;
  const n = Math.max(1, Math.ceil(total / span - 1e-9));
  return Array.from({ length: n }, (_, i) => [i * span, Math.min(total, (i + 1) * span)]);
}

/** The VOD WebVTT media playlist. */
export function renderCaptionPlaylist(durationSeconds: number, span = CAPTION_SEGMENT_SECONDS): string {
  const spans = captionSpans(durationSeconds, span);
  const target = Math.max(...spans.map(([a, b]) => Math.ceil(b - a - 1e-9)), 1);
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
  ];
  spans.forEach(([a, b], i) => {
    lines.push(`#EXTINF:${(b - a).toFixed(3)},`, captionSegmentName(i));
  });
  lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/**
 * Segment n's WebVTT: the cues overlapping its span, or null when n is past the last segment. The last
 * segment also holds cues that start after the video ends (a track longer than its video loses nothing).
 */
export function renderCaptionSegment(
  cues: readonly Cue[],
  durationSeconds: number,
  n: number,
  span = CAPTION_SEGMENT_SECONDS,
): string | null {
  const spans = captionSpans(durationSeconds, span);
  const s = spans[n];
  if (!s) return null;
  const [a, b] = s;
  const last = n === spans.length - 1;
  const inSpan = cues.filter((c) => c.end > a && (last || c.start < b));
  return toWebVtt(inSpan, [TIMESTAMP_MAP]);
}

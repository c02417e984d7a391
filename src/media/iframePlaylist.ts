/**
 * Pure: I-frame playlists (RFC 8216 4.3.3.6 EXT-X-I-FRAMES-ONLY) from the keyframes of a rendition's
 * published segments (outputs.iframes: byte ranges from a fragment's moof through its first, sync,
 * sample), and the peak bit rate that EXT-X-I-FRAME-STREAM-INF announces.
 */
import { INIT_SEGMENT } from './ffmpegArgs.js';
import type { KeyframeRange } from './keyframes.js';
import { SEGMENT_SECONDS } from './ladder.js';
import { bitrateStats, segmentUri } from './playlist.js';

/** The run of segments from seq 0 without a gap (and each with its keyframes), as media playlists list. */
export function contiguousKeyframes(
  segments: readonly { seq: number; iframes: readonly KeyframeRange[] }[],
): { seq: number; iframes: readonly KeyframeRange[] }[] {
  const bySeq = new Map(segments.map((s) => [s.seq, s.iframes]));
  const run: { seq: number; iframes: readonly KeyframeRange[] }[] = [];
  for (let seq = 0; (bySeq.get(seq)?.length ?? 0) > 0; seq++) run.push({ seq, iframes: bySeq.get(seq)! });
  return run;
}

/**
 * The target duration: the segment length (a keyframe interval never exceeds it), or more if an I-frame
 * rounds to more; constant while the playlist grows.
 */
export function iframeTargetDuration(run: readonly { iframes: readonly KeyframeRange[] }[]): number {
  const longest = Math.max(0, ...run.flatMap((s) => s.iframes.map((k) => Math.round(k.duration))));
  return Math.max(SEGMENT_SECONDS, longest);
}

export function renderIFramePlaylistText(opts: {
  run: readonly { seq: number; iframes: readonly KeyframeRange[] }[];
  complete: boolean;
}): string {
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${iframeTargetDuration(opts.run)}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    `#EXT-X-PLAYLIST-TYPE:${opts.complete ? 'VOD' : 'EVENT'}`,
    '#EXT-X-I-FRAMES-ONLY',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${INIT_SEGMENT}"`,
  ];
  for (const s of opts.run) {
    for (const k of s.iframes) {
      lines.push(
        `#EXTINF:${k.duration.toFixed(6)},`,
        `#EXT-X-BYTERANGE:${k.length}@${k.offset}`,
        segmentUri(s.seq),
      );
    }
  }
  if (opts.complete) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/**
 * BANDWIDTH of an I-frame stream: RFC 8216's peak segment bit rate with each I-frame's byte range as the
 * segment and its EXTINF (the time to the next keyframe) as its duration: the largest bit rate over any
 * run of I-frames lasting 0.5–1.5 × the target duration (bitrateStats).
 */
export function iframePeakBandwidth(run: readonly { iframes: readonly KeyframeRange[] }[]): number {
  const ranges = run.flatMap((s) => s.iframes.map((k) => ({ duration: k.duration, bytes: k.length })));
  return bitrateStats(ranges, iframeTargetDuration(run)).peakBps;
}

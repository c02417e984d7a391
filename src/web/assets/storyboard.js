// @ts-check
// Storyboards for the player's seek preview: storyboard.vtt (WebVTT cues whose text is
// `storyboard/{n}.jpg#xywh=x,y,w,h`, relative to the .vtt) parsed into frames, and the frame at a time.

/** @typedef {{start: number, end: number, url: string, x: number, y: number, w: number, h: number}} Frame */

/** @param {string} s `hh:mm:ss.mmm` or `mm:ss.mmm` */
function parseTime(s) {
  const parts = s.trim().split(':').map(Number);
  if (parts.some((n) => !Number.isFinite(n))) return Number.NaN;
  return parts.reduce((acc, n) => acc * 60 + n, 0);
}

/**
 * Pure: the frames of a storyboard WebVTT, in time order; cues it cannot read are skipped.
 * @param {string} text
 * @param {string} baseUrl the .vtt's URL (the image paths are relative to it)
 * @returns {Frame[]}
 */
export function parseStoryboardVtt(text, baseUrl) {
  /** @type {Frame[]} */
  const frames = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i] ?? '');
    if (!m) continue;
    const target = (lines[i + 1] ?? '').trim();
    const hash = /^(.+)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(target);
    const start = parseTime(m[1] ?? '');
    const end = parseTime(m[2] ?? '');
    if (!hash || !Number.isFinite(start) || !Number.isFinite(end)) continue;
    let url;
    try {
      url = new URL(hash[1] ?? '', baseUrl).href;
    } catch {
      continue;
    }
    const [x, y, w, h] = hash.slice(2, 6).map(Number);
    frames.push({ start, end, url, x: x ?? 0, y: y ?? 0, w: w ?? 0, h: h ?? 0 });
  }
  return frames.sort((a, b) => a.start - b.start);
}

/**
 * Pure: the frame showing at `time` (the last one starting at or before it).
 * @param {Frame[]} frames in time order
 * @param {number} time
 */
export function frameAt(frames, time) {
  let lo = 0;
  let hi = frames.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (/** @type {Frame} */ (frames[mid]).start <= time) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return frames[Math.max(found, 0)] ?? null;
}

/**
 * Loads a storyboard; null when there is none (404: not made, or not made yet) or it cannot be read.
 * @param {string} url
 * @returns {Promise<Frame[] | null>}
 */
export async function loadStoryboard(url) {
  try {
    const res = await fetch(url);
    if (!res.ok) return null;
    const frames = parseStoryboardVtt(await res.text(), res.url || url);
    return frames.length ? frames : null;
  } catch {
    return null;
  }
}

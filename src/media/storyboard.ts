/**
 * Pure: storyboards (sprite sheets of small frames for scrubbing). One sheet per video chunk,
 * `storyboard/{chunkIndex}.jpg`, made by the chunk's own ffmpeg (a branch of its filter graph: the frames
 * are decoded there anyway, so a sheet costs a few scaled frames and one small JPEG, no process, no
 * second decode), so that a storyboard grows while the video processes. Everything about the geometry
 * follows from what the video row keeps:
 *
 * - the interval from the planned duration (videos.duration_ms, the tasks' spec.durationMs): an even
 *   number of seconds (tiles fall on the 2 s keyframes) from 2 s, so that a video has at most
 *   STORYBOARD_MAX_TILES tiles, never above CHUNK_SECONDS (so that every chunk holds at least one tile);
 * - the tile size from the lowest rung (160 px wide, its aspect, even height);
 * - tile k shows the time k × interval and sits in the sheet whose chunk span holds that time; a sheet's
 *   span is its `outputs.duration` (seconds of video its chunk made), chunks following one another from 0.
 */
import { CHUNK_SECONDS } from './chunkPlan.js';

export const STORYBOARD_TILE_WIDTH = 160;
export const STORYBOARD_COLUMNS = 10;
/** Up to this many tiles per video, as long as the interval stays within STORYBOARD_MAX_INTERVAL. */
export const STORYBOARD_MAX_TILES = 300;
export const STORYBOARD_MAX_INTERVAL = CHUNK_SECONDS;
export const STORYBOARD_VTT = 'storyboard.vtt';

export const sheetPath = (chunkIndex: number) => `storyboard/${chunkIndex}.jpg`;

/** Seconds between tiles for a video of this duration. */
export function storyboardInterval(durationMs: number): number {
  const seconds = Math.max(0, durationMs) / 1000;
  const even = 2 * Math.max(1, Math.ceil(seconds / (2 * STORYBOARD_MAX_TILES)));
  return Math.min(STORYBOARD_MAX_INTERVAL, even);
}

export interface TileSize {
  width: number;
  height: number;
}

/** A tile of the lowest rung's aspect, STORYBOARD_TILE_WIDTH wide (or the rung's width if narrower). */
export function tileSize(lowest: { width: number; height: number }): TileSize {
  const width = Math.min(STORYBOARD_TILE_WIDTH, lowest.width - (lowest.width % 2));
  const height = Math.max(2, 2 * Math.round((width * lowest.height) / lowest.width / 2));
  return { width, height };
}

/** The lowest rung of a ladder (fewest pixels). */
export function lowestRung<T extends { width: number; height: number }>(rungs: readonly T[]): T {
  const lowest = [...rungs].sort((a, b) => a.width * a.height - b.width * b.height)[0];
  if (!lowest) throw new TypeError('a ladder without rungs');
  return lowest;
}

/** Slack for sums of frame durations (seconds) that should meet at a tile time. */
const EPS = 1e-6;

/** Tiles whose time lies in [startSec, endSec): indices first … first + count − 1. */
export function tilesInSpan(
  startSec: number,
  endSec: number,
  interval: number,
): { first: number; count: number } {
  const first = Math.max(0, Math.ceil((startSec - EPS) / interval));
  const end = Math.ceil((endSec - EPS) / interval);
  return { first, count: Math.max(0, end - first) };
}

/** A sheet of `count` tiles: up to STORYBOARD_COLUMNS a row. */
export function sheetGrid(count: number): { columns: number; rows: number } {
  const columns = Math.min(STORYBOARD_COLUMNS, Math.max(1, count));
  return { columns, rows: Math.max(1, Math.ceil(count / columns)) };
}

/** Where the i-th tile of a sheet sits. */
export function tileRect(i: number, tile: TileSize): { x: number; y: number; w: number; h: number } {
  return {
    x: (i % STORYBOARD_COLUMNS) * tile.width,
    y: Math.floor(i / STORYBOARD_COLUMNS) * tile.height,
    w: tile.width,
    h: tile.height,
  };
}

export interface ChunkStoryboard {
  interval: number;
  /** Index of the sheet's first tile (its time: first × interval). */
  first: number;
  count: number;
  /** Chunk-relative output frame numbers of the tiles. */
  frames: number[];
  tile: TileSize;
  columns: number;
  rows: number;
}

/**
 * The tiles of one chunk's sheet: those whose time falls in the chunk's planned span (the last chunk's
 * runs to the planned duration), each the output frame nearest its time; null when none does.
 */
export function chunkStoryboard(
  plan: { fps: number; renditions: readonly { width: number; height: number }[] },
  chunk: { startFrame: number; frames: number | null },
  durationMs: number,
): ChunkStoryboard | null {
  const interval = storyboardInterval(durationMs);
  const start = chunk.startFrame / plan.fps;
  const end = chunk.frames !== null ? (chunk.startFrame + chunk.frames) / plan.fps : durationMs / 1000;
  const { first, count } = tilesInSpan(start, end, interval);
  if (count === 0) return null;
  const frames = Array.from({ length: count }, (_, i) =>
    Math.max(0, Math.round((first + i) * interval * plan.fps) - chunk.startFrame),
  );
  return { interval, first, count, frames, tile: tileSize(lowestRung(plan.renditions)), ...sheetGrid(count) };
}

/**
 * The filter chain that makes a chunk's sheet from its frames (a branch of the chunk's own filter graph,
 * so no second process or decode): the tile frames by number, scaled, laid out as a grid. At the end of a
 * last chunk shorter than planned, the tile filter fills the grid with blank tiles that no cue points at.
 */
export function storyboardChain(b: ChunkStoryboard): string {
  const select = b.frames.map((n) => `eq(n\\,${n})`).join('+');
  return (
    `select=${select},scale=w=${b.tile.width}:h=${b.tile.height},setsar=1,` +
    `tile=${b.columns}x${b.rows},format=yuvj420p`
  );
}

/**
 * The seconds of video a published sheet stands for (its outputs.duration): the chunk's span, cut where
 * its tiles end when the last chunk ran longer than planned (a source longer than it declared).
 */
export function sheetSpan(b: ChunkStoryboard, startFrame: number, frames: number, fps: number): number {
  const start = startFrame / fps;
  const span = frames / fps;
  if (tilesInSpan(start, start + span, b.interval).count <= b.count) return span;
  return (b.first + b.count) * b.interval - start;
}

/** WebVTT timestamp HH:MM:SS.mmm. */
export function vttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/**
 * storyboard.vtt from the published sheets (chunk index, seconds of video): only the run of sheets from
 * chunk 0 without a gap, so that the cues cover [0, end of that run) with no hole, in time order.
 */
export function renderStoryboardCues(
  sheets: readonly { index: number; duration: number }[],
  interval: number,
  tile: TileSize,
): string {
  const byIndex = new Map(sheets.map((s) => [s.index, s.duration]));
  const run: { index: number; start: number; end: number }[] = [];
  let at = 0;
  for (let n = 0; byIndex.has(n); n++) {
    const end = at + byIndex.get(n)!;
    run.push({ index: n, start: at, end });
    at = end;
  }
  const lines = ['WEBVTT', ''];
  for (const s of run) {
    const { first, count } = tilesInSpan(s.start, s.end, interval);
    for (let i = 0; i < count; i++) {
      const from = (first + i) * interval;
      const to = Math.min(from + interval, at);
      if (to <= from) continue;
      const r = tileRect(i, tile);
      lines.push(
        `${vttTime(from)} --> ${vttTime(to)}`,
        `${sheetPath(s.index)}#xywh=${r.x},${r.y},${r.w},${r.h}`,
        '',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

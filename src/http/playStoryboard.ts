/**
 * storyboard.vtt: WebVTT cues pointing at regions of the storyboard sheets (storyboard/{n}.jpg#xywh=…),
 * rendered from what is published: one sheet per chunk, the geometry from the video row (its planned
 * duration and lowest rung; media/storyboard.ts). It grows while the video processes.
 */
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { listStoryboardSheets } from '../db/outputs.js';
import type { VideoRow } from '../db/videos.js';
import {
  lowestRung,
  renderStoryboardCues,
  STORYBOARD_VTT,
  storyboardInterval,
  tileSize,
} from '../media/storyboard.js';

/** 404 for a video without a storyboard (processed before storyboards, or no rung). */
export async function renderStoryboardVtt(db: Db, video: VideoRow): Promise<string> {
  const sheets = await listStoryboardSheets(db, video.id);
  if (video.renditions.length === 0 || !sheets.some((s) => s.index === 0))
    throw errors.objectNotFound(STORYBOARD_VTT);
  const interval = storyboardInterval(video.duration_ms ?? 0);
  return renderStoryboardCues(sheets, interval, tileSize(lowestRung(video.renditions)));
}

/**
 * storyboard.vtt: WebVTT cues pointing at regions of the storyboard sprites (storyboard/{n}.jpg#xywh=…),
 * rendered from what is published. TO BE WRITTEN (helper B).
 */
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import type { VideoRow } from '../db/videos.js';

export async function renderStoryboardVtt(_db: Db, _video: VideoRow): Promise<string> {
  throw errors.objectNotFound('storyboard.vtt');
}

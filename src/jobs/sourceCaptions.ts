/**
 * Caption tracks from the source's text subtitle streams (mov_text, subrip, webvtt, ass), extracted as
 * WebVTT by the finish task. TO BE WRITTEN (helper C).
 */
import type { NewCaption } from '../db/captions.js';
import type { PublishedFile } from '../db/outputs.js';
import type { FinishContext } from './finishTask.js';

export async function extractSourceCaptions(
  _ctx: FinishContext,
): Promise<{ files: (PublishedFile & { file: string })[]; captions: NewCaption[] }> {
  return { files: [], captions: [] };
}

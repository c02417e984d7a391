/**
 * MP4 downloads (issue 13): download/{rung}.mp4 and download/audio.m4a, remuxed without re-encoding from
 * a video's published segments, fast start. TO BE WRITTEN (helper D2).
 */
import type { PublishedFile } from '../db/outputs.js';
import type { VideoDownload } from '../db/videos.js';
import type { FinishContext } from './finishTask.js';

export async function makeDownloads(
  _ctx: FinishContext,
): Promise<{ files: (PublishedFile & { file: string })[]; downloads: VideoDownload[] }> {
  return { files: [], downloads: [] };
}

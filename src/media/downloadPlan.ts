/**
 * MP4 downloads, planned (pure): which files a video's downloads are, what renditions each is made of, and
 * the ffmpeg arguments that remux them from the published fragmented MP4 (an init segment followed by its
 * media segments is one valid fragmented MP4 stream) into a fast-start MP4, without re-encoding.
 */
import { AUDIO_NAME } from './ffmpegArgs.js';

/** Where downloads are published, under /play/{video}/{access}/. */
export const DOWNLOAD_DIR = 'download';

/** One download to make. */
export interface PlannedDownload {
  /** `360p` (a rung) or `audio`: the name the video's `downloads` lists. */
  name: string;
  /** As played: `download/360p.mp4`, `download/audio.m4a`. */
  path: string;
  /** The published renditions it is made of, in input order: the rung, then the audio (when any). */
  inputs: string[];
  width: number | null;
  height: number | null;
}

/**
 * Every rung as `download/{rung}.mp4` (its video and the default audio track), and the default audio alone
 * as `download/audio.m4a`; a video without audio gets video-only MP4s and no M4A.
 */
export function planDownloads(
  rungs: readonly { name: string; width: number; height: number }[],
  hasAudio: boolean,
): PlannedDownload[] {
  const audio = hasAudio ? [AUDIO_NAME] : [];
  const videos = rungs.map((r) => ({
    name: r.name,
    path: `${DOWNLOAD_DIR}/${r.name}.mp4`,
    inputs: [r.name, ...audio],
    width: r.width,
    height: r.height,
  }));
  if (!hasAudio) return videos;
  return [
    ...videos,
    {
      name: AUDIO_NAME,
      path: `${DOWNLOAD_DIR}/${AUDIO_NAME}.m4a`,
      inputs: [AUDIO_NAME],
      width: null,
      height: null,
    },
  ];
}

/**
 * ffmpeg arguments that remux the given fragmented MP4 files (one per input rendition, local paths) into
 * `output`: streams copied (no re-encode), `moov` in front of `mdat` (fast start: a player starts before
 * the whole file is in). Inputs are read as MP4 from local files only: nothing in them can make ffmpeg
 * open another file or a URL. Video from the first input, audio from the last.
 */
export function remuxArgs(inputs: readonly string[], output: string): string[] {
  if (inputs.length === 0) throw new TypeError('remuxArgs: no input');
  const maps = inputs.length === 1 ? ['-map', '0'] : ['-map', '0:v:0', '-map', `${inputs.length - 1}:a:0`];
  return [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-nostats',
    ...inputs.flatMap((file) => ['-protocol_whitelist', 'file', '-f', 'mp4', '-i', `file:${file}`]),
    ...maps,
    '-c',
    'copy',
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    '-y',
    `file:${output}`,
  ];
}

/** A download's file name for a person: `{title}-{name}.{ext}`, and whether it had to lose characters. */
export function downloadFilename(title: string, file: string): { ascii: string; utf8: string } {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const clean = title
    .replace(/[\p{Cc}"\\/:*?<>|]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const utf8 = clean ? `${[...clean].slice(0, 120).join('')}-${base}` : base;
  const ascii = utf8
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]+/g, '_')
    .replace(/%/g, '_');
  return { ascii, utf8 };
}

/** `Content-Disposition: attachment` for a download (RFC 6266: filename, and filename* when not ASCII). */
export function contentDisposition(title: string, file: string): string {
  const { ascii, utf8 } = downloadFilename(title, file);
  const plain = `attachment; filename="${ascii}"`;
  if (ascii === utf8) return plain;
  const encoded = encodeURIComponent(utf8).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${plain}; filename*=UTF-8''${encoded}`;
}

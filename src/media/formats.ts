/**
 * Pure: the container formats (ffmpeg demuxers) a source may be opened with, and what to tell an uploader
 * whose file is something else.
 *
 * Only self-contained containers are allowed. Playlists, manifests and lists (hls, dash, concat, image2
 * patterns, …) make ffmpeg open OTHER files named inside them: an uploaded "video" that is really an HLS
 * playlist naming `file:///…` or `../../videos/<other>/…` would publish files from the server's disk as
 * the uploader's video. None of the demuxers below opens another file (the mov demuxer could follow
 * external data references, but only with `enable_drefs`, which is off by default and never set here).
 */

export interface Container {
  /** The name to force with `-f` (ffmpeg's short name of the demuxer). */
  demuxer: string;
  /** What people call it. */
  label: string;
}

/**
 * ffprobe's format_name (the demuxer's full name, e.g. "mov,mp4,m4a,3gp,3g2,mj2") → the container.
 * MP4/MOV/3GP (phones, cameras, editors), MKV/WebM (browsers, OBS), AVI and WMV/ASF (older cameras and
 * Windows), MPEG-TS (camcorders' .mts, broadcast), MPEG-PS (.mpg, .vob: DVDs, TV cards), FLV (old web
 * video) and Ogg (Theora): what people have on their disks, all self-contained.
 */
const CONTAINERS: Readonly<Record<string, Container>> = {
  'mov,mp4,m4a,3gp,3g2,mj2': { demuxer: 'mov', label: 'MP4/MOV' },
  'matroska,webm': { demuxer: 'matroska', label: 'MKV/WebM' },
  avi: { demuxer: 'avi', label: 'AVI' },
  asf: { demuxer: 'asf', label: 'WMV' },
  mpegts: { demuxer: 'mpegts', label: 'MPEG-TS' },
  mpeg: { demuxer: 'mpeg', label: 'MPEG-PS' },
  flv: { demuxer: 'flv', label: 'FLV' },
  ogg: { demuxer: 'ogg', label: 'Ogg' },
};

/** The value of ffmpeg's `-format_whitelist`: no other demuxer may even be tried. */
export const ALLOWED_DEMUXERS: string = [...new Set(Object.values(CONTAINERS).map((c) => c.demuxer))].join(
  ',',
);

/** The only protocol a source is opened with: the one local file (sources on S3 are downloaded first). */
export const SOURCE_PROTOCOLS = 'file';

/** "MP4/MOV, MKV/WebM, …": for messages. */
export const ACCEPTED_LABELS: string = Object.values(CONTAINERS)
  .map((c) => c.label)
  .join(', ');

/** The container of an allowed format_name, or undefined when the format is not allowed. */
export function containerOf(formatName: string): Container | undefined {
  return CONTAINERS[formatName];
}

/** Demuxers that read other files or other sources named inside the uploaded one. */
const REFERENCING: Readonly<Record<string, string>> = {
  hls: 'an HLS playlist (.m3u8)',
  dash: 'a DASH manifest (.mpd)',
  concat: 'an ffmpeg concat list',
  tee: 'an ffmpeg tee list',
  subfile: 'a reference to part of another file',
  ffmetadata: 'an ffmpeg metadata file',
  mmf: 'a ringtone (MMF)',
  sdp: 'a network stream description (SDP)',
  rtsp: 'a network stream description (RTSP)',
  hds: 'an HDS manifest (.f4m)',
  smoothstreaming: 'a Smooth Streaming manifest',
};

/** Demuxers of sound only. */
const AUDIO = new Set([
  'mp3',
  'wav',
  'w64',
  'aac',
  'flac',
  'ac3',
  'eac3',
  'aiff',
  'amr',
  'ape',
  'au',
  'caf',
  'dts',
  'mlp',
  'truehd',
  'tta',
  'wv',
  'opus',
]);
const SUBTITLES = new Set(['srt', 'ass', 'webvtt', 'subviewer', 'microdvd', 'sami', 'jacosub', 'mpl2']);

export type Refusal =
  /** A file that names other files: refused before anything reads them. */
  | { kind: 'references'; what: string }
  | { kind: 'image'; what: string }
  | { kind: 'audio'; what: string }
  | { kind: 'other'; what: string };

/** Why a format that is not on the list is refused, in words an uploader understands. */
export function refusalOf(formatName: string): Refusal {
  const names = formatName.split(',');
  for (const n of names) {
    const what = REFERENCING[n];
    if (what) return { kind: 'references', what };
  }
  // image2 (a picture file, or a numbered sequence of them), image2pipe, png_pipe, jpeg_pipe, …
  if (names.some((n) => n.startsWith('image2') || n.endsWith('_pipe'))) {
    return { kind: 'image', what: `a still image (${names[0]})` };
  }
  if (names.some((n) => n === 'gif' || n === 'apng')) {
    return { kind: 'other', what: `an animated image (${names[0]})` };
  }
  if (names.some((n) => AUDIO.has(n))) return { kind: 'audio', what: `an audio file (${names[0]})` };
  if (names.some((n) => SUBTITLES.has(n))) return { kind: 'other', what: `a subtitle file (${names[0]})` };
  if (names.includes('tty')) return { kind: 'other', what: 'a text file' };
  return { kind: 'other', what: `a "${names[0]}" file, a format Reel does not accept` };
}

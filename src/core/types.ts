/** Domain types shared by every layer. */

/** Every status a video can be in, in the order a video goes through them (the API's `status`). */
export const VIDEO_STATUSES = ['uploading', 'queued', 'processing', 'ready', 'failed'] as const;
export type VideoStatus = (typeof VIDEO_STATUSES)[number];
/** public: played with the word `public`; signed: with a playback token. */
export const PLAYBACK_POLICIES = ['public', 'signed'] as const;
export type PlaybackPolicy = (typeof PLAYBACK_POLICIES)[number];

/** What ffprobe tells about a source, already turned into display terms. */
export interface SourceInfo {
  durationMs: number;
  /** The video stream's own duration, when the container states it (its audio may run longer). */
  videoDurationMs?: number | undefined;
  /** Coded frame size, as stored. */
  width: number;
  height: number;
  /** Clockwise display rotation from the container or display matrix. */
  rotation: 0 | 90 | 180 | 270;
  /** Frame size as shown to a viewer (rotation applied). */
  displayWidth: number;
  displayHeight: number;
  /** Average frame rate (frames per second). */
  fps: number;
  pixFmt: string;
  videoCodec: string;
  /** Video bit rate in bits per second, when known. */
  videoBitRate: number | undefined;
  hasAudio: boolean;
  /** Every audio stream, in order (`0:a:N` is audioStreams[N]). */
  audioStreams?: SourceAudioStream[] | undefined;
  /** Every subtitle stream, in order (`0:s:N` is subtitleStreams[N]). */
  subtitleStreams?: SourceSubtitleStream[] | undefined;
}

/** An audio stream of a source. */
export interface SourceAudioStream {
  /** N of `0:a:N`. */
  index: number;
  /** The container's language tag as written (ISO 639-2 `eng`, or BCP 47), when present and not `und`. */
  language?: string | undefined;
  /** The container's `title` tag, when present. */
  title?: string | undefined;
  channels: number;
}

/** A subtitle stream of a source. */
export interface SourceSubtitleStream {
  /** N of `0:s:N`. */
  index: number;
  codec: string;
  language?: string | undefined;
  title?: string | undefined;
  /** Disposition `hearing_impaired` (closed captions). */
  hearingImpaired: boolean;
  forced: boolean;
}

/** One rung of the planned ladder. */
export interface RenditionPlan {
  name: string;
  width: number;
  height: number;
  /** Bitrate ceiling for capped-CRF rate control, kbit/s. */
  maxrateKbps: number;
  bufsizeKbps: number;
}

/** Everything ffmpeg needs to know, decided by pure code. */
export interface TranscodePlan {
  renditions: RenditionPlan[];
  /** Output frame rate (constant). */
  fps: number;
  /** Seconds between keyframes, identical in every rendition. */
  keyframeSeconds: number;
  /** Target segment length in seconds. */
  segmentSeconds: number;
  preset: string;
  crf: number;
  /** null when the source has no audio: video-only renditions, no audio group. */
  audio: { bitrateKbps: number; channels: 1 | 2; sampleRate: number } | null;
}

/** A published rendition as the API shows it. */
export interface RenditionInfo {
  name: string;
  width: number;
  height: number;
  /** Peak segment bit rate (video + audio), bits per second. */
  bandwidth: number;
  averageBandwidth: number;
  codecs: string;
  frameRate: number;
}

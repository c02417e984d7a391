/**
 * Ladder planning: pure code from SourceInfo to the renditions ffmpeg must make.
 *
 * Rungs are the SHORT side of the displayed frame, so 720 means 1280×720 for a landscape source and
 * 720×1280 for a portrait one. Never upscale, keep the aspect ratio, even dimensions.
 */
import type { RenditionPlan, SourceAudioStream, SourceInfo, TranscodePlan } from '../core/types.js';
import { AUDIO_NAME } from './ffmpegArgs.js';
import { languageName, toBcp47 } from './language.js';

/** A source whose short side is at most this far below a rung still gets that rung, at its own size. */
const NEAR_RUNG = 0.05;
/** A source's own size becomes a rendition above the rungs only when it is this much larger than the top one. */
const OWN_SIZE_MARGIN = 1.15;

/**
 * Bitrate ceilings (capped-CRF: CRF sets the quality, maxrate only bounds the peaks), kbit/s at ≤ 30 fps,
 * by pixel count of the 16:9 frame of each common rung:
 *
 *   rung   frame       pixels      ceiling
 *   240p   426×240     102 240       500
 *   360p   640×360     230 400       900
 *   480p   854×480     409 920      1500
 *   720p   1280×720    921 600      3500
 *   1080p  1920×1080   2 073 600    6000
 *   1440p  2560×1440   3 686 400   10000
 *   2160p  3840×2160   8 294 400   16000
 *
 * A rendition's ceiling is interpolated linearly by its own pixel count between these rows (so 4:3 and
 * portrait frames get what their area deserves), proportional to pixels below 240p (at least 100) and above
 * 2160p. Above 30 fps it is ×1.5. When the source's video bit rate is known, the ceiling is also capped at
 * 1.3 × that rate (no point spending more bits than the source has) but never below 40% of the table value,
 * so a starved source still gets a usable ceiling. bufsize = 2 × maxrate.
 */
export const CEILING_TABLE: readonly (readonly [pixels: number, kbps: number])[] = [
  [426 * 240, 500],
  [640 * 360, 900],
  [854 * 480, 1500],
  [1280 * 720, 3500],
  [1920 * 1080, 6000],
  [2560 * 1440, 10000],
  [3840 * 2160, 16000],
];
const MIN_CEILING_KBPS = 100;
const HIGH_FPS_FACTOR = 1.5;
const SOURCE_CAP_FACTOR = 1.3;
const SOURCE_CAP_FLOOR = 0.4;

/** Where the poster frame comes from and how large it is. */
export interface PosterPlan {
  atSeconds: number;
  width: number;
  height: number;
}

/** One audio rendition of the master's audio group: a source audio stream, encoded on its own. */
export interface AudioTrackPlan {
  /** N of `-map 0:a:N`. */
  stream: number;
  /** The rendition (its directory): `audio` for the first, then `audio_1`, `audio_2`, … */
  name: string;
  /** BCP 47 from the stream's tag; null when untagged (no LANGUAGE). */
  language: string | null;
  /** NAME in the master: the stream's title, else its language's name, else "Track N"; unique. */
  label: string;
  /** Whether the source stream carries a language or title tag (a lone untagged track adds nothing). */
  tagged: boolean;
  /** A mono stream stays mono; stereo and more become stereo. */
  channels: 1 | 2;
  bitrateKbps: number;
}

/** A TranscodePlan plus the poster (kept out of the shared type: only the media module needs it). */
export interface MediaPlan extends TranscodePlan {
  poster: PosterPlan | null;
  /** Every audio rendition, the first (`audio`) being the default; [] without audio. Absent in old plans. */
  audioTracks?: AudioTrackPlan[];
}

export const KEYFRAME_SECONDS = 2;
/** Two GOPs per segment: every segment is exactly 4 s (the last one shorter), within the 4–6 s rule. */
export const SEGMENT_SECONDS = 4;
export const AUDIO = { bitrateKbps: 128, channels: 2, sampleRate: 48000 } as const;
/** A mono track's AAC bit rate: the same bits per channel as stereo. */
export const AUDIO_MONO_KBPS = 64;
/** Audio renditions at most, when the caller does not say (REEL_MAX_AUDIO_TRACKS). */
export const DEFAULT_MAX_AUDIO_TRACKS = 8;
const MAX_LABEL_CHARS = 64;
export const POSTER_MAX_WIDTH = 1280;

/** Table ceiling for a frame of this size and rate, before any cap from the source bit rate. */
export function tableCeilingKbps(width: number, height: number, fps: number): number {
  const px = width * height;
  const rows = CEILING_TABLE;
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  let kbps: number;
  if (px <= first[0]) kbps = Math.max(MIN_CEILING_KBPS, (first[1] * px) / first[0]);
  else if (px >= last[0]) kbps = (last[1] * px) / last[0];
  else {
    let i = 1;
    while (rows[i]![0] < px) i++;
    const [p0, k0] = rows[i - 1]!;
    const [p1, k1] = rows[i]!;
    kbps = k0 + ((k1 - k0) * (px - p0)) / (p1 - p0);
  }
  return fps > 30.5 ? kbps * HIGH_FPS_FACTOR : kbps;
}

/** The ceiling actually used: the table value, capped by the source bit rate when it is known. */
export function ceilingKbps(width: number, height: number, fps: number, sourceBitRate?: number): number {
  const table = tableCeilingKbps(width, height, fps);
  if (!sourceBitRate || !Number.isFinite(sourceBitRate) || sourceBitRate <= 0) return Math.round(table);
  const cap = (sourceBitRate / 1000) * SOURCE_CAP_FACTOR;
  return Math.round(Math.max(Math.min(table, cap), table * SOURCE_CAP_FLOOR));
}

const evenRound = (x: number) => Math.max(2, 2 * Math.round(x / 2));
const evenFloor = (x: number) => Math.max(2, 2 * Math.floor(x / 2));

export function planLadder(source: SourceInfo, rungs: number[]): RenditionPlan[] {
  const dw = source.displayWidth;
  const dh = source.displayHeight;
  const portrait = dh > dw;
  const short = Math.min(dw, dh);
  const long = Math.max(dw, dh);
  const fps = outputFps(source.fps);
  const wanted = [...new Set(rungs)].filter((r) => Number.isFinite(r) && r > 0).sort((a, b) => b - a);

  const out: RenditionPlan[] = [];
  const add = (name: string, width: number, height: number) => {
    if (out.some((r) => r.width === width && r.height === height)) return;
    const maxrateKbps = ceilingKbps(width, height, fps, source.videoBitRate);
    out.push({ name, width, height, maxrateKbps, bufsizeKbps: 2 * maxrateKbps });
  };

  for (const rung of wanted) {
    if (rung <= short) {
      const s = Math.min(evenRound(rung), evenFloor(short));
      const l = Math.min(evenRound((long * rung) / short), evenFloor(long));
      add(`${rung}p`, portrait ? s : l, portrait ? l : s);
    } else if (short >= rung * (1 - NEAR_RUNG)) {
      add(`${rung}p`, evenFloor(dw), evenFloor(dh));
    }
  }
  // A source between two rungs (640×360 under 1080/720/480/240) keeps its own size as the top
  // rendition, rather than topping out at the rung below it; so does a source below the lowest rung.
  const w = evenFloor(dw);
  const h = evenFloor(dh);
  const topShort = out[0] ? Math.min(out[0].width, out[0].height) : 0;
  const belowTopRung = wanted[0] !== undefined && short < wanted[0];
  if (out.length === 0 || (belowTopRung && Math.min(w, h) > topShort * OWN_SIZE_MARGIN)) {
    const own: RenditionPlan[] = [];
    const maxrateKbps = ceilingKbps(w, h, fps, source.videoBitRate);
    own.push({ name: `${Math.min(w, h)}p`, width: w, height: h, maxrateKbps, bufsizeKbps: 2 * maxrateKbps });
    return [...own, ...out];
  }
  return out;
}

/** Common frame rates; a source within 3% of one of them is encoded at exactly that rate. */
const STANDARD_FPS = [12, 15, 24000 / 1001, 24, 25, 30000 / 1001, 30, 48000 / 1001, 48, 50, 60000 / 1001, 60];
const MAX_FPS = 60;
const DEFAULT_FPS = 30;

/**
 * Constant output frame rate from the source's average rate: snapped to a standard rate when close
 * (23.976 and 29.97 stay NTSC, a variable-rate phone clip averaging 29.6 becomes 29.97), otherwise
 * rounded to a whole number; capped at 60; 30 when unknown or absurd.
 */
export function outputFps(sourceFps: number): number {
  if (!Number.isFinite(sourceFps) || sourceFps <= 0 || sourceFps > 1000) return DEFAULT_FPS;
  const fps = Math.min(sourceFps, MAX_FPS);
  let nearest = STANDARD_FPS[0]!;
  for (const s of STANDARD_FPS) if (Math.abs(s - fps) < Math.abs(nearest - fps)) nearest = s;
  if (Math.abs(nearest - fps) / nearest <= 0.03) return nearest;
  return Math.max(1, Math.round(fps));
}

/** The rendition of audio track `i`: `audio`, then `audio_1`, `audio_2`, … */
export const audioRenditionName = (i: number): string => (i === 0 ? AUDIO_NAME : `${AUDIO_NAME}_${i}`);

/** A NAME as the master can write it: no quotes or control characters, bounded. */
function cleanLabel(raw: string | undefined): string {
  const s = [...(raw ?? '')]
    .map((c) => (c === '"' || c.charCodeAt(0) < 0x20 ? ' ' : c))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
  return [...s].slice(0, MAX_LABEL_CHARS).join('').trim();
}

/**
 * Pure: the source's audio streams (the first `max`, in order) as audio renditions. NAME: the stream's
 * title, else its language's name in itself ("English", "Français"), else "Track N" (N counted from 1);
 * a NAME already taken gets " (2)", " (3)", … after it, so every NAME in the group is unique.
 */
export function planAudioTracks(streams: readonly SourceAudioStream[], max: number): AudioTrackPlan[] {
  const taken = new Set<string>();
  return streams.slice(0, Math.max(1, max)).map((s, i) => {
    const language = toBcp47(s.language);
    const title = cleanLabel(s.title);
    let label = title || (language ? cleanLabel(languageName(language)) : '') || `Track ${i + 1}`;
    if (taken.has(label.toLowerCase())) {
      let n = 2;
      while (taken.has(`${label} (${n})`.toLowerCase())) n++;
      label = `${label} (${n})`;
    }
    taken.add(label.toLowerCase());
    const channels = s.channels === 1 ? 1 : 2;
    return {
      stream: s.index,
      name: audioRenditionName(i),
      language,
      label,
      tagged: language !== null || title !== '',
      channels,
      bitrateKbps: channels === 1 ? AUDIO_MONO_KBPS : AUDIO.bitrateKbps,
    };
  });
}

/**
 * The track an audio task encodes (its chunk number is the track's index). A plan made before several
 * tracks (no audioTracks) has one: the first audio stream, as `audio`, in stereo.
 */
export function audioTrackOf(plan: MediaPlan, index: number): AudioTrackPlan {
  const track = plan.audioTracks?.[index];
  if (track) return track;
  if (index !== 0 || !plan.audio) throw new TypeError(`the plan has no audio track ${index}`);
  return {
    stream: 0,
    name: AUDIO_NAME,
    language: null,
    label: AUDIO_NAME,
    tagged: false,
    channels: 2,
    bitrateKbps: plan.audio.bitrateKbps,
  };
}

export function planTranscode(
  source: SourceInfo,
  opts: { rungs: number[]; preset: string; crf: number; maxAudioTracks?: number },
): MediaPlan {
  const renditions = planLadder(source, opts.rungs);
  const top = renditions[0]!;
  const posterWidth = Math.min(top.width, POSTER_MAX_WIDTH);
  const posterHeight =
    top.width > POSTER_MAX_WIDTH ? evenRound((top.height * POSTER_MAX_WIDTH) / top.width) : top.height;
  return {
    renditions,
    fps: outputFps(source.fps),
    keyframeSeconds: KEYFRAME_SECONDS,
    segmentSeconds: SEGMENT_SECONDS,
    preset: opts.preset,
    crf: opts.crf,
    audio: source.hasAudio ? { ...AUDIO } : null,
    audioTracks: source.hasAudio
      ? planAudioTracks(
          source.audioStreams?.length ? source.audioStreams : [{ index: 0, channels: 2 }],
          opts.maxAudioTracks ?? DEFAULT_MAX_AUDIO_TRACKS,
        )
      : [],
    poster: {
      atSeconds: Math.min(1, (0.1 * source.durationMs) / 1000),
      width: posterWidth,
      height: posterHeight,
    },
  };
}

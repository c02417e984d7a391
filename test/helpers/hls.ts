/**
 * HLS checks for tests: probe a rendition, parse playlists, recompute bit rates from segment sizes.
 * Written independently of src/media so that it can check it. Accepts a local path or an http(s) URL.
 */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const FFPROBE = process.env['FFPROBE_PATH'] || 'ffprobe';

const isUrl = (s: string) => /^https?:\/\//i.test(s);

export interface RenditionProbe {
  width: number;
  height: number;
  durationSec: number;
  /** Presentation times of the video keyframes, seconds, ascending. */
  keyframeTimes: number[];
  hasAudio: boolean;
  pixFmt: string;
  /** ffprobe's profile name, e.g. "High". */
  profile: string;
  level: number;
  /** Clockwise display rotation still signalled by the output (0 when none). */
  rotation: number;
  /** The stream's frame rate as ffprobe states it (r_frame_rate), e.g. 30 or 29.97. */
  frameRate: number;
}

async function ffprobeJson(args: string[]): Promise<unknown> {
  const { stdout } = await run(FFPROBE, ['-v', 'error', '-of', 'json', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as unknown;
}

interface ProbeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  profile?: string;
  level?: number;
  r_frame_rate?: string;
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

/** ffprobe of a media playlist (or any media file): what a player would get. */
export async function probeRendition(playlistPathOrUrl: string): Promise<RenditionProbe> {
  const info = (await ffprobeJson(['-show_format', '-show_streams', playlistPathOrUrl])) as {
    streams?: ProbeStream[];
    format?: { duration?: string };
  };
  const streams = info.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  if (!v) throw new Error(`no video stream in ${playlistPathOrUrl}`);
  const packets = (await ffprobeJson([
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time,flags',
    playlistPathOrUrl,
  ])) as { packets?: { pts_time?: string; flags?: string }[] };
  const keyframeTimes = (packets.packets ?? [])
    .filter((p) => p.flags?.includes('K') && p.pts_time !== undefined)
    .map((p) => Number(p.pts_time))
    .sort((a, b) => a - b);
  const matrix = v.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const ccw = matrix ?? -Number(v.tags?.['rotate'] ?? 0);
  const [num, den] = (v.r_frame_rate ?? '0/1').split('/').map(Number);
  return {
    width: v.width ?? 0,
    height: v.height ?? 0,
    durationSec: Number(info.format?.duration ?? Number.NaN),
    keyframeTimes,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    pixFmt: v.pix_fmt ?? '',
    profile: v.profile ?? '',
    level: v.level ?? 0,
    rotation: (((-ccw % 360) + 360) % 360) | 0,
    frameRate: den ? (num ?? 0) / den : 0,
  };
}

// ---------- playlists ----------

export interface ParsedMediaPlaylist {
  version: number | undefined;
  targetDuration: number | undefined;
  playlistType: string | undefined;
  independentSegments: boolean;
  map: string | undefined;
  segments: { uri: string; duration: number }[];
  endList: boolean;
}

export function parseMediaPlaylist(text: string): ParsedMediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not an M3U8 playlist: the first line is not #EXTM3U');
  const out: ParsedMediaPlaylist = {
    version: undefined,
    targetDuration: undefined,
    playlistType: undefined,
    independentSegments: false,
    map: undefined,
    segments: [],
    endList: false,
  };
  let duration: number | undefined;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const [tag, value = ''] = splitTag(line);
    switch (tag) {
      case '#EXT-X-VERSION':
        out.version = Number(value);
        break;
      case '#EXT-X-TARGETDURATION':
        out.targetDuration = Number(value);
        break;
      case '#EXT-X-PLAYLIST-TYPE':
        out.playlistType = value;
        break;
      case '#EXT-X-INDEPENDENT-SEGMENTS':
        out.independentSegments = true;
        break;
      case '#EXT-X-MAP':
        out.map = parseAttributes(value)['URI'];
        break;
      case '#EXTINF':
        duration = Number(value.split(',')[0]);
        break;
      case '#EXT-X-ENDLIST':
        out.endList = true;
        break;
      default:
        if (!line.startsWith('#')) {
          if (duration === undefined) throw new Error(`segment ${line} has no #EXTINF`);
          out.segments.push({ uri: line, duration });
          duration = undefined;
        }
    }
  }
  return out;
}

export interface ParsedMasterPlaylist {
  version: number | undefined;
  independentSegments: boolean;
  /** Attributes of each #EXT-X-MEDIA, quotes removed. */
  media: Record<string, string>[];
  /** Attributes of each #EXT-X-STREAM-INF with the URI on the line after it. */
  variants: { attributes: Record<string, string>; uri: string }[];
  /** Every tag line, in order (for checks on what must not be there). */
  tags: string[];
}

export function parseMasterPlaylist(text: string): ParsedMasterPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not an M3U8 playlist: the first line is not #EXTM3U');
  const out: ParsedMasterPlaylist = {
    version: undefined,
    independentSegments: false,
    media: [],
    variants: [],
    tags: [],
  };
  let pending: Record<string, string> | undefined;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    if (line.startsWith('#')) {
      out.tags.push(line);
      const [tag, value = ''] = splitTag(line);
      if (tag === '#EXT-X-VERSION') out.version = Number(value);
      else if (tag === '#EXT-X-INDEPENDENT-SEGMENTS') out.independentSegments = true;
      else if (tag === '#EXT-X-MEDIA') out.media.push(parseAttributes(value));
      else if (tag === '#EXT-X-STREAM-INF') pending = parseAttributes(value);
    } else if (pending) {
      out.variants.push({ attributes: pending, uri: line });
      pending = undefined;
    } else {
      throw new Error(`URI line "${line}" follows no #EXT-X-STREAM-INF`);
    }
  }
  return out;
}

function splitTag(line: string): [string, string?] {
  const i = line.indexOf(':');
  return i < 0 ? [line] : [line.slice(0, i), line.slice(i + 1)];
}

/** NAME=value,NAME="quoted, with commas" → record (quotes removed). */
export function parseAttributes(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)(?:,|$)/g;
  for (let m = re.exec(list); m; m = re.exec(list)) {
    if (m[0] === '') break;
    const raw = m[2] ?? '';
    out[m[1]!] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
  }
  return out;
}

// ---------- bit rates ----------

/** How to read a URI (local path or http URL): its text, and its size in bytes. */
export interface Fetcher {
  text(uri: string): Promise<string>;
  size(uri: string): Promise<number>;
}

/** Local files by path; http(s) by GET (HEAD is not assumed to be supported). */
export const defaultFetcher: Fetcher = {
  async text(uri) {
    if (!isUrl(uri)) return readFile(uri, 'utf8');
    const res = await fetch(uri);
    if (!res.ok) throw new Error(`GET ${uri}: ${res.status}`);
    return res.text();
  },
  async size(uri) {
    if (!isUrl(uri)) return (await stat(uri)).size;
    const res = await fetch(uri);
    if (!res.ok) throw new Error(`GET ${uri}: ${res.status}`);
    return (await res.arrayBuffer()).byteLength;
  },
};

/** Resolves a playlist reference against the URI of the playlist that holds it. */
export function resolveUri(base: string, ref: string): string {
  if (isUrl(ref)) return ref;
  if (isUrl(base)) return new URL(ref, base).href;
  return path.resolve(path.dirname(base), ref);
}

export interface MeasuredBitrate {
  /** The busiest single segment, bits/s. */
  peak: number;
  /**
   * RFC 8216's peak segment bit rate: the busiest run of contiguous segments lasting 0.5–1.5 × the
   * playlist's target duration, bits/s.
   */
  rfcPeak: number;
  average: number;
  durationSec: number;
}

/** Peak segment bit rate and average bit rate of one media playlist, from its segments' sizes. */
export async function measureMediaPlaylist(
  playlistUri: string,
  fetcher: Fetcher = defaultFetcher,
): Promise<MeasuredBitrate> {
  const pl = parseMediaPlaylist(await fetcher.text(playlistUri));
  let peak = 0;
  let bits = 0;
  let seconds = 0;
  // Running totals: the window from segment i to j has bits[j+1]-bits[i] over time[j+1]-time[i].
  const bitsUpTo = [0];
  const timeUpTo = [0];
  for (const seg of pl.segments) {
    const b = (await fetcher.size(resolveUri(playlistUri, seg.uri))) * 8;
    bits += b;
    seconds += seg.duration;
    bitsUpTo.push(bits);
    timeUpTo.push(seconds);
    if (seg.duration > 0) peak = Math.max(peak, b / seg.duration);
  }
  const target = pl.targetDuration ?? 0;
  let rfcPeak = 0;
  for (let i = 0; i < pl.segments.length; i++) {
    for (let j = i + 1; j <= pl.segments.length; j++) {
      const t = timeUpTo[j]! - timeUpTo[i]!;
      if (t >= 0.5 * target && t <= 1.5 * target)
        rfcPeak = Math.max(rfcPeak, (bitsUpTo[j]! - bitsUpTo[i]!) / t);
    }
  }
  return { peak, rfcPeak, average: seconds > 0 ? bits / seconds : 0, durationSec: seconds };
}

/**
 * Recomputes what BANDWIDTH and AVERAGE-BANDWIDTH of a master playlist's variant should be: the video
 * playlist's peak and average plus those of the audio rendition of its AUDIO group, if any.
 */
export async function recomputeVariantBitrates(
  masterUri: string,
  fetcher: Fetcher = defaultFetcher,
): Promise<{ uri: string; declared: { bandwidth: number; average: number }; measured: MeasuredBitrate }[]> {
  const master = parseMasterPlaylist(await fetcher.text(masterUri));
  const out = [];
  for (const v of master.variants) {
    const video = await measureMediaPlaylist(resolveUri(masterUri, v.uri), fetcher);
    const group = v.attributes['AUDIO'];
    const media = group
      ? master.media.find((m) => m['TYPE'] === 'AUDIO' && m['GROUP-ID'] === group && m['URI'])
      : undefined;
    const audio = media?.['URI']
      ? await measureMediaPlaylist(resolveUri(masterUri, media['URI']), fetcher)
      : undefined;
    out.push({
      uri: v.uri,
      declared: {
        bandwidth: Number(v.attributes['BANDWIDTH']),
        average: Number(v.attributes['AVERAGE-BANDWIDTH']),
      },
      measured: {
        peak: video.peak + (audio?.peak ?? 0),
        rfcPeak: video.rfcPeak + (audio?.rfcPeak ?? 0),
        average: video.average + (audio?.average ?? 0),
        durationSec: video.durationSec,
      },
    });
  }
  return out;
}

export interface AudioRenditionProbe {
  codec: string;
  /** ffprobe's profile name: "LC" for AAC-LC. */
  profile: string;
  channels: number;
  sampleRate: number;
  durationSec: number;
  hasVideo: boolean;
}

/** ffprobe of an audio-only media playlist. */
export async function probeAudioRendition(playlistPathOrUrl: string): Promise<AudioRenditionProbe> {
  const info = (await ffprobeJson(['-show_format', '-show_streams', playlistPathOrUrl])) as {
    streams?: {
      codec_type?: string;
      codec_name?: string;
      profile?: string;
      channels?: number;
      sample_rate?: string;
    }[];
    format?: { duration?: string };
  };
  const streams = info.streams ?? [];
  const a = streams.find((s) => s.codec_type === 'audio');
  if (!a) throw new Error(`no audio stream in ${playlistPathOrUrl}`);
  return {
    codec: a.codec_name ?? '',
    profile: a.profile ?? '',
    channels: a.channels ?? 0,
    sampleRate: Number(a.sample_rate ?? 0),
    durationSec: Number(info.format?.duration ?? Number.NaN),
    hasVideo: streams.some((s) => s.codec_type === 'video'),
  };
}

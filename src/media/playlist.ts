/**
 * The master playlist, written by Reel from measured segments (ffmpeg's own overstates BANDWIDTH and lacks
 * AVERAGE-BANDWIDTH and FRAME-RATE). Building the text is pure; measuring reads the files ffmpeg wrote.
 */
import { appendFile, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RenditionInfo, TranscodePlan } from '../core/types.js';
import { capture } from './exec.js';
import { AUDIO_GROUP, AUDIO_NAME, INIT_SEGMENT, MEDIA_PLAYLIST } from './ffmpegArgs.js';

export const MASTER_PLAYLIST = 'master.m3u8';
/** AAC-LC, which is what buildTranscodeArgs asks for. */
export const AAC_LC = 'mp4a.40.2';

// ---------- media playlists ----------

export interface MediaPlaylist {
  mapUri: string | undefined;
  segments: { uri: string; duration: number }[];
  targetDuration: number | undefined;
  endList: boolean;
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  const out: MediaPlaylist = { mapUri: undefined, segments: [], targetDuration: undefined, endList: false };
  let pending: number | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#EXTINF:')) pending = Number.parseFloat(line.slice('#EXTINF:'.length));
    else if (line.startsWith('#EXT-X-TARGETDURATION:')) out.targetDuration = Number(line.split(':')[1]);
    else if (line.startsWith('#EXT-X-MAP:')) out.mapUri = /URI="([^"]*)"/.exec(line)?.[1];
    else if (line === '#EXT-X-ENDLIST') out.endList = true;
    else if (!line.startsWith('#') && pending !== undefined) {
      out.segments.push({ uri: line, duration: pending });
      pending = undefined;
    }
  }
  return out;
}

export interface BitrateStats {
  /**
   * Peak segment bit rate, bits/s, as RFC 8216 (4.3.4.2) defines it: the largest bit rate of any
   * contiguous set of segments whose total duration is between 0.5 and 1.5 times the target duration.
   */
  peakBps: number;
  /** All segment bits over all segment time, bits/s. */
  averageBps: number;
  durationSec: number;
  bytes: number;
}

/**
 * Pure: peak (RFC 8216) and average bit rate of a run of media segments (the init segment is not one of
 * them). Without a target duration, the longest segment's rounded duration is the target, as a playlist
 * would declare it. A playlist shorter than half its target has no qualifying window: its peak is then
 * its average.
 */
export function bitrateStats(
  segments: readonly { duration: number; bytes: number }[],
  targetDuration?: number,
): BitrateStats {
  let bytes = 0;
  let duration = 0;
  for (const s of segments) {
    bytes += s.bytes;
    duration += s.duration;
  }
  const averageBps = duration > 0 ? (bytes * 8) / duration : 0;
  const target =
    targetDuration && targetDuration > 0
      ? targetDuration
      : Math.max(1, Math.round(Math.max(0, ...segments.map((s) => s.duration))));
  const lo = 0.5 * target;
  const hi = 1.5 * target;
  let peak = 0;
  for (let i = 0; i < segments.length; i++) {
    let windowBytes = 0;
    let windowSec = 0;
    for (let j = i; j < segments.length; j++) {
      windowBytes += segments[j]!.bytes;
      windowSec += segments[j]!.duration;
      if (windowSec > hi) break;
      if (windowSec >= lo) peak = Math.max(peak, (windowBytes * 8) / windowSec);
    }
  }
  return {
    peakBps: Math.round(peak > 0 ? peak : averageBps),
    averageBps: Math.round(averageBps),
    durationSec: duration,
    bytes,
  };
}

/** A final segment shorter than this (seconds) is merged into the one before it. */
export const SHORT_TAIL_SECONDS = 0.25;

/**
 * Pure: a media playlist whose last segment is a sliver (the encoder's last AAC frame, 21 ms, after the
 * video has ended) rewritten so that the sliver is part of the segment before it: the EXTINF of that one
 * grows by the sliver's duration, the sliver's entry goes, and EXT-X-TARGETDURATION still covers every
 * segment. Returns undefined when there is nothing to merge. The caller appends the sliver's bytes to the
 * previous segment's file: an fMP4 segment may hold several fragments (moof + mdat), each with its own
 * decode time, so the merged file plays exactly as the two did.
 */
export function mergeShortTail(
  text: string,
  maxTailSec = SHORT_TAIL_SECONDS,
): { text: string; into: string; from: string } | undefined {
  const pl = parseMediaPlaylist(text);
  const n = pl.segments.length;
  if (n < 2 || !pl.endList) return undefined;
  const last = pl.segments[n - 1]!;
  const prev = pl.segments[n - 2]!;
  if (!(last.duration < maxTailSec)) return undefined;
  const merged = prev.duration + last.duration;
  const lines = text.split('\n');
  const uriAt = (uri: string) => lines.lastIndexOf(uri);
  const lastUri = uriAt(last.uri);
  const prevUri = uriAt(prev.uri);
  const extinfBefore = (at: number) => {
    for (let i = at - 1; i >= 0; i--) if (lines[i]!.startsWith('#EXTINF:')) return i;
    return -1;
  };
  const lastInf = extinfBefore(lastUri);
  const prevInf = extinfBefore(prevUri);
  if (lastUri < 0 || prevUri < 0 || lastInf < 0 || prevInf < 0) return undefined;
  lines[prevInf] = `#EXTINF:${merged.toFixed(6)},`;
  lines.splice(lastInf, lastUri - lastInf + 1);
  const longest = Math.max(...pl.segments.slice(0, n - 2).map((s) => s.duration), merged);
  const target = Math.max(pl.targetDuration ?? 0, Math.round(longest));
  const out = lines
    .map((l) => (l.startsWith('#EXT-X-TARGETDURATION:') ? `#EXT-X-TARGETDURATION:${target}` : l))
    .join('\n');
  return { text: out, into: prev.uri, from: last.uri };
}

/** Merges a sliver of a last segment into the one before it, in every rendition named (see mergeShortTail). */
export async function mergeShortTails(outDir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const dir = path.join(outDir, name);
    const file = path.join(dir, MEDIA_PLAYLIST);
    const merge = mergeShortTail(await readFile(file, 'utf8'));
    if (!merge) continue;
    await appendFile(path.join(dir, merge.into), await readFile(path.join(dir, merge.from)));
    await writeAtomic(file, merge.text);
    await rm(path.join(dir, merge.from));
  }
}

/** Measures one rendition directory (its index.m3u8 and the segment files it lists). */
export async function measureRendition(dir: string): Promise<BitrateStats & { playlist: MediaPlaylist }> {
  const playlist = parseMediaPlaylist(await readFile(path.join(dir, MEDIA_PLAYLIST), 'utf8'));
  const sized = await Promise.all(
    playlist.segments.map(async (s) => ({
      duration: s.duration,
      bytes: (await stat(path.join(dir, s.uri))).size,
    })),
  );
  return { ...bitrateStats(sized, playlist.targetDuration), playlist };
}

/**
 * ffmpeg 5.1 names the init segment init_<n>.mp4 when it writes several variant streams; give every
 * rendition the same layout ({name}/init.mp4) and point its playlist at it.
 */
export async function finaliseInitSegments(outDir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const dir = path.join(outDir, name);
    const file = path.join(dir, MEDIA_PLAYLIST);
    const text = await readFile(file, 'utf8');
    const uri = parseMediaPlaylist(text).mapUri;
    if (!uri || uri === INIT_SEGMENT) continue;
    await rename(path.join(dir, uri), path.join(dir, INIT_SEGMENT));
    await writeAtomic(file, text.replace(`#EXT-X-MAP:URI="${uri}"`, `#EXT-X-MAP:URI="${INIT_SEGMENT}"`));
  }
}

// ---------- codecs ----------

/** RFC 6381 avc1.PPCCLL from the three bytes of the avcC box. */
export function avcCodecString(profileIdc: number, constraints: number, levelIdc: number): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
  return `avc1.${hex(profileIdc)}${hex(constraints)}${hex(levelIdc)}`;
}

/** Finds the avcC box in an init segment and returns its profile, constraint flags and level bytes. */
export function readAvcC(buf: Buffer): [profile: number, constraints: number, level: number] | undefined {
  let at = buf.indexOf('avcC', 0, 'latin1');
  while (at >= 0) {
    const body = at + 4;
    // configurationVersion is always 1
    if (buf[body] === 1 && body + 3 < buf.length) return [buf[body + 1]!, buf[body + 2]!, buf[body + 3]!];
    at = buf.indexOf('avcC', at + 4, 'latin1');
  }
  return undefined;
}

const PROFILE_IDC: Record<string, [number, number]> = {
  'Constrained Baseline': [66, 0xc0],
  Baseline: [66, 0x00],
  Main: [77, 0x00],
  High: [100, 0x00],
  'High 10': [110, 0x00],
};

/** The avc1 codec string of a rendition: from its init segment, or else from ffprobe's profile/level. */
export async function videoCodecString(dir: string, ffprobePath: string): Promise<string> {
  const fh = await open(path.join(dir, INIT_SEGMENT), 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const avcC = readAvcC(buffer.subarray(0, bytesRead));
    if (avcC) return avcCodecString(...avcC);
  } finally {
    await fh.close();
  }
  const res = await capture(ffprobePath, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=profile,level',
    '-of',
    'json',
    path.join(dir, MEDIA_PLAYLIST),
  ]);
  const s = (JSON.parse(res.stdout || '{}') as { streams?: { profile?: string; level?: number }[] })
    .streams?.[0];
  const [p, c] = PROFILE_IDC[s?.profile ?? 'High'] ?? [100, 0];
  return avcCodecString(p, c, s?.level && s.level > 0 ? s.level : 40);
}

// ---------- master playlist ----------

export interface MasterVariant {
  /** Relative URI of the media playlist, e.g. "720p/index.m3u8". */
  uri: string;
  bandwidth: number;
  averageBandwidth: number;
  codecs: string;
  width: number;
  height: number;
  frameRate: number;
  /** GROUP-ID of the audio rendition group, when the variant has audio. */
  audioGroup?: string;
}

export interface MasterAudio {
  groupId: string;
  name: string;
  uri: string;
  channels: number;
}

/** One rendition of the audio group when a video has several audio tracks. */
export interface MasterAudioTrack {
  /** Its directory: `audio`, `audio_1`, … */
  name: string;
  /** BCP 47, or null (no LANGUAGE attribute). */
  language: string | null;
  /** NAME: unique within the group. */
  label: string;
  channels: number;
  default: boolean;
}

/** One rendition of the SUBTITLES group (a caption track). */
export interface MasterSubtitle {
  /** BCP 47. */
  language: string;
  name: string;
  /** Closed captions (dialogue and sounds): CHARACTERISTICS says so. */
  closedCaptions: boolean;
  /** Relative URI of its WebVTT media playlist. */
  uri: string;
}

/** One EXT-X-I-FRAME-STREAM-INF. */
export interface MasterIFrameStream {
  uri: string;
  bandwidth: number;
  /** The video codec only. */
  codecs: string;
  width: number;
  height: number;
}

/** What a master holds besides its variants and single audio rendition (issue 13). */
export interface MasterExtras {
  /** Every audio rendition (replaces the single one when given and not empty). */
  audioTracks?: readonly MasterAudioTrack[];
  subtitles?: readonly MasterSubtitle[];
  iframes?: readonly MasterIFrameStream[];
}

export const SUBTITLES_GROUP = 'subs';
const CC_CHARACTERISTICS =
  'public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound';

/** A quoted-string attribute value (RFC 8216 4.2: no double quote, CR or LF). */
export const quoted = (v: string) =>
  `"${[...v]
    .map((c) => (c === '"' || c.charCodeAt(0) < 0x20 ? ' ' : c))
    .join('')
    .trim()}"`;

/** Pure: the master playlist text, variants highest first. */
export function buildMasterPlaylist(
  variants: readonly MasterVariant[],
  audio: MasterAudio | null = null,
  extras: MasterExtras = {},
): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio && extras.audioTracks && extras.audioTracks.length > 0) {
    for (const t of extras.audioTracks) {
      const lang = t.language ? `,LANGUAGE=${quoted(t.language)}` : '';
      lines.push(
        `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="${audio.groupId}",NAME=${quoted(t.label)}${lang},` +
          `DEFAULT=${t.default ? 'YES' : 'NO'},AUTOSELECT=YES,CHANNELS="${t.channels}",URI="${t.name}/${MEDIA_PLAYLIST}"`,
      );
    }
  } else if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="${audio.groupId}",NAME="${audio.name}",DEFAULT=YES,AUTOSELECT=YES,` +
        `CHANNELS="${audio.channels}",URI="${audio.uri}"`,
    );
  }
  const subtitles = extras.subtitles ?? [];
  for (const t of subtitles) {
    const cc = t.closedCaptions ? `,CHARACTERISTICS="${CC_CHARACTERISTICS}"` : '';
    // DEFAULT=NO: captions are the viewer's choice; AUTOSELECT=YES: a player may pick one matching the
    // viewer's language (or accessibility settings, for closed captions).
    lines.push(
      `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="${SUBTITLES_GROUP}",NAME=${quoted(t.name)},` +
        `LANGUAGE=${quoted(t.language)},DEFAULT=NO,AUTOSELECT=YES,FORCED=NO${cc},URI=${quoted(t.uri)}`,
    );
  }
  const sorted = [...variants].sort(
    (a, b) => b.width * b.height - a.width * a.height || b.bandwidth - a.bandwidth,
  );
  for (const v of sorted) {
    const attrs = [
      `BANDWIDTH=${Math.round(v.bandwidth)}`,
      `AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`,
      `CODECS="${v.codecs}"`,
      `RESOLUTION=${v.width}x${v.height}`,
      `FRAME-RATE=${v.frameRate.toFixed(3)}`,
    ];
    if (v.audioGroup) attrs.push(`AUDIO="${v.audioGroup}"`);
    if (subtitles.length > 0) attrs.push(`SUBTITLES="${SUBTITLES_GROUP}"`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  for (const f of extras.iframes ?? []) {
    lines.push(
      `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=${Math.round(f.bandwidth)},CODECS="${f.codecs}",` +
        `RESOLUTION=${f.width}x${f.height},URI="${f.uri}"`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** What a master playlist says of the audio group (null: video-only renditions). */
export interface MasterAudioInfo {
  codecs: string;
  bandwidth: number;
  channels: number;
}

/**
 * Pure: the master playlist of a ladder from its renditions (as stored on the video) and its audio, the
 * same text for a ladder published in one piece (writeMasterPlaylist) and for one published chunk by
 * chunk (rendered per request). A rendition whose codecs are not known yet has no CODECS attribute.
 */
export function renderMasterPlaylist(
  renditions: readonly RenditionInfo[],
  audio: MasterAudioInfo | null,
  extras: MasterExtras = {},
): string {
  const text = buildMasterPlaylist(
    renditions.map((i) => ({
      uri: `${i.name}/${MEDIA_PLAYLIST}`,
      bandwidth: i.bandwidth,
      averageBandwidth: i.averageBandwidth,
      codecs: i.codecs,
      width: i.width,
      height: i.height,
      frameRate: i.frameRate,
      audioGroup: audio ? AUDIO_GROUP : undefined,
    })),
    audio
      ? {
          groupId: AUDIO_GROUP,
          name: AUDIO_NAME,
          uri: `${AUDIO_NAME}/${MEDIA_PLAYLIST}`,
          channels: audio.channels,
        }
      : null,
    extras,
  );
  return text.replace(/,CODECS="",/g, ',');
}

/** The URI of segment `seq` of a rendition, relative to its media playlist (ffmpeg's SEGMENT_PATTERN). */
export const segmentUri = (seq: number) => `seg_${String(seq).padStart(5, '0')}.m4s`;

/**
 * Pure: the media playlist of one rendition from its published segments. Only the run that starts at seq 0
 * and has no gap is listed, so a reader never sees a hole. In progress (`complete` false) it is an EVENT
 * playlist that starts players at the beginning (EXT-X-START), not at the live edge; complete, it is VOD
 * with ENDLIST. TARGETDURATION is the planned segment length unless a segment rounds to more, so it stays
 * the same from one reload to the next.
 */
export function renderMediaPlaylist(opts: {
  segments: readonly { seq: number; duration: number }[];
  /** The planned segment length, seconds. */
  targetDuration: number;
  complete: boolean;
}): string {
  const bySeq = new Map(opts.segments.map((s) => [s.seq, s.duration]));
  const run: { seq: number; duration: number }[] = [];
  for (let seq = 0; bySeq.has(seq); seq++) run.push({ seq, duration: bySeq.get(seq)! });
  // RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer is at most the target (as ffmpeg writes
  // it). Not the ceiling: AAC segments run a frame over (4.010667 s), which would make audio's target 5 —
  // or 4 then 5 as segments are published, where a target must not change between reloads.
  const longest = Math.round(Math.max(0, ...run.map((s) => s.duration)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.max(Math.ceil(opts.targetDuration), longest)}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    `#EXT-X-PLAYLIST-TYPE:${opts.complete ? 'VOD' : 'EVENT'}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  if (!opts.complete) lines.push('#EXT-X-START:TIME-OFFSET=0');
  lines.push(`#EXT-X-MAP:URI="${INIT_SEGMENT}"`);
  for (const s of run) lines.push(`#EXTINF:${s.duration.toFixed(6)},`, segmentUri(s.seq));
  if (opts.complete) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/**
 * Measures every rendition ffmpeg wrote under outDir, writes outDir/master.m3u8 and returns the
 * renditions, highest first. BANDWIDTH = peak video + peak audio bit rate (RFC 8216 peaks, bitrateStats);
 * AVERAGE-BANDWIDTH = average video + average audio.
 */
export async function writeMasterPlaylist(
  outDir: string,
  plan: Pick<TranscodePlan, 'renditions' | 'audio' | 'fps'>,
  opts: { ffprobePath: string },
): Promise<RenditionInfo[]> {
  const audio = plan.audio ? await measureRendition(path.join(outDir, AUDIO_NAME)) : undefined;
  const frameRate = Math.round(plan.fps * 1000) / 1000;
  const infos: RenditionInfo[] = [];
  for (const r of plan.renditions) {
    const dir = path.join(outDir, r.name);
    const video = await measureRendition(dir);
    const codecs = [await videoCodecString(dir, opts.ffprobePath), ...(audio ? [AAC_LC] : [])].join(',');
    infos.push({
      name: r.name,
      width: r.width,
      height: r.height,
      bandwidth: video.peakBps + (audio?.peakBps ?? 0),
      averageBandwidth: video.averageBps + (audio?.averageBps ?? 0),
      codecs,
      frameRate,
    });
  }
  infos.sort((a, b) => b.width * b.height - a.width * a.height || b.bandwidth - a.bandwidth);
  const text = renderMasterPlaylist(
    infos,
    plan.audio && audio ? { codecs: AAC_LC, bandwidth: audio.peakBps, channels: plan.audio.channels } : null,
  );
  await writeAtomic(path.join(outDir, MASTER_PLAYLIST), text);
  return infos;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

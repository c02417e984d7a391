/**
 * The master playlist, written by Reel from measured segments (ffmpeg's own overstates BANDWIDTH and lacks
 * AVERAGE-BANDWIDTH and FRAME-RATE). Building the text is pure; measuring reads the files ffmpeg wrote.
 */
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
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
  /** Highest bit rate of any one segment, bits/s. */
  peakBps: number;
  /** All segment bits over all segment time, bits/s. */
  averageBps: number;
  durationSec: number;
  bytes: number;
}

/** Pure: peak and average bit rate of a run of media segments (the init segment is not one of them). */
export function bitrateStats(segments: readonly { duration: number; bytes: number }[]): BitrateStats {
  let peak = 0;
  let bytes = 0;
  let duration = 0;
  for (const s of segments) {
    bytes += s.bytes;
    duration += s.duration;
    if (s.duration > 0) peak = Math.max(peak, (s.bytes * 8) / s.duration);
  }
  return {
    peakBps: Math.round(peak),
    averageBps: duration > 0 ? Math.round((bytes * 8) / duration) : 0,
    durationSec: duration,
    bytes,
  };
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
  return { ...bitrateStats(sized), playlist };
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

/** Pure: the master playlist text, variants highest first. */
export function buildMasterPlaylist(
  variants: readonly MasterVariant[],
  audio: MasterAudio | null = null,
): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="${audio.groupId}",NAME="${audio.name}",DEFAULT=YES,AUTOSELECT=YES,` +
        `CHANNELS="${audio.channels}",URI="${audio.uri}"`,
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
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Measures every rendition ffmpeg wrote under outDir, writes outDir/master.m3u8 and returns the
 * renditions, highest first. BANDWIDTH = peak video segment + peak audio segment bit rate;
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
  const text = buildMasterPlaylist(
    infos.map((i) => ({
      uri: `${i.name}/${MEDIA_PLAYLIST}`,
      bandwidth: i.bandwidth,
      averageBandwidth: i.averageBandwidth,
      codecs: i.codecs,
      width: i.width,
      height: i.height,
      frameRate: i.frameRate,
      audioGroup: audio ? AUDIO_GROUP : undefined,
    })),
    plan.audio
      ? {
          groupId: AUDIO_GROUP,
          name: AUDIO_NAME,
          uri: `${AUDIO_NAME}/${MEDIA_PLAYLIST}`,
          channels: plan.audio.channels,
        }
      : null,
  );
  await writeAtomic(path.join(outDir, MASTER_PLAYLIST), text);
  return infos;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

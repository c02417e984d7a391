/**
 * Pure ISO BMFF (fragmented MP4) helpers, Buffer in / Buffer out: enough of the box tree to cut ffmpeg's
 * fragmented output into an init segment (ftyp + moov) and media fragments (moof + mdat), to shift a
 * fragment's decode time (tfdt) and to measure it (trun / tfhd / trex), and to read what a master playlist
 * needs from an init segment (timescale, RFC 6381 codecs string).
 *
 * Malformed input is ffmpeg output we cannot use: it fails with REEL_TRANSCODE_FAILED.
 */
import { errors } from '../core/errors.js';

export interface Box {
  type: string;
  /** Offset of the box's first byte (its size field) in the buffer it was read from. */
  start: number;
  /** Whole box, header included. */
  size: number;
  /** 8, or 16 with a 64-bit size. */
  headerSize: number;
}

/** Boxes whose children are boxes right after their header. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'mvex', 'moof', 'traf', 'edts', 'dinf']);

function bad(what: string): Error {
  return errors.transcodeFailed(`ffmpeg wrote a malformed MP4 (${what})`);
}

/** The boxes laid end to end in buf[start, end). A box of size 0 runs to `end`. */
export function readBoxes(buf: Buffer, start = 0, end = buf.length): Box[] {
  const out: Box[] = [];
  let at = start;
  while (at < end) {
    if (end - at < 8) throw bad(`${end - at} stray bytes at ${at}`);
    let size = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    let headerSize = 8;
    if (size === 1) {
      if (end - at < 16) throw bad(`truncated 64-bit size of ${type}`);
      size = Number(buf.readBigUInt64BE(at + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < headerSize || at + size > end) throw bad(`box ${type} of ${size} bytes at ${at} overruns`);
    out.push({ type, start: at, size, headerSize });
    at += size;
  }
  return out;
}

function children(buf: Buffer, box: Box): Box[] {
  return readBoxes(buf, box.start + box.headerSize, box.start + box.size);
}

/** The first box at this path of types below the top level (e.g. ['moov', 'mvex', 'trex']). */
function find(buf: Buffer, boxes: Box[], pathTypes: readonly string[]): Box | undefined {
  const [head, ...rest] = pathTypes;
  const hit = boxes.find((b) => b.type === head);
  if (!hit || rest.length === 0) return hit;
  if (!CONTAINERS.has(hit.type)) return undefined;
  return find(buf, children(buf, hit), rest);
}

function findAll(boxes: Box[], type: string): Box[] {
  return boxes.filter((b) => b.type === type);
}

/** Payload start of a full box (after version and flags). */
const full = (b: Box) => b.start + b.headerSize + 4;
const version = (buf: Buffer, b: Box) => buf.readUInt8(b.start + b.headerSize);
const flags = (buf: Buffer, b: Box) => buf.readUIntBE(b.start + b.headerSize + 1, 3);

export interface SplitMp4 {
  /** Everything before the first moof: ftyp + moov (the init segment). */
  init: Buffer;
  /** Each moof with the mdat (and anything else) up to the next moof; no trailing mfra. */
  fragments: Buffer[];
}

/** Splits a whole fragmented MP4 (empty_moov) into its init segment and its fragments. */
export function splitFragmented(buf: Buffer): SplitMp4 {
  const boxes = readBoxes(buf);
  const firstMoof = boxes.findIndex((b) => b.type === 'moof');
  const initEnd = firstMoof < 0 ? buf.length : boxes[firstMoof]!.start;
  const init = buf.subarray(0, initEnd);
  if (!find(buf, boxes, ['moov'])) throw bad('no moov');
  const fragments: Buffer[] = [];
  if (firstMoof < 0) return { init, fragments };
  let fragStart = boxes[firstMoof]!.start;
  for (let i = firstMoof + 1; i < boxes.length; i++) {
    const b = boxes[i]!;
    if (b.type === 'moof' || b.type === 'mfra') {
      fragments.push(buf.subarray(fragStart, b.start));
      fragStart = b.type === 'moof' ? b.start : -1;
      if (fragStart < 0) break;
    }
  }
  if (fragStart >= 0) fragments.push(buf.subarray(fragStart, buf.length));
  return { init, fragments };
}

/**
 * Incremental splitter for a fragmented MP4 arriving in pieces (ffmpeg writing to a pipe): push bytes,
 * get back the init segment once it is complete and each fragment once the next one begins (or at end()).
 */
export class FragmentReader {
  private pending: Buffer = Buffer.alloc(0);
  private initParts: Buffer[] = [];
  private initDone = false;
  private fragParts: Buffer[] = [];

  /** Complete top-level boxes so far; returns what became complete. */
  push(chunk: Buffer): { init?: Buffer; fragments: Buffer[] } {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: { init?: Buffer; fragments: Buffer[] } = { fragments: [] };
    for (;;) {
      if (this.pending.length < 8) break;
      let size = this.pending.readUInt32BE(0);
      if (size === 1) {
        if (this.pending.length < 16) break;
        size = Number(this.pending.readBigUInt64BE(8));
      }
      if (size === 0) break; // runs to the end of the stream: wait for end()
      if (size < 8) throw bad(`box of ${size} bytes in a stream`);
      if (this.pending.length < size) break;
      const box = this.pending.subarray(0, size);
      this.pending = this.pending.subarray(size);
      this.take(box, out);
    }
    return out;
  }

  /** The rest, at the end of the stream. */
  end(): { init?: Buffer; fragments: Buffer[] } {
    const out: { init?: Buffer; fragments: Buffer[] } = { fragments: [] };
    if (this.pending.length) {
      readBoxes(this.pending); // throws on a cut box
      this.take(this.pending, out);
      this.pending = Buffer.alloc(0);
    }
    if (!this.initDone) {
      if (this.initParts.length) out.init = Buffer.concat(this.initParts);
      this.initDone = true;
    }
    if (this.fragParts.length) out.fragments.push(Buffer.concat(this.fragParts));
    this.fragParts = [];
    return out;
  }

  private take(box: Buffer, out: { init?: Buffer; fragments: Buffer[] }) {
    const type = box.toString('latin1', 4, 8);
    if (type === 'moof') {
      if (!this.initDone) {
        out.init = Buffer.concat(this.initParts);
        this.initDone = true;
      }
      if (this.fragParts.length) out.fragments.push(Buffer.concat(this.fragParts));
      this.fragParts = [box];
    } else if (type === 'mfra') {
      // the random-access index at the very end: not part of any fragment
    } else if (!this.initDone) this.initParts.push(box);
    else this.fragParts.push(box);
  }
}

/**
 * A copy of `fragment` (one or more moof+mdat) with every tfdt's baseMediaDecodeTime increased by `offset`
 * (in the track's timescale; may be negative). Version 0 tfdt fields must stay within 32 bits.
 */
export function shiftTfdt(fragment: Buffer, offset: number | bigint): Buffer {
  const out = Buffer.from(fragment);
  const by = BigInt(offset);
  for (const moof of findAll(readBoxes(out), 'moof')) {
    for (const traf of findAll(children(out, moof), 'traf')) {
      for (const tfdt of findAll(children(out, traf), 'tfdt')) {
        const at = full(tfdt);
        if (version(out, tfdt) === 1) {
          const v = out.readBigUInt64BE(at) + by;
          if (v < 0n) throw bad('a decode time shifted below zero');
          out.writeBigUInt64BE(v, at);
        } else {
          const v = BigInt(out.readUInt32BE(at)) + by;
          if (v < 0n || v > 0xffffffffn) throw bad('a version 0 decode time shifted out of 32 bits');
          out.writeUInt32BE(Number(v), at);
        }
      }
    }
  }
  return out;
}

/** Decode time of the first traf of the first moof (its tfdt), in the track timescale. */
export function baseDecodeTime(fragment: Buffer): number {
  const boxes = readBoxes(fragment);
  const tfdt = find(fragment, boxes, ['moof', 'traf', 'tfdt']);
  if (!tfdt) throw bad('a fragment without tfdt');
  const at = full(tfdt);
  return version(fragment, tfdt) === 1 ? Number(fragment.readBigUInt64BE(at)) : fragment.readUInt32BE(at);
}

interface TrackInfo {
  trackId: number;
  timescale: number;
  handler: string;
  defaultDuration: number;
  defaultFlags: number;
}

function tracks(init: Buffer): TrackInfo[] {
  const top = readBoxes(init);
  const moov = find(init, top, ['moov']);
  if (!moov) throw bad('an init segment without moov');
  const moovKids = children(init, moov);
  const trexes = (() => {
    const mvex = moovKids.find((b) => b.type === 'mvex');
    return mvex ? findAll(children(init, mvex), 'trex') : [];
  })();
  return findAll(moovKids, 'trak').map((trak) => {
    const kids = children(init, trak);
    const tkhd = kids.find((b) => b.type === 'tkhd');
    if (!tkhd) throw bad('a trak without tkhd');
    // tkhd: v1 has 8-byte creation and modification times before the track id.
    const trackId = init.readUInt32BE(full(tkhd) + (version(init, tkhd) === 1 ? 16 : 8));
    const mdhd = find(init, kids, ['mdia', 'mdhd']);
    if (!mdhd) throw bad('a trak without mdhd');
    const timescale = init.readUInt32BE(full(mdhd) + (version(init, mdhd) === 1 ? 16 : 8));
    const hdlr = find(init, kids, ['mdia', 'hdlr']);
    const handler = hdlr ? init.toString('latin1', full(hdlr) + 4, full(hdlr) + 8) : '';
    const trex = trexes.find((t) => init.readUInt32BE(full(t)) === trackId);
    return {
      trackId,
      timescale,
      handler,
      // trex: track_ID, default_sample_description_index, default_sample_duration, _size, _flags
      defaultDuration: trex ? init.readUInt32BE(full(trex) + 8) : 0,
      defaultFlags: trex ? init.readUInt32BE(full(trex) + 16) : 0,
    };
  });
}

/** The media timescale (mdhd) of a track of the init segment: the first one, or the one with this id. */
export function trackTimescale(init: Buffer, trackId?: number): number {
  const all = tracks(init);
  const t = trackId === undefined ? all[0] : all.find((x) => x.trackId === trackId);
  if (!t) throw bad(`no track ${trackId ?? ''} in the init segment`);
  return t.timescale;
}

export interface FragmentInfo {
  /** Samples in the first track's runs, over every moof in the buffer. */
  sampleCount: number;
  /** Sum of their durations, in the track timescale. */
  duration: number;
  /** tfdt of the first moof. */
  baseDecodeTime: number;
  /** Composition offset of the first sample (0 when the run has none): the B-frame delay. */
  firstCompositionOffset: number;
  /** Whether the first sample is a sync sample (a keyframe). */
  startsWithSync: boolean;
}

const SAMPLE_IS_NON_SYNC = 0x10000;

/** Counts and times the samples of one or more moof+mdat pairs, with defaults from tfhd and the init's trex. */
export function fragmentInfo(fragment: Buffer, init: Buffer): FragmentInfo {
  const trackList = tracks(init);
  const info: FragmentInfo = {
    sampleCount: 0,
    duration: 0,
    baseDecodeTime: -1,
    firstCompositionOffset: 0,
    startsWithSync: false,
  };
  let first = true;
  for (const moof of findAll(readBoxes(fragment), 'moof')) {
    const traf = children(fragment, moof).find((b) => b.type === 'traf');
    if (!traf) continue;
    const kids = children(fragment, traf);
    const tfhd = kids.find((b) => b.type === 'tfhd');
    if (!tfhd) throw bad('a traf without tfhd');
    const tf = flags(fragment, tfhd);
    let p = full(tfhd);
    const trackId = fragment.readUInt32BE(p);
    p += 4;
    const track = trackList.find((t) => t.trackId === trackId);
    let defDuration = track?.defaultDuration ?? 0;
    let defFlags = track?.defaultFlags ?? 0;
    if (tf & 0x01) p += 8; // base_data_offset
    if (tf & 0x02) p += 4; // sample_description_index
    if (tf & 0x08) {
      defDuration = fragment.readUInt32BE(p);
      p += 4;
    }
    if (tf & 0x10) p += 4; // default_sample_size
    if (tf & 0x20) defFlags = fragment.readUInt32BE(p);
    const tfdt = kids.find((b) => b.type === 'tfdt');
    if (info.baseDecodeTime < 0 && tfdt) {
      const at = full(tfdt);
      info.baseDecodeTime =
        version(fragment, tfdt) === 1 ? Number(fragment.readBigUInt64BE(at)) : fragment.readUInt32BE(at);
    }
    for (const trun of kids.filter((b) => b.type === 'trun')) {
      const rf = flags(fragment, trun);
      const v1 = version(fragment, trun) === 1;
      let q = full(trun);
      const count = fragment.readUInt32BE(q);
      q += 4;
      if (rf & 0x01) q += 4; // data_offset
      let firstFlags: number | undefined;
      if (rf & 0x04) {
        firstFlags = fragment.readUInt32BE(q);
        q += 4;
      }
      for (let i = 0; i < count; i++) {
        let d = defDuration;
        let f = i === 0 && firstFlags !== undefined ? firstFlags : defFlags;
        let cto = 0;
        if (rf & 0x100) {
          d = fragment.readUInt32BE(q);
          q += 4;
        }
        if (rf & 0x200) q += 4;
        if (rf & 0x400) {
          f = fragment.readUInt32BE(q);
          q += 4;
        }
        if (rf & 0x800) {
          cto = v1 ? fragment.readInt32BE(q) : fragment.readUInt32BE(q);
          q += 4;
        }
        if (first) {
          info.firstCompositionOffset = cto;
          info.startsWithSync = (f & SAMPLE_IS_NON_SYNC) === 0;
          first = false;
        }
        info.duration += d;
      }
      info.sampleCount += count;
    }
  }
  if (info.baseDecodeTime < 0) info.baseDecodeTime = 0;
  return info;
}

// Upper case, as the single-process ladder writes it (playlist.ts avcCodecString).
const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');

/**
 * RFC 6381 codecs string of the first sample entry of the init's first track: `avc1.PPCCLL` from the
 * avcC record (profile, constraint flags, level), `mp4a.40.N` from the esds (N = the AAC object type).
 */
export function codecsString(init: Buffer): string {
  const stsd = find(init, readBoxes(init), ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd']);
  if (!stsd) throw bad('an init segment without stsd');
  // stsd: full box header, entry_count, then sample entries.
  const entries = readBoxes(init, full(stsd) + 4, stsd.start + stsd.size);
  const entry = entries[0];
  if (!entry) throw bad('an empty stsd');
  const body = entry.start + entry.headerSize;
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    // VisualSampleEntry: 78 bytes of fields before its child boxes.
    const avcC = readBoxes(init, body + 78, entry.start + entry.size).find((b) => b.type === 'avcC');
    if (!avcC) throw bad('an avc1 entry without avcC');
    const c = avcC.start + avcC.headerSize;
    return `${entry.type}.${hex2(init[c + 1]!)}${hex2(init[c + 2]!)}${hex2(init[c + 3]!)}`;
  }
  if (entry.type === 'mp4a') {
    // AudioSampleEntry (version 0): 28 bytes of fields before its child boxes.
    const esds = readBoxes(init, body + 28, entry.start + entry.size).find((b) => b.type === 'esds');
    if (!esds) return 'mp4a.40.2';
    return `mp4a.${esdsObjectType(init.subarray(full(esds), esds.start + esds.size))}`;
  }
  return entry.type;
}

/** "40.2" style: objectTypeIndication in hex, then the AAC audio object type from the DecoderSpecificInfo. */
function esdsObjectType(d: Buffer): string {
  let p = 0;
  const len = () => {
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const b = d[p++]!;
      n = (n << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    return n;
  };
  let oti = 0x40;
  let aot = 2;
  while (p < d.length) {
    const tag = d[p++]!;
    const size = len();
    if (tag === 0x03) {
      // ES_Descriptor: ES_ID(2), flags(1) [+ optional fields]
      const f = d[p + 2]!;
      p += 3;
      if (f & 0x80) p += 2;
      if (f & 0x40) p += 1 + d[p]!;
      if (f & 0x20) p += 2;
    } else if (tag === 0x04) {
      oti = d[p]!;
      p += 13;
    } else if (tag === 0x05) {
      aot = d[p]! >> 3;
      if (aot === 31) aot = 32 + (((d[p]! & 0x07) << 3) | (d[p + 1]! >> 5));
      break;
    } else p += size;
  }
  return `${oti.toString(16)}.${aot}`;
}

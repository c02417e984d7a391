/**
 * Pure: where a fragment's keyframe lies in its bytes, for I-frame playlists (RFC 8216 4.3.3.6): the range
 * from the fragment's `moof` through the end of its first sample (moof, the mdat header, the sample), and
 * whether that first sample is a sync sample (trun first_sample_flags / per-sample flags, else the tfhd
 * default, else the init's trex default).
 */
import { errors } from '../core/errors.js';
import { type Box, readBoxes } from './mp4Boxes.js';

/** One keyframe of a segment: a byte range of its file and the time to the next keyframe, seconds. */
export interface KeyframeRange {
  offset: number;
  length: number;
  duration: number;
}

const SAMPLE_IS_NON_SYNC = 0x10000;

function bad(what: string): Error {
  return errors.transcodeFailed(`ffmpeg wrote a malformed MP4 (${what})`);
}

const kids = (buf: Buffer, b: Box) => readBoxes(buf, b.start + b.headerSize, b.start + b.size);
const body = (b: Box) => b.start + b.headerSize + 4;
const flagsOf = (buf: Buffer, b: Box) => buf.readUIntBE(b.start + b.headerSize + 1, 3);

/** The trex defaults (duration, size, flags) of the init's tracks, by track id. */
export function trexDefaults(init: Buffer): Map<number, { duration: number; size: number; flags: number }> {
  const out = new Map<number, { duration: number; size: number; flags: number }>();
  const moov = readBoxes(init).find((b) => b.type === 'moov');
  const mvex = moov && kids(init, moov).find((b) => b.type === 'mvex');
  for (const trex of mvex ? kids(init, mvex).filter((b) => b.type === 'trex') : []) {
    const p = body(trex);
    out.set(init.readUInt32BE(p), {
      duration: init.readUInt32BE(p + 8),
      size: init.readUInt32BE(p + 12),
      flags: init.readUInt32BE(p + 16),
    });
  }
  return out;
}

export interface FragmentKeyframe {
  /** Bytes from the moof's first byte through the first sample's last byte. */
  length: number;
  /** Whether the first sample is a sync sample. */
  sync: boolean;
  /** Sum of the fragment's sample durations, in the track timescale. */
  duration: number;
}

/**
 * The first sample of one fragment (a moof followed by its mdat, offsets relative to the moof as
 * default-base-is-moof says). Throws when the sample does not lie inside the fragment.
 */
export function fragmentKeyframe(fragment: Buffer, init: Buffer): FragmentKeyframe {
  const top = readBoxes(fragment);
  const moof = top[0];
  if (moof?.type !== 'moof') throw bad('a fragment that does not start with moof');
  const traf = kids(fragment, moof).find((b) => b.type === 'traf');
  if (!traf) throw bad('a moof without traf');
  const trafKids = kids(fragment, traf);
  const tfhd = trafKids.find((b) => b.type === 'tfhd');
  const trun = trafKids.find((b) => b.type === 'trun');
  if (!tfhd || !trun) throw bad('a traf without tfhd or trun');
  const tf = flagsOf(fragment, tfhd);
  if (tf & 0x01) throw bad('an explicit base data offset');
  let p = body(tfhd);
  const defaults = trexDefaults(init).get(fragment.readUInt32BE(p)) ?? { duration: 0, size: 0, flags: 0 };
  let { duration: defDuration, size: defSize, flags: defFlags } = defaults;
  p += 4;
  if (tf & 0x02) p += 4;
  if (tf & 0x08) {
    defDuration = fragment.readUInt32BE(p);
    p += 4;
  }
  if (tf & 0x10) {
    defSize = fragment.readUInt32BE(p);
    p += 4;
  }
  if (tf & 0x20) defFlags = fragment.readUInt32BE(p);

  const rf = flagsOf(fragment, trun);
  let q = body(trun);
  const count = fragment.readUInt32BE(q);
  q += 4;
  if (!(rf & 0x01)) throw bad('a trun without data offset');
  const dataOffset = fragment.readInt32BE(q);
  q += 4;
  let firstFlags: number | undefined;
  if (rf & 0x04) {
    firstFlags = fragment.readUInt32BE(q);
    q += 4;
  }
  let firstSize = defSize;
  let sync = false;
  let duration = 0;
  for (let i = 0; i < count; i++) {
    let d = defDuration;
    let s = defSize;
    let f = i === 0 && firstFlags !== undefined ? firstFlags : defFlags;
    if (rf & 0x100) {
      d = fragment.readUInt32BE(q);
      q += 4;
    }
    if (rf & 0x200) {
      s = fragment.readUInt32BE(q);
      q += 4;
    }
    if (rf & 0x400) {
      f = fragment.readUInt32BE(q);
      q += 4;
    }
    if (rf & 0x800) q += 4;
    if (i === 0) {
      firstSize = s;
      sync = (f & SAMPLE_IS_NON_SYNC) === 0;
    }
    duration += d;
  }
  if (count === 0) throw bad('an empty trun');
  const length = dataOffset + firstSize;
  const mdat = top.find((b) => b.type === 'mdat');
  if (!mdat || dataOffset < mdat.start + mdat.headerSize || length > mdat.start + mdat.size)
    throw bad('a first sample outside its mdat');
  return { length, sync, duration };
}

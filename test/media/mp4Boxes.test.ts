import { describe, expect, it } from 'vitest';
import { isReelError } from '../../src/core/errors.js';
import {
  baseDecodeTime,
  codecsString,
  FragmentReader,
  fragmentInfo,
  readBoxes,
  shiftTfdt,
  splitFragmented,
  trackTimescale,
} from '../../src/media/mp4Boxes.js';

// ---------- a tiny box writer, independent of the code under test ----------

const u8 = (n: number) => Buffer.from([n]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
const box = (type: string, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
};
const fullBox = (type: string, v: number, flags: number, ...parts: Buffer[]) =>
  box(type, u8(v), Buffer.from([(flags >> 16) & 255, (flags >> 8) & 255, flags & 255]), ...parts);

function avcInit(opts: { timescale: number; trexDuration?: number; trackId?: number }): Buffer {
  const id = opts.trackId ?? 1;
  const avcC = box('avcC', Buffer.from([1, 0x64, 0x00, 0x1f, 0xff, 0xe0]));
  const avc1 = box('avc1', Buffer.alloc(78), avcC);
  const stsd = fullBox('stsd', 0, 0, u32(1), avc1);
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(opts.timescale), u32(0), u32(0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), Buffer.from('vide'), Buffer.alloc(13));
  const tkhd = fullBox('tkhd', 0, 3, u32(0), u32(0), u32(id), Buffer.alloc(68));
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', box('stbl', stsd))));
  const trex = fullBox('trex', 0, 0, u32(id), u32(1), u32(opts.trexDuration ?? 0), u32(0), u32(0x10000));
  return Buffer.concat([box('ftyp', Buffer.from('isom'), u32(512)), box('moov', trak, box('mvex', trex))]);
}

function aacInit(objectType: number): Buffer {
  const dsi = Buffer.from([0x05, 0x02, (objectType << 3) | 0x01, 0x90]);
  const dcd = Buffer.concat([Buffer.from([0x04, 13 + dsi.length, 0x40, 0x15]), Buffer.alloc(11), dsi]);
  const es = Buffer.concat([Buffer.from([0x03, 3 + dcd.length, 0, 1, 0]), dcd]);
  const esds = fullBox('esds', 0, 0, es);
  const mp4a = box('mp4a', Buffer.alloc(28), esds);
  const stsd = fullBox('stsd', 0, 0, u32(1), mp4a);
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(48000), u32(0), u32(0));
  const tkhd = fullBox('tkhd', 0, 3, u32(0), u32(0), u32(2), Buffer.alloc(68));
  const trak = box('trak', tkhd, box('mdia', mdhd, box('minf', box('stbl', stsd))));
  return Buffer.concat([box('ftyp', Buffer.from('isom')), box('moov', trak)]);
}

/** moof (tfhd, tfdt, trun) + mdat; durations per sample when given, else tfhd/trex defaults. */
function fragment(opts: {
  tfdt: bigint | number;
  tfdtVersion: 0 | 1;
  samples: number;
  durations?: number[];
  tfhdDuration?: number;
  ctos?: number[];
  firstFlags?: number;
}): Buffer {
  const tfhdFlags = 0x020000 | (opts.tfhdDuration !== undefined ? 0x08 : 0);
  const tfhd = fullBox(
    'tfhd',
    0,
    tfhdFlags,
    u32(1),
    ...(opts.tfhdDuration !== undefined ? [u32(opts.tfhdDuration)] : []),
  );
  const tfdt =
    opts.tfdtVersion === 1
      ? fullBox('tfdt', 1, 0, u64(BigInt(opts.tfdt)))
      : fullBox('tfdt', 0, 0, u32(Number(opts.tfdt)));
  let trunFlags = 0x01;
  if (opts.firstFlags !== undefined) trunFlags |= 0x04;
  if (opts.durations) trunFlags |= 0x100;
  if (opts.ctos) trunFlags |= 0x800;
  const rows: Buffer[] = [];
  for (let i = 0; i < opts.samples; i++) {
    if (opts.durations) rows.push(u32(opts.durations[i]!));
    if (opts.ctos) rows.push(u32(opts.ctos[i]!));
  }
  const trun = fullBox(
    'trun',
    0,
    trunFlags,
    u32(opts.samples),
    u32(0),
    ...(opts.firstFlags !== undefined ? [u32(opts.firstFlags)] : []),
    ...rows,
  );
  return Buffer.concat([
    box('moof', fullBox('mfhd', 0, 0, u32(1)), box('traf', tfhd, tfdt, trun)),
    box('mdat', Buffer.alloc(10, 7)),
  ]);
}

describe('mp4Boxes', () => {
  it('reads top-level boxes, 64-bit sizes and a last box of size 0', () => {
    const big = Buffer.concat([u32(1), Buffer.from('mdat'), u64(20n), Buffer.alloc(4, 1)]);
    const tail = Buffer.concat([u32(0), Buffer.from('free'), Buffer.alloc(5)]);
    const boxes = readBoxes(Buffer.concat([box('ftyp', Buffer.alloc(4)), big, tail]));
    expect(boxes.map((b) => [b.type, b.start, b.size, b.headerSize])).toEqual([
      ['ftyp', 0, 12, 8],
      ['mdat', 12, 20, 16],
      ['free', 32, 13, 8],
    ]);
  });

  it('refuses a box that runs past the end, as a transcode failure', () => {
    const cut = box('moov', Buffer.alloc(40)).subarray(0, 30);
    let err: unknown;
    try {
      readBoxes(cut);
    } catch (e) {
      err = e;
    }
    expect(isReelError(err) && err.code).toBe('REEL_TRANSCODE_FAILED');
  });

  it('splits init (ftyp+moov) from moof+mdat fragments and drops the mfra index', () => {
    const init = avcInit({ timescale: 15360 });
    const f1 = fragment({ tfdt: 0, tfdtVersion: 1, samples: 3, durations: [512, 512, 512] });
    const f2 = fragment({ tfdt: 1536, tfdtVersion: 1, samples: 2, durations: [512, 512] });
    const split = splitFragmented(Buffer.concat([init, f1, f2, box('mfra', Buffer.alloc(8))]));
    expect(split.init.equals(init)).toBe(true);
    expect(split.fragments.map((f) => f.equals(f1) || f.equals(f2))).toEqual([true, true]);
    expect(split.fragments[1]!.equals(f2)).toBe(true);
  });

  it('the streaming reader gives the same init and fragments whatever the pieces', () => {
    const init = avcInit({ timescale: 15360 });
    const frags = [1, 2, 3].map((n) =>
      fragment({ tfdt: n * 1000, tfdtVersion: 1, samples: n, tfhdDuration: 10 }),
    );
    const whole = Buffer.concat([init, ...frags]);
    for (const piece of [1, 7, 64, whole.length]) {
      const reader = new FragmentReader();
      const got: Buffer[] = [];
      let gotInit: Buffer | undefined;
      for (let at = 0; at < whole.length; at += piece) {
        const r = reader.push(whole.subarray(at, at + piece));
        if (r.init) gotInit = r.init;
        got.push(...r.fragments);
      }
      const r = reader.end();
      if (r.init) gotInit = r.init;
      got.push(...r.fragments);
      expect(gotInit?.equals(init), `piece ${piece}`).toBe(true);
      expect(got.length).toBe(3);
      expect(got.map((f, i) => f.equals(frags[i]!))).toEqual([true, true, true]);
    }
  });

  it('shifts version 1 tfdt past 32 bits and version 0 within them, leaving everything else alone', () => {
    const v1 = fragment({ tfdt: 100, tfdtVersion: 1, samples: 1, durations: [1] });
    const shifted = shiftTfdt(v1, 2 ** 33);
    expect(baseDecodeTime(shifted)).toBe(2 ** 33 + 100);
    expect(baseDecodeTime(v1)).toBe(100); // the input is not modified
    expect(shifted.length).toBe(v1.length);
    const diff = [...shifted].map((b, i) => (b !== v1[i] ? i : -1)).filter((i) => i >= 0);
    expect(diff.length).toBe(1); // one byte of the 64-bit field: 100 + 2^33

    const v0 = fragment({ tfdt: 5, tfdtVersion: 0, samples: 1, durations: [1] });
    expect(baseDecodeTime(shiftTfdt(v0, 1000))).toBe(1005);
    expect(() => shiftTfdt(v0, 2 ** 32)).toThrow(/32 bits/);
    expect(() => shiftTfdt(v0, -6)).toThrow();
  });

  it('patches every tfdt of several moofs', () => {
    const two = Buffer.concat([
      fragment({ tfdt: 0, tfdtVersion: 1, samples: 1, durations: [1] }),
      fragment({ tfdt: 60, tfdtVersion: 1, samples: 1, durations: [1] }),
    ]);
    const out = shiftTfdt(two, 40);
    const parts = splitFragmented(Buffer.concat([avcInit({ timescale: 30 }), out])).fragments;
    expect(parts.map(baseDecodeTime)).toEqual([40, 100]);
  });

  it('counts samples and durations from trun, else tfhd, else the trex default', () => {
    const init = avcInit({ timescale: 90000, trexDuration: 3000 });
    expect(trackTimescale(init)).toBe(90000);
    const own = fragmentInfo(
      fragment({ tfdt: 7, tfdtVersion: 1, samples: 3, durations: [3000, 3003, 2997], ctos: [6000, 0, 3000] }),
      init,
    );
    expect(own).toMatchObject({
      sampleCount: 3,
      duration: 9000,
      baseDecodeTime: 7,
      firstCompositionOffset: 6000,
    });
    expect(
      fragmentInfo(fragment({ tfdt: 0, tfdtVersion: 0, samples: 4, tfhdDuration: 1001 }), init).duration,
    ).toBe(4004);
    expect(fragmentInfo(fragment({ tfdt: 0, tfdtVersion: 0, samples: 5 }), init).duration).toBe(15000);
  });

  it('tells whether a fragment starts with a sync sample', () => {
    const init = avcInit({ timescale: 30 });
    // trex default flags say non-sync; the first-sample flags override them.
    expect(fragmentInfo(fragment({ tfdt: 0, tfdtVersion: 1, samples: 2 }), init).startsWithSync).toBe(false);
    expect(
      fragmentInfo(fragment({ tfdt: 0, tfdtVersion: 1, samples: 2, firstFlags: 0x02000000 }), init)
        .startsWithSync,
    ).toBe(true);
  });

  it('writes RFC 6381 codecs strings from avcC and esds', () => {
    expect(codecsString(avcInit({ timescale: 30 }))).toBe('avc1.64001F');
    expect(codecsString(aacInit(2))).toBe('mp4a.40.2');
    expect(codecsString(aacInit(5))).toBe('mp4a.40.5');
  });
});

/** Pure: a fragment's keyframe byte range (moof through the first sample), on boxes built by hand. */
import { describe, expect, it } from 'vitest';
import { fragmentKeyframe } from '../../src/media/keyframes.js';

const u32 = (...ns: number[]) =>
  Buffer.concat(ns.map((n) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])));
const box = (type: string, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
};
const fullBox = (type: string, version: number, flags: number, ...parts: Buffer[]) =>
  box(type, u32(((version << 24) | flags) >>> 0), ...parts);

const NON_SYNC = 0x10000;
// trex: track 1, description 1, default duration 512, size 0, flags non-sync.
const init = box('moov', box('mvex', fullBox('trex', 0, 0, u32(1, 1, 512, 0, NON_SYNC))));

/** moof (tfhd default-base-is-moof, trun with data offset, first-sample flags, sizes) + mdat. */
function fragment(opts: { firstFlags?: number; sizes: number[]; offsetFix?: number }) {
  const trunFlags = 0x001 | 0x200 | (opts.firstFlags !== undefined ? 0x004 : 0);
  const build = (dataOffset: number) =>
    box(
      'moof',
      fullBox('mfhd', 0, 0, u32(1)),
      box(
        'traf',
        fullBox('tfhd', 0, 0x020000, u32(1)),
        fullBox('tfdt', 1, 0, u32(0, 0)),
        fullBox(
          'trun',
          0,
          trunFlags,
          u32(opts.sizes.length, dataOffset),
          opts.firstFlags !== undefined ? u32(opts.firstFlags) : Buffer.alloc(0),
          u32(...opts.sizes),
        ),
      ),
    );
  const moofSize = build(0).length;
  const moof = build(moofSize + 8 + (opts.offsetFix ?? 0));
  const mdat = box(
    'mdat',
    Buffer.alloc(
      opts.sizes.reduce((a, b) => a + b, 0),
      7,
    ),
  );
  return { data: Buffer.concat([moof, mdat]), moofSize };
}

describe('fragmentKeyframe', () => {
  it('the range runs from the moof through the mdat header and the whole first sample', () => {
    const { data, moofSize } = fragment({ firstFlags: 0x2000000, sizes: [300, 50, 40] });
    expect(fragmentKeyframe(data, init)).toEqual({
      length: moofSize + 8 + 300,
      sync: true,
      duration: 3 * 512,
    });
  });

  it('a first sample with the non-sync flag (or the trex default when no first-sample flags) is no keyframe', () => {
    expect(fragmentKeyframe(fragment({ firstFlags: NON_SYNC, sizes: [10] }).data, init).sync).toBe(false);
    expect(fragmentKeyframe(fragment({ sizes: [10, 10] }).data, init).sync).toBe(false);
  });

  it('a first sample outside its mdat, or no moof first, is a malformed MP4', () => {
    expect(() =>
      fragmentKeyframe(fragment({ firstFlags: 0, sizes: [10], offsetFix: 100 }).data, init),
    ).toThrow(/malformed/);
    expect(() => fragmentKeyframe(box('mdat', Buffer.alloc(4)), init)).toThrow(/malformed/);
  });
});

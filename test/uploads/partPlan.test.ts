import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteSlicer, concatSources, ShortStreamError } from '../../src/uploads/byteSlicer.js';
import { planParts, storedSizeProblem } from '../../src/uploads/directRules.js';
import { MAX_PARTS, MIN_PART_SIZE, MiB, partSizeFor, planPatch } from '../../src/uploads/partPlan.js';

const part = 32 * MiB;

describe('planPatch: cutting a tus PATCH into S3 parts', () => {
  it('cuts whole parts; a rest of 5 MiB or more is a part of its own, a smaller one the tail', () => {
    expect(planPatch({ tail: 0, length: 70 * MiB, final: false, partSize: part })).toEqual({
      parts: [part, part, 6 * MiB],
      tail: 0,
    });
    expect(planPatch({ tail: 0, length: 68 * MiB, final: false, partSize: part })).toEqual({
      parts: [part, part],
      tail: 4 * MiB,
    });
  });

  it('puts the last tail in front of the new bytes', () => {
    expect(planPatch({ tail: 4 * MiB, length: 28 * MiB, final: false, partSize: part })).toEqual({
      parts: [part],
      tail: 0,
    });
    expect(planPatch({ tail: 1 * MiB, length: 2 * MiB, final: false, partSize: part })).toEqual({
      parts: [],
      tail: 3 * MiB,
    });
  });

  it('the PATCH that ends the upload leaves nothing over: its last part may be small', () => {
    expect(planPatch({ tail: 4 * MiB, length: 1, final: true, partSize: part })).toEqual({
      parts: [4 * MiB + 1],
      tail: 0,
    });
    expect(planPatch({ tail: 0, length: 2 * part, final: true, partSize: part })).toEqual({
      parts: [part, part],
      tail: 0,
    });
  });

  it('every part but the last obeys S3’s 5 MiB minimum', () => {
    for (const length of [0, 1, 5 * MiB - 1, 5 * MiB, 37 * MiB, 100 * MiB + 3]) {
      for (const tail of [0, 1, 4 * MiB]) {
        const { parts, tail: left } = planPatch({ tail, length, final: false, partSize: part });
        expect(parts.every((p) => p >= MIN_PART_SIZE)).toBe(true);
        expect(left).toBeLessThan(MIN_PART_SIZE);
        expect(parts.reduce((a, b) => a + b, 0) + left).toBe(tail + length);
      }
    }
  });
});

describe('part sizes', () => {
  it('grow with the upload so that it fits in 10,000 parts', () => {
    expect(partSizeFor(undefined, part)).toBe(part);
    expect(partSizeFor(1024 * MiB, part)).toBe(part);
    const huge = 5 * 1024 * 1024 * MiB; // 5 TiB
    expect(Math.ceil(huge / partSizeFor(huge, part))).toBeLessThanOrEqual(MAX_PARTS);
    expect(planParts(100 * MiB)).toEqual({ partSize: 8 * MiB, partCount: 13 });
    expect(planParts(0)).toEqual({ partSize: 8 * MiB, partCount: 1 });
  });
});

describe('ByteSlicer', () => {
  const source = (...chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c)));
  const read = async (it: AsyncIterable<Buffer>) => {
    const out: Buffer[] = [];
    for await (const c of it) out.push(c);
    return Buffer.concat(out).toString();
  };

  it('hands out exact consecutive slices across chunk edges, and the rest in memory', async () => {
    const s = new ByteSlicer(concatSources(source('ab'), source('cdef', 'g', 'hij')));
    expect(await read(s.take(3))).toBe('abc');
    expect(await read(s.take(4))).toBe('defg');
    expect((await s.readUpTo(10)).toString()).toBe('hij');
    expect((await s.readUpTo(10)).length).toBe(0);
  });

  it('a stream that ends early fails the slice and says how much is missing', async () => {
    const s = new ByteSlicer(source('abc'));
    await expect(read(s.take(5))).rejects.toBeInstanceOf(ShortStreamError);
    expect((s.error as ShortStreamError).missing).toBe(2);
  });

  it('a failing stream keeps what arrived for readUpTo, and records why', async () => {
    const failing = (async function* () {
      yield Buffer.from('xyz');
      throw new Error('client went away');
    })();
    const s = new ByteSlicer(failing);
    expect((await s.readUpTo(10)).toString()).toBe('xyz');
    expect((s.error as Error).message).toBe('client went away');
  });
});

describe('storedSizeProblem: the bytes a direct upload stored against its declared size and the limit', () => {
  it('takes exactly the declared size, within the limit', () => {
    expect(storedSizeProblem(1024, 1024, 10 * MiB)).toBeNull();
    expect(storedSizeProblem(10 * MiB, 10 * MiB, 10 * MiB)).toBeNull();
  });
  it('refuses more or fewer bytes than declared (400), and more than the limit (413)', () => {
    const more = storedSizeProblem(6 * MiB, 1024, 10 * MiB)!;
    expect([more.code, more.statusCode]).toEqual(['REEL_UPLOAD_SIZE_MISMATCH', 400]);
    expect(more.message).toMatch(/holds 6291456 bytes .* started with size 1024/);
    const fewer = storedSizeProblem(100, 1024, 10 * MiB)!;
    expect(fewer.code).toBe('REEL_UPLOAD_SIZE_MISMATCH');
    const huge = storedSizeProblem(5 * 1024 * MiB, 1024, 10 * MiB)!;
    expect([huge.code, huge.statusCode]).toEqual(['REEL_UPLOAD_TOO_LARGE', 413]);
    expect(huge.message).toMatch(/at most 10485760 bytes \(REEL_MAX_UPLOAD_BYTES\)/);
  });
});

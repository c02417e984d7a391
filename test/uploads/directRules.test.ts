import { describe, expect, it } from 'vitest';
import { isReelError } from '../../src/core/errors.js';
import {
  checkCompletion,
  checkPartNumbers,
  checkReportedPart,
  expectedPartSize,
  partCountOf,
  planDirectUpload,
} from '../../src/uploads/directRules.js';
import { MiB } from '../../src/uploads/partPlan.js';

const upload = { size: 20 * MiB, partSize: 8 * MiB }; // parts of 8, 8 and 4 MiB
const etag = (n: number) => `"${n.toString(16).padStart(32, '0')}"`;

function refusal(fn: () => void): { code: string; statusCode: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (isReelError(err)) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('direct-upload rules', () => {
  it('plans parts within the limit, and refuses a size above it (413)', () => {
    expect(planDirectUpload(20 * MiB, 100 * MiB)).toEqual({ partSize: 8 * MiB, partCount: 3 });
    expect(refusal(() => planDirectUpload(200 * MiB, 100 * MiB)).statusCode).toBe(413);
  });

  it('derives the part count and each part’s size from the declared size', () => {
    expect(partCountOf(upload)).toBe(3);
    expect([1, 2, 3].map((n) => expectedPartSize(upload, n))).toEqual([8 * MiB, 8 * MiB, 4 * MiB]);
    expect(() => checkPartNumbers(upload, [1, 3])).not.toThrow();
    expect(refusal(() => checkPartNumbers(upload, [2, 4])).message).toMatch(/no part 4/);
  });

  it('a reported part must be one of the upload’s, with an ETag and its exact size', () => {
    expect(() => checkReportedPart(upload, 3, etag(3), 4 * MiB)).not.toThrow();
    expect(refusal(() => checkReportedPart(upload, 4, etag(4), 4 * MiB)).message).toMatch(/no part 4/);
    expect(refusal(() => checkReportedPart(upload, 1, 'nope', 8 * MiB)).message).toMatch(/not an ETag/);
    expect(refusal(() => checkReportedPart(upload, 1, etag(1), MiB)).message).toMatch(/at least/);
    expect(refusal(() => checkReportedPart(upload, 3, etag(3), MiB)).message).toMatch(
      /must be 4194304 bytes/,
    );
  });

  it('a completion must list every part, each stored with the ETag given', () => {
    const stored = new Map([1, 2, 3].map((n) => [n, { etag: etag(n), size: expectedPartSize(upload, n) }]));
    const all = [1, 2, 3].map((n) => ({ partNumber: n, etag: etag(n) }));
    expect(() => checkCompletion(upload, all, stored)).not.toThrow();
    expect(refusal(() => checkCompletion(upload, all.slice(0, 2), stored)).message).toMatch(
      /Part 3 is missing/,
    );
    const wrong = all.map((p) => (p.partNumber === 2 ? { ...p, etag: etag(9) } : p));
    expect(refusal(() => checkCompletion(upload, wrong, stored)).message).toMatch(/ETag of part 2/);
    const fewer = new Map([...stored].filter(([n]) => n !== 2));
    expect(refusal(() => checkCompletion(upload, all, fewer)).message).toMatch(/Part 2 was not uploaded/);
    expect(
      refusal(() => checkCompletion(upload, [...all, { partNumber: 4, etag: etag(4) }], stored)).code,
    ).toBe('REEL_INVALID_REQUEST');
  });
});

/**
 * The part sender on its own: a fake MultipartStorage (parts kept in memory, answers delayed or refused at
 * will) and a recorder that notes what would be written to the database.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { MultipartStorage, StoredPart } from '../../src/core/ports.js';
import { ByteSlicer } from '../../src/uploads/byteSlicer.js';
import { PARTS_IN_FLIGHT, PartSender } from '../../src/uploads/partSender.js';

interface FakeStorage extends MultipartStorage {
  parts: Map<number, Buffer>;
  maxInFlight: number;
}

/** Storage that keeps parts in memory; `delay(n)` ms before answering part n; `refuse(n)` fails it. */
function fakeStorage(
  opts: { delay?: (n: number) => number; refuse?: (n: number) => boolean } = {},
): FakeStorage {
  let inFlight = 0;
  const fake: FakeStorage = {
    parts: new Map(),
    maxInFlight: 0,
    async create() {
      return 'upload-1';
    },
    async uploadPart(_key, _uploadId, partNumber, body, size) {
      inFlight++;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      try {
        const chunks: Buffer[] = [];
        if (Buffer.isBuffer(body)) chunks.push(body);
        else for await (const c of body) chunks.push(Buffer.from(c));
        const bytes = Buffer.concat(chunks);
        await new Promise((r) => setTimeout(r, opts.delay?.(partNumber) ?? 0));
        if (opts.refuse?.(partNumber)) throw Object.assign(new Error('refused'), { name: 'InternalError' });
        if (bytes.length !== size) throw new Error(`part ${partNumber}: ${bytes.length} bytes, not ${size}`);
        fake.parts.set(partNumber, bytes);
        return `"etag-${partNumber}"`;
      } finally {
        inFlight--;
      }
    },
    presignPart: async () => 'https://example.invalid/',
    listParts: async () => null,
    complete: async () => undefined,
    abort: async () => undefined,
  };
  return fake;
}

type Recorded = { part: StoredPart; clearsTail: boolean; last: boolean };

function sender(
  multipart: MultipartStorage,
  o: { firstNew?: number; oldTail?: number; failRecord?: number } = {},
) {
  const recorded: Recorded[] = [];
  const s = new PartSender({
    multipart,
    key: 'sources/v/original',
    uploadId: 'upload-1',
    firstNew: o.firstNew ?? 1,
    oldTail: o.oldTail ?? 0,
    async record(part, how) {
      if (part.partNumber === o.failRecord) throw new Error('database down');
      recorded.push({ part, ...how });
    },
  });
  return { s, recorded };
}

const bytes = (n: number, seed = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (i + seed) % 251));

/** A source that yields its bytes in small chunks, then fails if `failAfter` is set. */
function source(buf: Buffer, failAfter?: number): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < buf.length; i += 1000) {
        if (failAfter !== undefined && i >= failAfter) throw new Error('client went away');
        yield buf.subarray(i, i + 1000);
        await new Promise((r) => setImmediate(r));
      }
    })(),
  );
}

describe('PartSender', () => {
  it('streams parts of known size in order, records each in order, and the last with the stored state', async () => {
    const storage = fakeStorage({ delay: (n) => (n === 1 ? 30 : 0) }); // the first answer comes last
    const { s, recorded } = sender(storage);
    const data = bytes(25_000);
    const slicer = new ByteSlicer(source(data));
    const sizes = [10_000, 10_000, 5_000];
    for (const [i, n] of sizes.entries()) {
      expect(await s.stream(slicer, n, i === sizes.length - 1)).toBe(true);
    }
    await s.bodiesRead;
    const outcome = await s.settle(slicer.error);
    expect(outcome).toEqual({ complete: true, stored: true, nextPart: 4 });
    expect(recorded.map((r) => [r.part.partNumber, r.part.size, r.part.etag, r.last])).toEqual([
      [1, 10_000, '"etag-1"', false],
      [2, 10_000, '"etag-2"', false],
      [3, 5_000, '"etag-3"', true],
    ]);
    expect(Buffer.concat([1, 2, 3].map((n) => storage.parts.get(n)!)).equals(data)).toBe(true);
  });

  it('numbers parts from the first new one; that part clears the old tail', async () => {
    const storage = fakeStorage();
    const { s, recorded } = sender(storage, { firstNew: 4, oldTail: 100 });
    expect(await s.send(bytes(2000), false)).toBe(true);
    expect(await s.send(bytes(2000, 7), false)).toBe(true);
    expect(await s.settle(undefined)).toEqual({ complete: true, stored: false, nextPart: 6 });
    expect(recorded.map((r) => [r.part.partNumber, r.clearsTail, r.last])).toEqual([
      [4, true, false],
      [5, false, false],
    ]);
  });

  it(`keeps at most ${PARTS_IN_FLIGHT} parts in flight, and records in order whatever order storage answers in`, async () => {
    const storage = fakeStorage({ delay: (n) => (10 - n) * 5 });
    const { s, recorded } = sender(storage);
    for (let i = 0; i < 8; i++) expect(await s.send(bytes(1000, i), i === 7)).toBe(true);
    const outcome = await s.settle(undefined);
    expect(outcome.complete && outcome.stored).toBe(true);
    expect(storage.maxInFlight).toBeLessThanOrEqual(PARTS_IN_FLIGHT);
    expect(recorded.map((r) => r.part.partNumber)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a part storage refuses: the parts before it are kept, none after, and the refusal is reported', async () => {
    const storage = fakeStorage({ refuse: (n) => n === 2, delay: (n) => (n === 2 ? 20 : 0) });
    const { s, recorded } = sender(storage);
    for (let i = 0; i < 3; i++) await s.send(bytes(1000), false);
    const outcome = await s.settle(undefined);
    expect(outcome.complete).toBe(false);
    expect(outcome.nextPart).toBe(2);
    expect((outcome.storageError as Error).name).toBe('InternalError');
    expect(recorded.map((r) => r.part.partNumber)).toEqual([1]);
    // Once a part failed, no more are started.
    expect(await s.send(bytes(1000), false)).toBe(false);
  });

  it('a client that goes away mid-part: the whole parts before it are kept, and no storage error is reported', async () => {
    const storage = fakeStorage();
    const { s, recorded } = sender(storage);
    const slicer = new ByteSlicer(source(bytes(30_000), 15_000));
    for (let i = 0; i < 3; i++) {
      if (!(await s.stream(slicer, 10_000, i === 2))) break;
    }
    await s.bodiesRead;
    expect((slicer.error as Error).message).toBe('client went away');
    const outcome = await s.settle(slicer.error);
    expect(outcome.complete).toBe(false);
    expect(outcome.stored).toBe(false);
    expect(outcome.storageError).toBeUndefined();
    expect(recorded.map((r) => r.part.partNumber)).toEqual([1]);
    expect(storage.parts.has(2)).toBe(false);
  });

  it('a part that cannot be recorded counts as failed: nothing after it is recorded', async () => {
    const storage = fakeStorage();
    const { s, recorded } = sender(storage, { failRecord: 2 });
    for (let i = 0; i < 3; i++) await s.send(bytes(1000), i === 2);
    const outcome = await s.settle(undefined);
    expect(outcome).toMatchObject({ complete: false, stored: false, nextPart: 2 });
    expect((outcome.storageError as Error).message).toBe('database down');
    expect(recorded.map((r) => r.part.partNumber)).toEqual([1]);
  });
});

/**
 * The tus DataStore contract, run against both stores Reel uploads through: the file store (disk staging,
 * src/uploads/tusFileStore.ts) and the S3 tus store (src/uploads/tusS3Store.ts) on s3rver. The cases are
 * those of tus-node-server's own store suite (test/src/stores.test.ts): create, write, getUpload,
 * declareUploadLength, remove, expiration, plus a write that resumes after an interruption.
 *
 * Refusing a PATCH at the wrong offset is the tus server's job, not the store's: it is tested through
 * HTTP (test/http/api.test.ts, test/http/uploadsHostile.test.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type DataStore, Upload } from '@tus/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getMultipart, listParts } from '../../src/db/multipart.js';
import { keys } from '../../src/storage/keys.js';
import { createS3Store } from '../../src/storage/s3.js';
import { TusFileStore } from '../../src/uploads/tusFileStore.js';
import { S3TusStore } from '../../src/uploads/tusS3Store.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

interface StoreUnderTest {
  store: DataStore;
  /** The bytes of a finished upload, as the worker will read them. */
  content(id: string): Promise<Buffer>;
}

interface StoreFactory {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A store whose uploads expire after expirationMs. */
  make(expirationMs: number): StoreUnderTest;
}

const readAll = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
};

let n = 0;
const newId = (what: string) => `${what}-${process.pid}-${++n}`;
const bytes = (size: number, seed = 1) =>
  Buffer.from(Array.from({ length: size }, (_, i) => (i * seed) % 251));
const metadata = { filename: 'world_domination_plan.pdf', is_confidential: null };

/** A stream that sends `data` and then fails, as a client whose connection drops. */
function interrupted(data: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data);
      } else this.destroy(new Error('connection reset'));
    },
  });
}

function tusStoreContract(name: string, factory: StoreFactory) {
  describe(`tus DataStore contract: ${name}`, () => {
    let s: StoreUnderTest;
    beforeAll(async () => {
      await factory.setup();
      s = factory.make(60_000);
    });
    afterAll(() => factory.teardown());

    describe('create', () => {
      it('reports the creation, termination and expiration extensions', () => {
        for (const ext of ['creation', 'creation-defer-length', 'termination', 'expiration']) {
          expect(s.store.hasExtension(ext)).toBe(true);
        }
      });

      it('resolves to the upload, and getUpload has offset 0, the size and the metadata', async () => {
        const file = new Upload({ id: newId('create'), size: 1000, offset: 0, metadata });
        const created = await s.store.create(file);
        expect(created).toBeInstanceOf(Upload);
        const upload = await s.store.getUpload(file.id);
        expect(upload.offset).toBe(0);
        expect(upload.size).toBe(1000);
        expect(upload.metadata).toEqual(metadata);
      });

      it('stores a deferred length', async () => {
        const file = new Upload({ id: newId('deferred'), offset: 0 });
        await s.store.create(file);
        const upload = await s.store.getUpload(file.id);
        expect(upload.sizeIsDeferred).toBe(true);
        expect(upload.size).toBeUndefined();
      });
    });

    describe('write and getUpload', () => {
      it('rejects getUpload and write for an upload that does not exist', async () => {
        await expect(s.store.getUpload('doesnt_exist')).rejects.toMatchObject({ status_code: 404 });
        await expect(s.store.write(Readable.from([bytes(10)]), 'doesnt_exist', 0)).rejects.toBeDefined();
      });

      it('writes a stream, resolves the new offset, and getUpload agrees', async () => {
        const data = bytes(300_000);
        const file = new Upload({ id: newId('write'), size: data.length, offset: 0, metadata });
        await s.store.create(file);
        expect(await s.store.write(Readable.from([data]), file.id, 0)).toBe(data.length);
        expect((await s.store.getUpload(file.id)).offset).toBe(data.length);
        expect((await s.content(file.id)).equals(data)).toBe(true);
      });

      it('writes in several requests, each at the offset the last one ended', async () => {
        const data = bytes(250_000, 7);
        const file = new Upload({ id: newId('patches'), size: data.length, offset: 0 });
        await s.store.create(file);
        let offset = 0;
        for (const end of [100_000, 180_000, data.length]) {
          offset = await s.store.write(Readable.from([data.subarray(offset, end)]), file.id, offset);
          expect(offset).toBe(end);
          expect((await s.store.getUpload(file.id)).offset).toBe(end);
        }
        expect((await s.content(file.id)).equals(data)).toBe(true);
      });

      it('a write interrupted mid-way keeps what it stored, and a write from that offset finishes the upload', async () => {
        const data = bytes(200_000, 3);
        const file = new Upload({ id: newId('resume'), size: data.length, offset: 0 });
        await s.store.create(file);
        await Promise.allSettled([s.store.write(interrupted(data.subarray(0, 80_000)), file.id, 0)]);
        const { offset } = await s.store.getUpload(file.id);
        expect(offset).toBeGreaterThanOrEqual(0);
        expect(offset).toBeLessThanOrEqual(80_000);
        expect(await s.store.write(Readable.from([data.subarray(offset)]), file.id, offset)).toBe(
          data.length,
        );
        expect((await s.content(file.id)).equals(data)).toBe(true);
      });
    });

    describe('declareUploadLength', () => {
      it('sets the length of an upload created without one', async () => {
        const file = new Upload({ id: newId('declare'), offset: 0, metadata });
        await s.store.create(file);
        let upload = await s.store.getUpload(file.id);
        expect(upload.size).toBeUndefined();
        expect(upload.sizeIsDeferred).toBe(true);
        await s.store.declareUploadLength(file.id, 10);
        upload = await s.store.getUpload(file.id);
        expect(upload.size).toBe(10);
        expect(upload.sizeIsDeferred).toBe(false);
      });
    });

    describe('remove (termination)', () => {
      it('rejects when the upload does not exist', async () => {
        await expect(s.store.remove('doesnt_exist')).rejects.toBeDefined();
      });

      it('removes an upload, which then is gone', async () => {
        const file = new Upload({ id: newId('remove'), size: 1000, offset: 0 });
        await s.store.create(file);
        await s.store.write(Readable.from([bytes(400)]), file.id, 0);
        await s.store.remove(file.id);
        const err = await s.store.getUpload(file.id).catch((e: { status_code?: number }) => e);
        expect([404, 410]).toContain((err as { status_code?: number }).status_code);
      });
    });

    describe('expiration', () => {
      it('deleteExpired removes an unfinished upload older than the expiration period', async () => {
        const short = factory.make(100);
        expect(short.store.getExpiration()).toBe(100);
        const file = new Upload({ id: newId('expire'), size: 1000, offset: 0, metadata });
        await short.store.create(file);
        await short.store.write(Readable.from([bytes(400)]), file.id, 0);
        await new Promise((r) => setTimeout(r, 250)); // real time: the file store reads the clock, the S3 store now()
        expect(await short.store.deleteExpired()).toBeGreaterThanOrEqual(1);
        await expect(short.store.getUpload(file.id)).rejects.toBeDefined();
      });
    });
  });
}

{
  let dir: string;
  tusStoreContract('file store (disk staging)', {
    setup: async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-tus-file-'));
    },
    teardown: async () => fs.rmSync(dir, { recursive: true, force: true }),
    make: (expirationMs) => ({
      store: new TusFileStore({ directory: dir, expirationPeriodInMilliseconds: expirationMs }),
      content: async (id) => fs.readFileSync(path.join(dir, id)),
    }),
  });
}

{
  let s3: TestS3;
  let db: TestDb;
  tusStoreContract('S3 tus store (s3rver)', {
    setup: async () => {
      [s3, db] = await Promise.all([startS3(), pgliteDb()]);
    },
    teardown: async () => {
      await db.drop();
      await s3.close();
    },
    make: (expirationMs) => {
      const objects = createS3Store({
        bucket: s3.bucket,
        prefix: `t${Math.random().toString(36).slice(2)}`,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: s3.credentials,
      });
      return {
        store: new S3TusStore(db.db, objects, objects.multipart, { expirationMs }),
        // What the worker's assembleUpload does: join the recorded parts, then read the source.
        content: async (id) => {
          const row = (await getMultipart(db.db, id))!;
          const parts = await listParts(db.db, id);
          await objects.multipart.complete(
            keys.source(id),
            row.s3_upload_id,
            parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })),
          );
          return readAll(await objects.get(keys.source(id)));
        },
      };
    },
  });
}

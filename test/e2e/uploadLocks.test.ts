/**
 * Two upload-role processes behind one "load balancer" (the test picks which one a request goes to), on
 * one Postgres database and one S3 bucket: a tus upload moves between them, and a request to one makes a
 * stalled request for the same upload on the other end, through the Postgres upload locker, instead of
 * both writing the upload at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store, type S3Store } from '../../src/storage/s3.js';
import { assembleUpload } from '../../src/uploads/assemble.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { type ReelProcess, spawnReel } from '../helpers/process.js';
import { waitFor } from '../helpers/reel.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { tusHeaders } from '../helpers/tus.js';

const MiB = 1024 * 1024;
const API_KEY = 'reel_test_upload_locks_key_0123456789';
const PREFIX = 'locks';
const auth = tusHeaders.base({ Authorization: `Bearer ${API_KEY}` });

/** 10 MiB where every 4 KiB block differs: more than one S3 part, and misplaced bytes show. */
function testData(): Buffer {
  const data = Buffer.alloc(10 * MiB);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
  return data;
}

const readAll = async (r: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
};

describe('two upload-role processes share tus uploads over Postgres and S3', () => {
  let s3: TestS3;
  let pg: TestDb;
  let store: S3Store;
  let a: ReelProcess;
  let b: ReelProcess;
  let urlA = '';
  let urlB = '';

  beforeAll(async () => {
    s3 = await startS3();
    pg = await postgresDb();
    store = createS3Store({
      bucket: s3.bucket,
      prefix: PREFIX,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-upload-locks-'));
    const env = {
      ...s3.env,
      REEL_S3_PREFIX: PREFIX,
      DATABASE_URL: pg.url!,
      REEL_API_KEY: API_KEY,
      HOST: '127.0.0.1',
      PORT: '0',
    };
    a = spawnReel(['serve', '--roles', 'upload,play'], { ...env, REEL_DATA_DIR: path.join(dataDir, 'a') });
    b = spawnReel(['serve', '--roles', 'upload,play'], { ...env, REEL_DATA_DIR: path.join(dataDir, 'b') });
    const urls = await Promise.all([a, b].map(async (p) => (await p.waitForOutput(/URL:\s+(\S+)/))[1]!));
    urlA = urls[0]!;
    urlB = urls[1]!;
  });
  afterAll(async () => {
    for (const p of [a, b]) p?.child.kill('SIGKILL');
    await Promise.all([a, b].map((p) => p?.exited));
    await pg?.drop();
    await s3?.close();
  });

  async function create(size: number): Promise<string> {
    const res = await fetch(`${urlA}/v1/uploads`, {
      method: 'POST',
      headers: tusHeaders.create(size, { filename: 'locks.bin' }, auth),
    });
    expect(res.status).toBe(201);
    return res.headers.get('location')!.split('/').pop()!;
  }
  const patch = (
    base: string,
    id: string,
    offset: number,
    body: Buffer | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ) =>
    fetch(`${base}/v1/uploads/${id}`, {
      method: 'PATCH',
      headers: tusHeaders.patch(offset, auth),
      body: body instanceof Buffer ? new Uint8Array(body) : body,
      signal,
      duplex: 'half',
    } as RequestInit);
  const offsetOn = async (base: string, id: string) => {
    const res = await fetch(`${base}/v1/uploads/${id}`, { method: 'HEAD', headers: auth });
    expect(res.status).toBe(200);
    return Number(res.headers.get('upload-offset'));
  };
  /** The uploaded bytes, from the source object (its parts joined here, as a worker would first). */
  const stored = async (id: string) => {
    await assembleUpload(pg.db, store, id);
    return readAll(await store.get(`sources/${id}/original`));
  };
  const lockHolder = async (id: string) =>
    (await pg.db.query<{ holder: string }>('SELECT holder FROM upload_locks WHERE upload_id = $1', [id]))[0]
      ?.holder;

  it('an upload started on one process continues on the other, byte for byte', async () => {
    const data = testData();
    const id = await create(data.length);
    const first = await patch(urlA, id, 0, data.subarray(0, 5 * MiB));
    expect(first.status).toBe(204);
    expect(await offsetOn(urlB, id)).toBe(5 * MiB);
    const rest = await patch(urlB, id, 5 * MiB, data.subarray(5 * MiB));
    expect(rest.status).toBe(204);
    expect(Number(rest.headers.get('upload-offset'))).toBe(data.length);
    expect((await stored(id)).equals(data)).toBe(true);
    // Every request let go of its lock.
    expect(await lockHolder(id)).toBeUndefined();
  });

  it('a PATCH to one process ends a stalled PATCH of the same upload on the other instead of both writing', async () => {
    const data = testData();
    const id = await create(data.length);
    // Process A gets 1 MiB, then the client stalls with the request still open.
    const stalled = new AbortController();
    let sent = 0;
    const slowBody = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 0) {
          controller.enqueue(data.subarray(0, MiB));
          sent = MiB;
          return;
        }
        await new Promise((resolve) => stalled.signal.addEventListener('abort', resolve));
      },
    });
    let endedAt = 0;
    // A's request ends when it is asked to let go: @tus/server answers with what it kept (or just closes).
    const onA = patch(urlA, id, 0, slowBody, stalled.signal)
      .then((res) => ({ status: res.status, offset: res.headers.get('upload-offset') }))
      .catch(() => ({ status: 0, offset: null }))
      .finally(() => {
        endedAt = Date.now();
      });
    const holderA = await waitFor('A to lock the upload', () => lockHolder(id), 5000);
    expect(holderA.startsWith(`${os.hostname()}:${a.child.pid}:`)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // the first MiB reaches A

    // The client gives up on A and sends the whole upload from offset 0 to B. B asks A to let go; A's
    // request ends and keeps what it got, so B finds the offset moved and refuses with 409: the client
    // asks for the offset and carries on from there, and the upload is whole.
    const startedOnB = Date.now();
    const onB = await patch(urlB, id, 0, data);
    expect(onB.status).toBe(409);
    expect(endedAt).toBeGreaterThan(0);
    expect(endedAt).toBeLessThanOrEqual(Date.now());
    expect(Date.now() - startedOnB).toBeLessThan(10_000);
    const offset = await offsetOn(urlB, id);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(MiB);
    const endOfA = await onA;
    if (endOfA.status !== 0) expect(endOfA).toEqual({ status: 204, offset: String(offset) });
    const rest = await patch(urlB, id, offset, data.subarray(offset));
    expect(rest.status).toBe(204);
    expect((await stored(id)).equals(data)).toBe(true);
    stalled.abort();
    // Both processes are fine.
    for (const base of [urlA, urlB])
      expect((await fetch(`${base}/v1/videos/${id}`, { headers: auth })).status).toBe(200);
  });
});

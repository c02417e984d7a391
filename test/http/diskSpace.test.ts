/**
 * The disk filling up (issue 9, point 15, the upload side): below REEL_MIN_FREE_MIB of free space new
 * uploads and upload bytes are refused with 507 and a sentence saying so; a disk that fills during a
 * PATCH answers 507 too, the bytes written so far kept for the client to resume.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Upload } from '@tus/server';
import { afterAll, describe, expect, it } from 'vitest';
import { isReelError } from '../../src/core/errors.js';
import { TusFileStore } from '../../src/uploads/tusFileStore.js';
import { rawRequest } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';
import { tusHeaders } from '../helpers/tus.js';

const MiB = 1024 * 1024;

const create = (t: TestReel, size: number) =>
  rawRequest(t.url, '/v1/uploads', 'POST', tusHeaders.create(size, undefined, t.auth));
const patch = (t: TestReel, id: string, offset: number, body: Buffer) =>
  rawRequest(t.url, `/v1/uploads/${id}`, 'PATCH', tusHeaders.patch(offset, t.auth), body);
const offsetOf = async (t: TestReel, id: string) =>
  Number(
    (await rawRequest(t.url, `/v1/uploads/${id}`, 'HEAD', tusHeaders.base(t.auth))).headers['upload-offset'],
  );

function expect507(res: { status: number; body: string }, message: RegExp) {
  expect(res.status).toBe(507);
  const body = JSON.parse(res.body);
  expect(body).toMatchObject({
    code: 'REEL_INSUFFICIENT_STORAGE',
    statusCode: 507,
    error: 'Insufficient Storage',
  });
  expect(body.message).toMatch(message);
}

describe('uploads when the disk is (nearly) full', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('below REEL_MIN_FREE_MIB, tus creation and PATCH answer 507; HEAD still answers and nothing changes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-test-'));
    const flags = { roles: 'upload,play', 'api-key': 'reel_disk_space_test_key' };
    // An upload begun while there is room.
    const before = await startTestReel(flags, dir);
    const created = await create(before, 1000);
    expect(created.status).toBe(201);
    const id = String(created.headers.location).split('/').pop()!;
    expect((await patch(before, id, 0, Buffer.alloc(400, 1))).status).toBe(204);
    await before.close();

    // The same server with a threshold above any real free space: the check trips.
    const full = await startTestReel({ ...flags, 'min-free-mib': String(2 ** 40) }, dir);
    cleanups.push(() => full.close());
    const videos = async () =>
      (await full.reel.db.query<{ n: number }>('SELECT count(*)::int AS n FROM videos'))[0]!.n;
    const n = await videos();
    expect507(await create(full, 1000), /low on disk space.*REEL_MIN_FREE_MIB/);
    expect(await videos()).toBe(n);
    expect507(await patch(full, id, 400, Buffer.alloc(600, 2)), /low on disk space/);
    expect(await offsetOf(full, id)).toBe(400);
    expect(fs.statSync(path.join(dir, 'uploads', id)).size).toBe(400);
  });

  it('a write into a full disk is a 507 from the staging store, not a generic write error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-staging-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new TusFileStore({ directory: dir });
    await store.create(new Upload({ id: 'ok', size: 100, offset: 0 }));
    expect(await store.write(Readable.from([Buffer.alloc(10)]), 'ok', 0)).toBe(10);
    // /dev/full answers every write with ENOSPC, as a full disk does.
    await store.create(new Upload({ id: 'full', size: 100, offset: 0 }));
    fs.rmSync(path.join(dir, 'full'));
    fs.symlinkSync('/dev/full', path.join(dir, 'full'));
    const err = await store.write(Readable.from([Buffer.alloc(10)]), 'full', 0).catch((e: unknown) => e);
    expect(isReelError(err) && err.statusCode).toBe(507);
    expect(isReelError(err) && err.code).toBe('REEL_INSUFFICIENT_STORAGE');
  });

  // A real full disk: a 2 MiB tmpfs as the staging directory (needs the right to mount, as root in CI).
  const canMount = (() => {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
    const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-mount-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      fs.rmSync(probe, { recursive: true, force: true });
    }
  })();

  it.skipIf(!canMount)(
    'a PATCH that fills the disk answers 507, keeps the bytes written, and resumes once there is room',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-test-'));
      const staging = path.join(dir, 'uploads');
      fs.mkdirSync(staging);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', staging]);
      const t = await startTestReel({ roles: 'upload,play', 'min-free-mib': '0' }, dir);
      cleanups.push(async () => {
        await t.close();
        execFileSync('umount', [staging]);
      });
      const data = Buffer.alloc(4 * MiB);
      for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
      const created = await create(t, data.length);
      expect(created.status).toBe(201);
      const id = String(created.headers.location).split('/').pop()!;

      expect507(await patch(t, id, 0, data), /disk is full.*resume/);
      const offset = await offsetOf(t, id);
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThan(2 * MiB);
      expect(fs.statSync(path.join(staging, id)).size).toBe(offset);

      execFileSync('mount', ['-o', 'remount,size=16m', staging]);
      const rest = await patch(t, id, offset, data.subarray(offset));
      expect(rest.status).toBe(204);
      const chunks: Buffer[] = [];
      for await (const c of await t.reel.store.get(`sources/${id}/original`)) chunks.push(Buffer.from(c));
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
    },
  );
});

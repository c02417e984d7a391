/** One conformance suite that every object store passes: the filesystem store and the S3 store. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/core/ports.js';
import { createFsStore } from '../../src/storage/fs.js';
import { createS3Store } from '../../src/storage/s3.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const text = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString();
};

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.close());

const stores: [string, () => ObjectStore][] = [
  ['filesystem', () => createFsStore(fs.mkdtempSync(path.join(os.tmpdir(), 'reel-store-')))],
  [
    'S3 (s3rver)',
    () =>
      createS3Store({
        bucket: s3.bucket,
        prefix: `t${Math.random().toString(36).slice(2)}`,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: s3.credentials,
      }),
  ],
];

describe.each(stores)('object store: %s', (_name, make) => {
  let store: ObjectStore;
  beforeAll(() => {
    store = make();
  });

  it('puts buffers and streams, gets them back whole and by byte range', async () => {
    await store.put('a/one.txt', Buffer.from('0123456789'));
    await store.put('a/two.txt', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(await text(await store.get('a/one.txt'))).toBe('0123456789');
    expect(await text(await store.get('a/two.txt'))).toBe('hello world');
    expect(await text(await store.get('a/one.txt', { start: 2, end: 4 }))).toBe('234');
    expect(await text(await store.get('a/one.txt', { start: 9, end: 9 }))).toBe('9');
    expect(await store.stat('a/one.txt')).toEqual({ size: 10 });
  });

  it('replaces an object that is put again', async () => {
    await store.put('r/x', Buffer.from('first'));
    await store.put('r/x', Buffer.from('second'));
    expect(await text(await store.get('r/x'))).toBe('second');
  });

  it('stores a local file, and moves it when asked', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-src-'));
    const file = path.join(dir, 'f.bin');
    const data = Buffer.alloc(9 * 1024 * 1024 + 17, 7); // over one multipart part
    fs.writeFileSync(file, data);
    await store.putFile('f/copy.bin', file);
    expect(fs.existsSync(file)).toBe(true);
    await store.putFile('f/moved.bin', file, { move: true });
    expect(fs.existsSync(file)).toBe(false);
    expect((await store.stat('f/moved.bin'))?.size).toBe(data.length);
    const back = await text(await store.get('f/copy.bin', { start: data.length - 3, end: data.length - 1 }));
    expect(back).toBe('\x07\x07\x07');
  });

  it('lists keys under a prefix, recursively, and deletes by key and by prefix', async () => {
    await store.put('p/x/1', Buffer.from('1'));
    await store.put('p/x/y/2', Buffer.from('2'));
    await store.put('p/z', Buffer.from('3'));
    expect(await store.list('p/x/')).toEqual(['p/x/1', 'p/x/y/2']);
    await store.delete('p/z');
    expect(await store.stat('p/z')).toBeNull();
    await store.deletePrefix('p/x/');
    expect(await store.list('p/')).toEqual([]);
    await store.deletePrefix('p/nothing/'); // deleting nothing is fine
    await expect(store.deletePrefix('p')).rejects.toMatchObject({ code: 'REEL_INVALID_REQUEST' });
  });

  it('says what is missing with REEL_NOT_FOUND, and stat returns null', async () => {
    await expect(store.get('missing/key')).rejects.toMatchObject({ code: 'REEL_NOT_FOUND', statusCode: 404 });
    expect(await store.stat('missing/key')).toBeNull();
    expect(await store.list('missing/')).toEqual([]);
  });

  it('refuses keys that could escape the store', async () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/.hidden/../x', 'a\\b', '']) {
      await expect(store.put(bad, Buffer.from('x')), bad).rejects.toMatchObject({
        code: 'REEL_INVALID_REQUEST',
      });
    }
  });
});

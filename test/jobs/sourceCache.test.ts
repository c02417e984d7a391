/**
 * A worker's copy of an S3 source: every task of a video on this worker reads one local copy, downloaded
 * once however many tasks ask at the same moment; a failed download is not kept; a copy is dropped when the
 * video is done here, and not while a task still reads it. The store is the filesystem store without its
 * local-path shortcut, so that it behaves as a remote store (reads are streams, counted).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db, ObjectStore } from '../../src/core/ports.js';
import { SourceCache } from '../../src/jobs/sourceCache.js';
import { createFsStore } from '../../src/storage/fs.js';

describe('SourceCache', () => {
  let dir: string;
  let store: ObjectStore;
  let gets: string[];
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-cache-'));
    const fsStore = createFsStore(path.join(dir, 'objects'));
    gets = [];
    // A remote-like store: no localPath, every read counted.
    store = {
      put: (k, b) => fsStore.put(k, b),
      putFile: (k, f, o) => fsStore.putFile(k, f, o),
      get: (k, r) => {
        gets.push(k);
        return fsStore.get(k, r);
      },
      stat: (k) => fsStore.stat(k),
      list: (p) => fsStore.list(p),
      delete: (k) => fsStore.delete(k),
      deletePrefix: (p) => fsStore.deletePrefix(p),
    };
    await store.put('sources/v1/original', Buffer.alloc(3_000_000, 7));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const db = {} as Db;

  it('downloads a source once for every task of the video on this worker', async () => {
    const cache = new SourceCache({ db, store }, path.join(dir, 'cache'));
    const got = await Promise.all([1, 2, 3].map(() => cache.acquire('v1', 'sources/v1/original')));
    expect(gets).toEqual(['sources/v1/original']);
    const files = new Set(got.map(([f]) => f));
    expect(files.size).toBe(1);
    const [file] = [...files];
    expect(fs.statSync(file!).size).toBe(3_000_000);
    // Still in use by two tasks: not dropped.
    got[0]![1]();
    await cache.drop('v1');
    expect(fs.existsSync(file!)).toBe(true);
    got[1]![1]();
    got[2]![1]();
    const [again, release] = await cache.acquire('v1', 'sources/v1/original');
    expect(again).toBe(file);
    expect(gets).toHaveLength(1);
    release();
    await cache.drop('v1');
    expect(fs.existsSync(file!)).toBe(false);
    // Dropped: the next task downloads it again.
    await cache.acquire('v1', 'sources/v1/original');
    expect(gets).toHaveLength(2);
  });

  it('does not keep a failed download: the next task tries again', async () => {
    const cache = new SourceCache({ db, store }, path.join(dir, 'cache'));
    await expect(cache.acquire('v2', 'sources/v2/original')).rejects.toThrow();
    await store.put('sources/v2/original', Buffer.from('now it is there'));
    const [file] = await cache.acquire('v2', 'sources/v2/original');
    expect(fs.readFileSync(file, 'utf8')).toBe('now it is there');
    expect(gets.filter((k) => k === 'sources/v2/original')).toHaveLength(2);
  });

  it('on a filesystem store, reads the stored object in place', async () => {
    const fsStore = createFsStore(path.join(dir, 'objects'));
    const cache = new SourceCache({ db, store: fsStore }, path.join(dir, 'cache'));
    const [file] = await cache.acquire('v1', 'sources/v1/original');
    expect(file).toBe(fsStore.localPath!('sources/v1/original'));
    expect(fs.existsSync(path.join(dir, 'cache'))).toBe(false);
  });
});

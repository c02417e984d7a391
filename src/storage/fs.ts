/** An object store on the local filesystem, under one root directory. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors } from '../core/errors.js';
import type { ByteRange, ObjectStore } from '../core/ports.js';
import { assertSafeKey } from './keys.js';

/** Bytes per read when an object is streamed (measured: `npm run bench:serve`). */
const READ_CHUNK_BYTES = 256 * 1024;

export function createFsStore(root: string): ObjectStore {
  const base = path.resolve(root);
  fs.mkdirSync(base, { recursive: true });
  const tmpDir = path.join(base, '.tmp');
  fs.mkdirSync(tmpDir, { recursive: true });

  const resolve = (key: string) => {
    const p = path.resolve(base, assertSafeKey(key));
    if (p !== base && !p.startsWith(base + path.sep))
      throw errors.invalidRequest('Object key outside the store.');
    return p;
  };
  /** Writes go to a temporary file first and are renamed into place: readers never see half an object. */
  const tmpPath = () =>
    path.join(tmpDir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);

  return {
    async put(key, body) {
      const dest = resolve(key);
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      const tmp = tmpPath();
      try {
        if (Buffer.isBuffer(body)) await fsp.writeFile(tmp, body);
        else await pipeline(body as Readable, fs.createWriteStream(tmp));
        await fsp.rename(tmp, dest);
      } catch (err) {
        await fsp.rm(tmp, { force: true });
        throw err;
      }
    },
    async putFile(key, localPath, opts) {
      const dest = resolve(key);
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      if (opts?.move) {
        try {
          await fsp.rename(localPath, dest);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        }
      }
      // A hard link shares the bytes without copying them; a copy is the fallback across filesystems.
      const tmp = tmpPath();
      await fsp.link(localPath, tmp).catch(() => fsp.copyFile(localPath, tmp));
      await fsp.rename(tmp, dest);
      if (opts?.move) await fsp.rm(localPath, { force: true });
    },
    async get(key, range?: ByteRange) {
      const p = resolve(key);
      const handle = await fsp.open(p, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'EISDIR') throw errors.objectNotFound(key);
        throw err;
      });
      const stat = await handle.stat();
      if (!stat.isFile()) {
        await handle.close();
        throw errors.objectNotFound(key);
      }
      // Large reads: a segment goes out in a few big writes rather than many 64 KiB ones.
      return handle.createReadStream({ ...range, highWaterMark: READ_CHUNK_BYTES });
    },
    async stat(key) {
      try {
        const s = await fsp.stat(resolve(key));
        return s.isFile() ? { size: s.size } : null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async list(prefix) {
      const dir = resolve(prefix);
      const out: string[] = [];
      const walk = async (d: string) => {
        let entries: fs.Dirent[];
        try {
          entries = await fsp.readdir(d, { withFileTypes: true });
        } catch (err) {
          if (
            (err as NodeJS.ErrnoException).code === 'ENOENT' ||
            (err as NodeJS.ErrnoException).code === 'ENOTDIR'
          )
            return;
          throw err;
        }
        for (const e of entries) {
          const full = path.join(d, e.name);
          if (e.isDirectory()) await walk(full);
          else out.push(path.relative(base, full).split(path.sep).join('/'));
        }
      };
      await walk(dir);
      return out.sort();
    },
    async delete(key) {
      await fsp.rm(resolve(key), { force: true });
    },
    async deletePrefix(prefix) {
      if (!prefix.endsWith('/')) throw errors.invalidRequest('A prefix to delete must end with "/".');
      await fsp.rm(resolve(prefix), { recursive: true, force: true });
    },
    localPath(key) {
      return resolve(key);
    },
  };
}

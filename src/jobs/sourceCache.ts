/**
 * Where a worker's tasks read a video's source. On a filesystem store: the stored object itself. On S3:
 * a worker-local copy, downloaded once per worker process and shared by every task of that video it runs
 * (one download however many chunks; ffmpeg then seeks in a local file). Copies live in
 * {dataDir}/cache/{video}-{pid}; they are dropped when the video is done here, after an idle hour, and
 * when a process that died left them (sweepDeadWorkDirs).
 */
import { createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Db, ObjectStore } from '../core/ports.js';
import { assembleUpload } from '../uploads/assemble.js';

const IDLE_MS = 60 * 60 * 1000;

interface Entry {
  file: Promise<string>;
  usedAt: number;
  users: number;
}

export class SourceCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly deps: { db: Db; store: ObjectStore },
    readonly dir: string,
  ) {}

  /**
   * The local path of the video's source, and a release to call when the task is done with it. A failed
   * download is not kept: the next task tries again.
   */
  async acquire(videoId: string, sourceKey: string): Promise<[string, () => void]> {
    const { store } = this.deps;
    if (store.localPath) return [store.localPath(sourceKey), () => undefined];
    let entry = this.entries.get(videoId);
    if (!entry) {
      const file = this.download(videoId, sourceKey);
      entry = { file, usedAt: Date.now(), users: 0 };
      this.entries.set(videoId, entry);
      file.catch(() => {
        if (this.entries.get(videoId)?.file === file) this.entries.delete(videoId);
      });
    }
    entry.users++;
    const e = entry;
    const release = () => {
      e.users--;
      e.usedAt = Date.now();
    };
    try {
      return [await e.file, release];
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Drops the copy of a video this worker is done with (ready, failed or deleted), unless in use. */
  async drop(videoId: string): Promise<void> {
    const e = this.entries.get(videoId);
    if (!e || e.users > 0) return;
    this.entries.delete(videoId);
    await fsp.rm(this.pathOf(videoId), { force: true }).catch(() => undefined);
  }

  /** Drops copies nobody used for an hour. */
  async sweep(now = Date.now()): Promise<void> {
    for (const [videoId, e] of this.entries)
      if (e.users === 0 && now - e.usedAt > IDLE_MS) await this.drop(videoId);
  }

  private pathOf(videoId: string): string {
    return path.join(this.dir, `${videoId}-${process.pid}`);
  }

  private async download(videoId: string, sourceKey: string): Promise<string> {
    const { db, store } = this.deps;
    // A tus upload on S3 may be stored as parts not yet joined into the source object.
    if (store.multipart) await assembleUpload(db, store, videoId);
    await fsp.mkdir(this.dir, { recursive: true });
    const dest = this.pathOf(videoId);
    const tmp = `${dest}.part`;
    await pipeline(await store.get(sourceKey), createWriteStream(tmp));
    await fsp.rename(tmp, dest);
    return dest;
  }
}

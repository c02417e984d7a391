/**
 * The worker's housekeeping, apart from any one attempt: removing the outputs of attempts that never
 * published (orphan prefixes), and the work directories of worker processes that died.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Db, ObjectStore } from '../core/ports.js';
import { claimOrphan, collectableOrphans, markOrphanCollected, releaseOrphan } from '../db/jobs.js';
import { processAlive } from '../lock.js';

/**
 * An attempt's work directory: {dataDir}/work/{video}-a{attempt}-{pid}, so that the directories of a
 * process that died can be told apart and removed (sweepDeadWorkDirs).
 */
export function workDirOf(dataDir: string, videoId: string, attempt: number): string {
  return path.join(dataDir, 'work', `${videoId}-a${attempt}-${process.pid}`);
}

/** Removes the outputs of attempts that did not publish, once no live lease can still be writing them. */
export async function collectOrphans(
  deps: { db: Db; store: ObjectStore; log: Logger },
  graceSeconds: number,
): Promise<void> {
  const { db, store, log } = deps;
  try {
    for (const prefix of await collectableOrphans(db, graceSeconds)) {
      // Claimed first: an attempt that publishes at this moment either got there first (and the prefix
      // is no longer ours to delete) or finds it claimed and publishes nothing.
      if (!(await claimOrphan(db, prefix, graceSeconds))) continue;
      try {
        await store.deletePrefix(prefix);
      } catch (err) {
        await releaseOrphan(db, prefix);
        throw err;
      }
      await markOrphanCollected(db, prefix);
      log.info({ prefix }, 'removed outputs of an attempt that did not publish');
    }
  } catch (err) {
    log.warn({ err }, 'collecting orphaned outputs failed; will try again');
  }
}

/** Work directories are named {video}-a{attempt}-{pid}: those of processes that died are removed. */
export async function sweepDeadWorkDirs(dir: string, log: Logger): Promise<void> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(name.split('-').pop());
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await fsp.rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
    log.info({ dir: name }, 'removed the work directory of a worker that died');
  }
}

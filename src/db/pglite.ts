/** Embedded Postgres (PGlite, WebAssembly) in the data directory: the zero-install default. */
import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from '../core/ports.js';

/**
 * Postgres settings on top of PGlite's own start parameters. Its shared memory lives in the WebAssembly
 * memory and is resident from the start: initdb's shared_buffers=128MB alone made ~145 MB of an idle
 * embedded server. Reel's metadata is small and the data files stay in the OS page cache, so 16 MB of
 * buffers (wal_buffers follows: 1/32 of it) is enough; `bench:memory` measures it.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/** `loadDataDir`: a tarball of a data directory (PGlite's dumpDataDir) to start from, when `dir` is new. */
export async function openPglite(dir: string | undefined, opts: { loadDataDir?: Blob } = {}): Promise<Db> {
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const pg = new PGlite(dir, {
    startParams: START_PARAMS,
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
  });
  await pg.waitReady;
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const res = await q.query<T>(sql, params);
      return res.rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    ...wrap(pg),
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    close: () => pg.close(),
    listen: (channel, onNotify) => pg.listen(channel, onNotify),
  };
}

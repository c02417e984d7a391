/** Embedded Postgres (PGlite, WebAssembly) in the data directory: the zero-install default. */
import { execFile } from 'node:child_process';
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

/**
 * Makes a new data directory (initdb) in a child process. initdb runs a second WebAssembly instance whose
 * memory this process would keep until it exits: a first `reel serve` idled at 250 MB against 183 MB for
 * every later start (`npm run bench:memory`).
 */
async function initInChild(dir: string): Promise<void> {
  // Made beside it and renamed into place: an initdb cut short leaves no half-made directory behind.
  const tmp = `${dir}.new-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await runInitdb(tmp);
  fs.rmdirSync(dir); // empty (see openPglite)
  fs.renameSync(tmp, dir);
}

async function runInitdb(dir: string): Promise<void> {
  const entry = import.meta.resolve('@electric-sql/pglite');
  const code = [
    `const { PGlite } = await import(${JSON.stringify(entry)});`,
    `const pg = new PGlite(${JSON.stringify(dir)}, { startParams: ${JSON.stringify(START_PARAMS)} });`,
    'await pg.waitReady;',
    'await pg.close();',
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', code],
      { timeout: 120_000 },
      (err, _stdout, stderr) =>
        err
          ? reject(new Error(`creating the embedded database in ${dir} failed: ${stderr || err.message}`))
          : resolve(),
    );
  });
}

/**
 * `loadDataDir`: a tarball of a data directory (PGlite's dumpDataDir) to start from, when `dir` is new.
 * `initInChild`: a new `dir` is made by a child process (the server's own data directory).
 */
export async function openPglite(
  dir: string | undefined,
  opts: { loadDataDir?: Blob; initInChild?: boolean } = {},
): Promise<Db> {
  if (dir) fs.mkdirSync(dir, { recursive: true });
  // Only a directory with nothing in it yet (anything else is PGlite's to open as it is).
  if (dir && opts.initInChild && !opts.loadDataDir && fs.readdirSync(dir).length === 0)
    await initInChild(dir);
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

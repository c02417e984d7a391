/**
 * A migrated, empty PGlite data directory as a tarball, made once per set of migrations and kept in the
 * temp dir: starting PGlite from it takes about 1 s on this machine, against 3–5 s for a new cluster
 * (initdb in WebAssembly), and the suite starts PGlite well over a hundred times.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { listMigrations, migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';

let template: Promise<Blob> | undefined;

async function build(): Promise<Blob> {
  const pgliteVersion = JSON.parse(
    fs.readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ).version as string;
  const hash = crypto.createHash('sha256').update(pgliteVersion);
  for (const m of listMigrations()) hash.update(m.name).update(m.sql);
  const file = path.join(os.tmpdir(), `reel-pglite-template-${hash.digest('hex').slice(0, 16)}.tar`);
  if (fs.existsSync(file)) return new Blob([fs.readFileSync(file)]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-pglite-template-'));
  try {
    const db = await openPglite(dir);
    await migrate(db);
    await db.close();
    const pg = new PGlite(dir);
    await pg.waitReady;
    const dump = await pg.dumpDataDir('none');
    await pg.close();
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(tmp, file);
    return dump;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
/** The migrated template (built on first use). */
export function pgliteTemplate(): Promise<Blob> {
  template ??= build();
  return template;
}

/** Fills a new PGlite data directory from the template (no-op when it already holds a database). */
export async function seedPgliteDir(dir: string): Promise<void> {
  if (fs.existsSync(path.join(dir, 'PG_VERSION'))) return;
  const pg = new PGlite(dir, { loadDataDir: await pgliteTemplate() });
  await pg.waitReady;
  await pg.close();
}

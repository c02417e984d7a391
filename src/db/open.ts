/** Opens the database the configuration names (Postgres or embedded PGlite) and migrates it. */
import path from 'node:path';
import type { StorageConfig } from '../config.js';
import type { Db } from '../core/ports.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

export async function openDb(config: StorageConfig): Promise<Db> {
  const db = config.databaseUrl
    ? await openPostgres(config.databaseUrl)
    : await openPglite(path.join(config.dataDir, 'pg'), { initInChild: true });
  await migrate(db);
  return db;
}

/** Databases for tests: an in-memory PGlite, or a fresh database on the machine's Postgres. */
import crypto from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/core/ports.js';
import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { pgliteTemplate } from './pgliteTemplate.js';

export const POSTGRES_ADMIN_URL =
  process.env.REEL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  db: Db;
  url?: string;
  drop(): Promise<void>;
}

export async function pgliteDb(): Promise<TestDb> {
  const db = await openPglite(undefined, { loadDataDir: await pgliteTemplate() });
  await migrate(db);
  return { db, drop: () => db.close() };
}

/** A new, migrated database on the local Postgres server, dropped afterwards. */
export async function postgresDb(): Promise<TestDb> {
  const name = `reel_test_${crypto.randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = await openPostgres(url);
  await migrate(db);
  return {
    db,
    url,
    async drop() {
      await db.close();
      const a = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

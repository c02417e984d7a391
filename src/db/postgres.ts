/**
 * A real Postgres server through node-postgres, for deployments that scale out.
 *
 * The server may restart or drop connections at any time. A query that runs into that rejects with the
 * driver's error (callers already retry or log), the broken connection leaves the pool, and the next
 * query opens a fresh one, so everything works again once the server is back. A connection that breaks
 * while idle or while a transaction holds it never crashes the process: node-postgres emits 'error' on
 * the client, and an 'error' event with no listener would throw.
 */
import pg from 'pg';
import type { Db, Queryable } from '../core/ports.js';

// bigint (int8) columns hold counts and sizes that fit a JS number.
pg.types.setTypeParser(20, (v) => Number(v));

export interface PostgresOptions {
  /** Most connections this process opens (default 10). */
  max?: number;
  /** Told about connections that broke while idle in the pool (the pool has already dropped them). */
  onIdleError?: (err: Error) => void;
}

/** SQLSTATE classes and driver messages that mean the connection, not the statement, failed. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
    if (code.startsWith('08') || /^57P0[1-3]$/.test(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))
      return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
    err.message,
  );
}

export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    // A server that accepts TCP but never answers must not hang a caller forever.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 10_000,
    // Notice connections that died without a FIN (a server host gone, a NAT dropping the flow).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  pool.on('error', (err) => {
    // An idle client lost its connection (a server restart, for one): the pool has removed it already
    // and opens a new one for the next query.
    opts.onIdleError?.(err);
  });

  const wrap = (q: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const res = await q.query(sql, params as unknown[]);
      return res.rows as T[];
    },
    async exec(sql: string) {
      await q.query(sql);
    },
  });

  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      // While a client is checked out the pool does not listen for its errors; without this listener a
      // connection that drops between two statements of the transaction would crash the process.
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onError);
      let releaseWith: Error | undefined;
      try {
        await client.query('BEGIN');
        const out = await fn(wrap(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        if (broken || isConnectionError(err)) {
          // The server rolls back a transaction whose connection is gone; this client is unusable.
          releaseWith = broken ?? (err as Error);
        } else {
          await client.query('ROLLBACK').catch((rollbackErr: Error) => {
            releaseWith = rollbackErr;
          });
        }
        throw err;
      } finally {
        client.removeListener('error', onError);
        // Passing an error makes the pool discard the client instead of reusing it.
        client.release(releaseWith ?? broken);
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Wakes idle workers when a job is queued, without polling: LISTEN reel_jobs on a dedicated Postgres
 * connection (the queue runs pg_notify in the same transaction that queues a job). The connection is
 * re-opened with backoff when it drops; after a reconnect the worker is woken once, since jobs may have
 * been queued while nobody listened. Polling stays as the safety net, and is the only way on PGlite.
 */
import pg from 'pg';
import type { Logger } from 'pino';

export const JOBS_CHANNEL = 'reel_jobs';

export function listenForJobs(url: string, onJob: () => void, log: Logger): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let delay = 500;
  let timer: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: url });
    client = c;
    c.on('notification', () => onJob());
    c.on('error', (err) => {
      log.warn({ err: err.message }, 'job notifications: connection lost; reconnecting');
    });
    c.on('end', () => {
      if (closed || client !== c) return;
      client = undefined;
      timer = setTimeout(() => void connect(), delay);
      delay = Math.min(delay * 2, 10_000);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${JOBS_CHANNEL}`);
      delay = 500;
      onJob();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'job notifications: cannot connect; retrying');
      await c.end().catch(() => undefined);
      if (client === c && !closed) {
        client = undefined;
        timer = setTimeout(() => void connect(), delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  };
  void connect();

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}

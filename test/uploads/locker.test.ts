/**
 * The tus Locker over Postgres: two lockers, each with its own pool and LISTEN connection, stand for two
 * upload-role processes on one database.
 */
import { ERRORS } from '@tus/server';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/core/ports.js';
import { openPostgres } from '../../src/db/postgres.js';
import { PostgresUploadLocker, type UploadLockerOptions } from '../../src/uploads/locker.js';
import { postgresDb, type TestDb } from '../helpers/db.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PostgresUploadLocker', () => {
  let pg: TestDb;
  const opened: { locker: PostgresUploadLocker; db: Db }[] = [];
  let n = 0;

  beforeAll(async () => {
    pg = await postgresDb();
  });
  afterEach(async () => {
    for (const { locker, db } of opened.splice(0)) {
      await locker.close();
      await db.close();
    }
  });
  afterAll(async () => {
    await pg.drop();
  });

  /** A locker with its own connections: one "process". */
  async function processLocker(opts: UploadLockerOptions = {}) {
    const db = await openPostgres(pg.url!);
    const locker = new PostgresUploadLocker(db, pg.url!, log, { reaskMs: 100, ...opts });
    opened.push({ locker, db });
    return locker;
  }
  const newId = () => `upload${++n}`;
  const holderOf = async (id: string) =>
    (await pg.db.query<{ holder: string }>('SELECT holder FROM upload_locks WHERE upload_id = $1', [id]))[0]
      ?.holder;
  const never = () => undefined;

  it('a request in another process makes the holder let go, and gets the lock once it has', async () => {
    const [a, b] = [await processLocker(), await processLocker()];
    const id = newId();
    const lockA = a.newLock(id);
    let releasedAt = 0;
    await lockA.lock(new AbortController().signal, () => {
      // Like @tus/server: the holder's request winds down for a while, then unlocks.
      setTimeout(() => {
        releasedAt = Date.now();
        void lockA.unlock();
      }, 300);
    });
    expect(await holderOf(id)).toBe(lockA.holder);

    const lockB = b.newLock(id);
    await lockB.lock(new AbortController().signal, never);
    expect(releasedAt).toBeGreaterThan(0); // not before A let go
    expect(Date.now() - releasedAt).toBeLessThan(1000); // and soon after
    expect(await holderOf(id)).toBe(lockB.holder);
    await lockB.unlock();
    expect(await holderOf(id)).toBeUndefined();
  });

  it('two requests in one process: the second makes the first let go, as MemoryLocker does', async () => {
    const a = await processLocker();
    const id = newId();
    const first = a.newLock(id);
    let asked = 0;
    await first.lock(new AbortController().signal, () => {
      asked++;
      void first.unlock();
    });
    const second = a.newLock(id);
    await second.lock(new AbortController().signal, never);
    expect(asked).toBe(1);
    expect(await holderOf(id)).toBe(second.holder);
    await second.unlock();
  });

  it('the lock of a process that stopped renewing expires by itself and is taken over', async () => {
    const b = await processLocker();
    const id = newId();
    // A process died holding the upload: its row stays until its lease ends.
    await pg.db.query(
      `INSERT INTO upload_locks (upload_id, holder, expires_at) VALUES ($1, 'dead-process', now() + interval '600 milliseconds')`,
      [id],
    );
    const started = Date.now();
    const lockB = b.newLock(id);
    await lockB.lock(new AbortController().signal, never);
    expect(Date.now() - started).toBeGreaterThan(450);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await holderOf(id)).toBe(lockB.holder);
    await lockB.unlock();
  });

  it('a holder that renews keeps its lock past the lease; a waiter then fails with ERR_LOCK_TIMEOUT', async () => {
    const a = await processLocker({ leaseMs: 300, renewMs: 60 });
    const b = await processLocker({ acquireTimeoutMs: 1000 });
    const id = newId();
    const lockA = a.newLock(id);
    let asked = 0;
    // A holder that ignores requests to let go (a request still draining).
    await lockA.lock(new AbortController().signal, () => {
      asked++;
    });
    const started = Date.now();
    await expect(b.newLock(id).lock(new AbortController().signal, never)).rejects.toBe(
      ERRORS.ERR_LOCK_TIMEOUT,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(asked).toBe(1);
    expect(await holderOf(id)).toBe(lockA.holder);
    await lockA.unlock();
  });

  it('an aborted request stops waiting at once and leaves the holder alone', async () => {
    const [a, b] = [await processLocker(), await processLocker()];
    const id = newId();
    const lockA = a.newLock(id);
    await lockA.lock(new AbortController().signal, never);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 150);
    const started = Date.now();
    await expect(b.newLock(id).lock(abort.signal, never)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    expect(Date.now() - started).toBeLessThan(600);
    expect(await holderOf(id)).toBe(lockA.holder);
    // Aborted before it started: no attempt at all.
    await expect(b.newLock(id).lock(AbortSignal.abort(), never)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    await lockA.unlock();
  });

  it('a holder whose lock was taken from it ends its own request', async () => {
    const a = await processLocker({ leaseMs: 400, renewMs: 50 });
    const id = newId();
    const lockA = a.newLock(id);
    let asked = false;
    await lockA.lock(new AbortController().signal, () => {
      asked = true;
    });
    // Another process took the upload over (say, this one's lease ran out while it was cut off).
    await pg.db.query(`UPDATE upload_locks SET holder = 'someone-else' WHERE upload_id = $1`, [id]);
    for (let i = 0; i < 40 && !asked; i++) await sleep(25);
    expect(asked).toBe(true);
    // Its unlock leaves the new holder's row alone.
    await lockA.unlock();
    expect(await holderOf(id)).toBe('someone-else');
  });

  it('closing a locker lets go of the locks it holds, so nobody waits for a lease to end', async () => {
    const [a, b] = [await processLocker(), await processLocker()];
    const id = newId();
    await a.newLock(id).lock(new AbortController().signal, never);
    const waiting = b.newLock(id).lock(new AbortController().signal, never);
    await sleep(100);
    await a.close();
    const started = Date.now();
    await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

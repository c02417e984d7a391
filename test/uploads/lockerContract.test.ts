/**
 * The tus Locker contract, run against both lockers Reel uses: @tus/server's in-process MemoryLocker (one
 * process on PGlite) and PostgresUploadLocker (several upload-role processes on Postgres). What only the
 * Postgres locker does (leases, takeover, other processes) is in locker.test.ts.
 */
import { ERRORS, type Locker, MemoryLocker } from '@tus/server';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/core/ports.js';
import { openPostgres } from '../../src/db/postgres.js';
import { PostgresUploadLocker } from '../../src/uploads/locker.js';
import { postgresDb, type TestDb } from '../helpers/db.js';

interface LockerFactory {
  /** A locker whose requests wait at most acquireTimeoutMs for a lock. */
  make(acquireTimeoutMs: number): Promise<Locker>;
  setup?(): Promise<void>;
  cleanup?(): Promise<void>;
  teardown?(): Promise<void>;
}

const never = () => undefined;
const signal = () => new AbortController().signal;

function lockerContract(name: string, factory: LockerFactory) {
  describe(`Locker contract: ${name}`, () => {
    let n = 0;
    const newId = () => `contract${++n}`;
    if (factory.setup) beforeAll(factory.setup);
    if (factory.cleanup) afterEach(factory.cleanup);
    if (factory.teardown) afterAll(factory.teardown);

    it('locks and unlocks; the lock is free again after unlock', async () => {
      const locker = await factory.make(1000);
      const id = newId();
      const a = locker.newLock(id);
      await a.lock(signal(), never);
      await a.unlock();
      const b = locker.newLock(id);
      const started = Date.now();
      await b.lock(signal(), never);
      expect(Date.now() - started).toBeLessThan(500);
      await b.unlock();
    });

    it('locks on different ids do not wait for each other', async () => {
      const locker = await factory.make(1000);
      const a = locker.newLock(newId());
      const b = locker.newLock(newId());
      await a.lock(signal(), never);
      await b.lock(signal(), never);
      await Promise.all([a.unlock(), b.unlock()]);
    });

    it('a second request asks the holder to let go, waits, and gets the lock once it is released', async () => {
      const locker = await factory.make(5000);
      const id = newId();
      const holder = locker.newLock(id);
      let asked = 0;
      let releasedAt = 0;
      await holder.lock(signal(), () => {
        // MemoryLocker asks again on each retry; the holder winds down once.
        if (asked++ > 0) return;
        // Like @tus/server: the holder's request winds down for a while, then unlocks.
        setTimeout(() => {
          releasedAt = Date.now();
          void holder.unlock();
        }, 200);
      });
      const second = locker.newLock(id);
      await second.lock(signal(), never);
      expect(asked).toBeGreaterThanOrEqual(1);
      expect(releasedAt).toBeGreaterThan(0); // not before the holder let go
      expect(Date.now() - releasedAt).toBeLessThan(1000); // and soon after
      await second.unlock();
    });

    it('a request the holder never makes way for fails with ERR_LOCK_TIMEOUT', async () => {
      const locker = await factory.make(500);
      const id = newId();
      const holder = locker.newLock(id);
      let asked = 0;
      await holder.lock(signal(), () => {
        asked++;
      });
      const started = Date.now();
      await expect(locker.newLock(id).lock(signal(), never)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(asked).toBeGreaterThanOrEqual(1);
      await holder.unlock();
    });
  });
}

lockerContract('MemoryLocker (PGlite: one process)', {
  make: async (acquireTimeoutMs) => new MemoryLocker({ acquireLockTimeout: acquireTimeoutMs }),
});

{
  let pg: TestDb;
  const opened: { locker: PostgresUploadLocker; db: Db }[] = [];
  const log = pino({ level: 'silent' });
  lockerContract('PostgresUploadLocker (Postgres)', {
    setup: async () => {
      pg = await postgresDb();
    },
    make: async (acquireTimeoutMs) => {
      const db = await openPostgres(pg.url!);
      const locker = new PostgresUploadLocker(db, pg.url!, log, { reaskMs: 100, acquireTimeoutMs });
      opened.push({ locker, db });
      return locker;
    },
    cleanup: async () => {
      for (const { locker, db } of opened.splice(0)) {
        await locker.close();
        await db.close();
      }
    },
    teardown: async () => {
      await pg.drop();
    },
  });
}

/**
 * A tus Locker shared by every upload-role process on one Postgres database, so that two requests for the
 * same upload (a PATCH and a HEAD, say, sent to two processes behind a load balancer) never work on it at
 * once. @tus/server's default MemoryLocker only sees the requests of its own process.
 *
 * - A lock is a row of upload_locks, taken in one statement: inserted, or taken over when the row there has
 *   expired. The holder renews expires_at while it works, so the row of a process that died (or lost the
 *   database) expires by itself within the lease. Only the database clock decides expiry.
 * - A request that finds the upload locked asks the holder to let go, as tus wants (a client that sends a
 *   new request has given up on the old one): pg_notify on reel_upload_release, which every process
 *   LISTENs to; the process holding the lock calls the holder's requestRelease, and @tus/server ends that
 *   request after its drain time. The waiter retries with a short backoff, and asks again now and then (a
 *   notification sent while a listener reconnected is lost), until it holds the lock, its request is
 *   aborted, or the acquire timeout passes (ERR_LOCK_TIMEOUT, as MemoryLocker does).
 * - A holder that finds its row taken, or cannot renew it for most of a lease, ends its own request the
 *   same way: it can no longer be sure it is alone.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/server';
import type { Logger } from 'pino';
import type { Queryable } from '../core/ports.js';
import { type ChannelListener, listenOnChannel } from '../db/listen.js';
import { isConnectionError } from '../db/postgres.js';
import {
  askUploadRelease,
  releaseUploadLock,
  renewUploadLock,
  takeUploadLock,
  UPLOAD_RELEASE_CHANNEL,
} from '../db/uploadLocks.js';

export interface UploadLockerOptions {
  /** How long a lock lasts without renewal (default 20 s): the longest a dead process blocks an upload. */
  leaseMs?: number;
  /** How often a holder renews its lease (default a quarter of the lease). */
  renewMs?: number;
  /** How long a request waits for a lock before it fails (default 30 s, as MemoryLocker). */
  acquireTimeoutMs?: number;
  /** How often a waiting request asks the holder again to let go (default 1 s). */
  reaskMs?: number;
}

const MIN_RETRY_MS = 20;
const MAX_RETRY_MS = 250;

/** Waits ms, or less when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class PostgresUploadLocker implements Locker {
  readonly leaseMs: number;
  readonly renewMs: number;
  readonly acquireTimeoutMs: number;
  readonly reaskMs: number;
  /** The locks this process holds now, by upload id. */
  private readonly held = new Map<string, PostgresUploadLock>();
  private readonly listener: ChannelListener;
  private readonly processTag = `${os.hostname()}:${process.pid}`;
  private closed = false;

  constructor(
    readonly db: Queryable,
    databaseUrl: string,
    readonly log: Logger,
    opts: UploadLockerOptions = {},
  ) {
    this.leaseMs = opts.leaseMs ?? 20_000;
    this.renewMs = opts.renewMs ?? Math.max(1, Math.floor(this.leaseMs / 4));
    this.acquireTimeoutMs = opts.acquireTimeoutMs ?? 30_000;
    this.reaskMs = opts.reaskMs ?? 1000;
    this.listener = listenOnChannel(
      databaseUrl,
      UPLOAD_RELEASE_CHANNEL,
      { onNotify: (id) => this.held.get(id)?.askToRelease(), label: 'upload lock releases' },
      log,
    );
  }

  newLock(id: string): PostgresUploadLock {
    return new PostgresUploadLock(this, id, `${this.processTag}:${crypto.randomUUID()}`);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  track(lock: PostgresUploadLock, holding: boolean): void {
    if (holding) this.held.set(lock.id, lock);
    else if (this.held.get(lock.id) === lock) this.held.delete(lock.id);
  }

  /** Asks whoever holds the lock on an upload, in this process or another, to let go. */
  async requestRelease(id: string): Promise<void> {
    this.held.get(id)?.askToRelease();
    await askUploadRelease(this.db, id);
  }

  /** Stops listening and lets go of the locks still held (on shutdown, after the HTTP server closed). */
  async close(): Promise<void> {
    this.closed = true;
    await this.listener.close();
    await Promise.all([...this.held.values()].map((lock) => lock.unlock()));
  }
}

export class PostgresUploadLock implements Lock {
  private renewTimer: NodeJS.Timeout | undefined;
  private requestReleaseFn: RequestRelease | undefined;
  private releaseAsked = false;

  constructor(
    private readonly locker: PostgresUploadLocker,
    readonly id: string,
    readonly holder: string,
  ) {}

  async lock(stopSignal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { locker } = this;
    const deadline = Date.now() + locker.acquireTimeoutMs;
    let lastAsked = Number.NEGATIVE_INFINITY;
    let retryMs = MIN_RETRY_MS;
    for (;;) {
      if (stopSignal.aborted || locker.isClosed) throw ERRORS.ERR_LOCK_TIMEOUT;
      const sentAt = Date.now();
      let acquired = false;
      try {
        acquired = await this.tryAcquire();
      } catch (err) {
        // A dropped connection may come back before the deadline; any other error is for the caller.
        if (!isConnectionError(err)) throw err;
        locker.log.warn({ err, uploadId: this.id }, 'taking an upload lock failed; retrying');
      }
      if (acquired) {
        if (stopSignal.aborted || locker.isClosed) {
          await this.deleteRow();
          throw ERRORS.ERR_LOCK_TIMEOUT;
        }
        this.requestReleaseFn = requestRelease;
        locker.track(this, true);
        this.startRenewing(sentAt);
        return;
      }
      const now = Date.now();
      if (now >= deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
      if (now - lastAsked >= locker.reaskMs) {
        lastAsked = now;
        await locker.requestRelease(this.id).catch((err) => {
          locker.log.warn({ err, uploadId: this.id }, 'asking for an upload lock failed');
        });
      }
      await pause(Math.min(retryMs, deadline - Date.now()), stopSignal);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    }
  }

  async unlock(): Promise<void> {
    this.stopRenewing();
    this.locker.track(this, false);
    await this.deleteRow().catch((err) => {
      // The row expires by itself at the end of its lease.
      this.locker.log.warn({ err, uploadId: this.id }, 'releasing an upload lock failed');
    });
  }

  /** Tells the request holding this lock to end (once). */
  askToRelease(): void {
    if (this.releaseAsked || !this.requestReleaseFn) return;
    this.releaseAsked = true;
    void Promise.resolve()
      .then(() => this.requestReleaseFn?.())
      .catch((err) => this.locker.log.warn({ err, uploadId: this.id }, 'ending an upload request failed'));
  }

  /** Inserts the row, or takes over an expired one; true when this lock holds the upload now. */
  private async tryAcquire(): Promise<boolean> {
    return takeUploadLock(this.locker.db, this.id, this.holder, this.locker.leaseMs);
  }

  private async deleteRow(): Promise<void> {
    await releaseUploadLock(this.locker.db, this.id, this.holder);
  }

  private startRenewing(acquiredAt: number): void {
    const { locker } = this;
    // Local time of the last statement that surely extended the lease (taken when it was sent).
    let renewedAt = acquiredAt;
    let renewing = false;
    const renew = async () => {
      if (renewing) return;
      renewing = true;
      const sentAt = Date.now();
      try {
        const renewed = await renewUploadLock(locker.db, this.id, this.holder, locker.leaseMs);
        if (this.renewTimer === undefined) return; // unlocked meanwhile
        if (renewed) {
          renewedAt = sentAt;
        } else {
          locker.log.warn({ uploadId: this.id }, 'an upload lock was lost: ending its request');
          this.stopRenewing();
          this.askToRelease();
        }
      } catch (err) {
        if (this.renewTimer === undefined) return;
        if (Date.now() - renewedAt >= locker.leaseMs - locker.renewMs) {
          locker.log.warn({ err, uploadId: this.id }, 'cannot renew an upload lock: ending its request');
          this.askToRelease();
        } else {
          locker.log.warn({ err, uploadId: this.id }, 'renewing an upload lock failed; retrying');
        }
      } finally {
        renewing = false;
      }
    };
    this.renewTimer = setInterval(() => void renew(), locker.renewMs);
    this.renewTimer.unref();
  }

  private stopRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }
}

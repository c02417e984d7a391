/**
 * Sends webhook deliveries: claim (a lease, like a job's) → POST the signed event → record the attempt.
 * Runs in every process with the upload role (never in a worker alone); with several processes each attempt is made by
 * one of them (FOR UPDATE SKIP LOCKED), and the deliveries of a process that dies are taken over when
 * their leases run out (twice the timeout + 1 s, by the database clock).
 *
 * Woken by pg_notify on `reel_webhooks` (sent by the outbox trigger in the very transaction that changed
 * the video: over a listening connection on Postgres, in process on PGlite), by a timer set to the next
 * due retry or lease expiry, and by a slow poll in case a notification was lost.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { IntegrationConfig } from '../config.js';
import type { Db } from '../core/ports.js';
import { type ChannelListener, listenOnChannel } from '../db/listen.js';
import {
  type ClaimedDelivery,
  claimDeliveries,
  expireDeliveryLeases,
  msUntilNextDelivery,
  pruneWebhookHistory,
  recordAttempt,
  WEBHOOKS_CHANNEL,
} from '../db/webhooks.js';
import { outboundRequest } from '../net/outbound.js';
import { renderEventBody } from './payload.js';
import { retryDelaySeconds } from './schedule.js';
import { webhookHeaders } from './signature.js';

/** Polled this often at most, in case a notification was lost. */
const FALLBACK_POLL_MS = 5_000;
/** Housekeeping (pruning old events) this often. */
const PRUNE_EVERY_MS = 60 * 60_000;
/** At most this much of a receiver's answer is read (and then dropped). */
const MAX_RESPONSE_BYTES = 4096;
/** A lease lasts this many times the request's timeout, plus a second: ample for one attempt. */
const LEASE_FACTOR = 2;

export interface DelivererDeps {
  db: Db;
  config: IntegrationConfig & { databaseUrl?: string | undefined };
  log: Logger;
  workerId?: string;
}

export class WebhookDeliverer {
  readonly id: string;
  private readonly deps: DelivererDeps;
  private readonly leaseSeconds: number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private listener: ChannelListener | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private pumping = false;
  /** The pump under way (or the last one): stop() waits for it, so that nothing is claimed after. */
  private pumped: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;

  constructor(deps: DelivererDeps) {
    this.deps = deps;
    this.id = deps.workerId ?? `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
    this.leaseSeconds = deps.config.webhookTimeoutSeconds * LEASE_FACTOR + 1;
  }

  async start(): Promise<void> {
    const { db, config, log } = this.deps;
    if (db.kind === 'pglite') {
      // One process owns the embedded database: what its previous run was sending is due again now.
      const n = await expireDeliveryLeases(db);
      if (n > 0)
        log.info({ deliveries: n }, 'webhook deliveries interrupted by the previous run are due again');
    }
    if (db.listen) this.unlisten = await db.listen(WEBHOOKS_CHANNEL, () => this.notify());
    else if (config.databaseUrl) {
      this.listener = listenOnChannel(
        config.databaseUrl,
        WEBHOOKS_CHANNEL,
        { onNotify: () => this.notify(), onConnect: () => this.notify(), label: 'webhook notifications' },
        log,
      );
    }
    const prune = () =>
      void pruneWebhookHistory(db, config.webhookRetentionDays)
        .then((n) => n > 0 && log.info({ events: n }, 'old webhook events pruned'))
        .catch((err) => log.warn({ err }, 'pruning webhook history failed'));
    // Once soon after start (processes that restart often prune too), then every hour.
    this.pruneTimer = setTimeout(() => {
      prune();
      this.pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
      this.pruneTimer.unref();
    }, 60_000);
    this.pruneTimer.unref();
    this.notify();
  }

  /** Something may be due: claim what there is room for. */
  notify(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.pumped = this.pump();
  }

  /** Claims while there is room and something is due; then sets the timer for the next look. */
  private async pump(): Promise<void> {
    let nextMs = FALLBACK_POLL_MS;
    try {
      do {
        this.again = false;
        while (!this.stopped && this.inFlight.size < this.deps.config.webhookConcurrency) {
          const room = this.deps.config.webhookConcurrency - this.inFlight.size;
          const batch = await claimDeliveries(this.deps.db, this.id, this.leaseSeconds, room);
          for (const d of batch) this.track(d);
          if (batch.length < room) break;
        }
      } while (this.again && !this.stopped);
      // With attempts in flight, their ends pump again; idle, wake for the next retry or expiring lease.
      if (!this.stopped && this.inFlight.size === 0) {
        const due = await msUntilNextDelivery(this.deps.db);
        if (due !== null) nextMs = Math.min(nextMs, Math.max(10, Math.ceil(due) + 5));
      }
    } catch (err) {
      if (!this.stopped) this.deps.log.warn({ err }, 'claiming webhook deliveries failed; trying again');
    } finally {
      this.pumping = false;
    }
    if (this.stopped) return;
    if (this.again) {
      // Told of something while it looked at the next due time: look again now.
      this.notify();
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.notify(), nextMs);
    this.timer.unref();
  }

  private track(d: ClaimedDelivery): void {
    const p = this.deliver(d)
      .catch((err) => this.deps.log.warn({ err, deliveryId: d.id }, 'recording a webhook attempt failed'))
      .finally(() => {
        this.inFlight.delete(p);
        this.notify();
      });
    this.inFlight.add(p);
  }

  /** One attempt: POST, then record what happened (fenced by the attempt number). */
  private async deliver(d: ClaimedDelivery): Promise<void> {
    const { config, log, db } = this.deps;
    const body = renderEventBody(d);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Reel-Webhooks/1',
      ...webhookHeaders(d.secret, d.eventId, body),
    };
    const timeoutMs = config.webhookTimeoutSeconds * 1000;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]);
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const res = await outboundRequest(d.url, {
        method: 'POST',
        headers,
        body,
        timeoutMs,
        maxRedirects: 0,
        allowPrivateNetworks: config.allowPrivateNetworks,
        signal,
      });
      statusCode = res.status;
      await drain(res.body, MAX_RESPONSE_BYTES);
      if (statusCode < 200 || statusCode > 299) {
        error =
          statusCode >= 300 && statusCode < 400
            ? `the receiver answered ${statusCode} (redirects are not followed)`
            : `the receiver answered ${statusCode}`;
      }
    } catch (err) {
      error = this.abort.signal.aborted
        ? 'interrupted: the process sending it stopped'
        : signal.aborted
          ? `no answer within ${config.webhookTimeoutSeconds} s`
          : describe(err);
    }
    const delivered = error === null;
    const interrupted = this.abort.signal.aborted && !delivered;
    const retryInSeconds = delivered
      ? null
      : interrupted
        ? 0
        : retryDelaySeconds(d.attempt, config.webhookRetryScale);
    const held = await recordAttempt(db, d, {
      statusCode,
      error,
      durationMs: performance.now() - started,
      delivered,
      retryInSeconds,
    });
    const fields = {
      deliveryId: d.id,
      webhookId: d.webhookId,
      event: d.type,
      attempt: d.attempt,
      statusCode,
    };
    if (!held) log.info(fields, 'webhook attempt finished after its lease was lost (or its webhook deleted)');
    else if (delivered) log.debug(fields, 'webhook delivered');
    else if (retryInSeconds === null) log.warn({ ...fields, error }, 'webhook delivery failed for good');
    else log.info({ ...fields, error, retryInSeconds }, 'webhook attempt failed; will retry');
  }

  /** Stops claiming; attempts under way are cut short and handed back (due again at once). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.pruneTimer);
    clearInterval(this.pruneTimer);
    while (this.pumping) await this.pumped;
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
    await this.listener?.close();
    await this.unlisten?.().catch(() => undefined);
  }
}

/** Reads at most `max` bytes of a response, then lets go of it. */
async function drain(body: Readable, max: number): Promise<void> {
  let seen = 0;
  try {
    for await (const chunk of body) {
      seen += (chunk as Buffer).length;
      if (seen >= max) break;
    }
  } finally {
    body.destroy();
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown; message?: string } }).cause;
  const detail = typeof code === 'string' ? code : typeof cause?.code === 'string' ? cause.code : undefined;
  const msg = err.message.slice(0, 300);
  return detail && !msg.includes(detail) ? `${msg} (${detail})` : msg;
}

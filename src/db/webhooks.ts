/**
 * Webhooks, their events and their deliveries (migration 012). Events are written by a trigger on
 * `videos` in the transaction that changes the video (the outbox); a delivery is leased like a job: each
 * claim increments `attempt` (the fencing token), the lease ends at `now() + lease` by the database clock,
 * and the outcome of an attempt changes the delivery only while that attempt still holds it.
 */
import crypto from 'node:crypto';
import type { Db, Queryable } from '../core/ports.js';

/** pg_notify channel (empty payload): deliveries may be due. */
export const WEBHOOKS_CHANNEL = 'reel_webhooks';

const CREATE_LOCK_ID = 7_460_012; // arbitrary, constant: "reel webhook creation"

export interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  created_at: Date | string;
}

export type DeliveryState = 'pending' | 'running' | 'delivered' | 'failed' | 'cancelled';

/** Creates a webhook unless `max` active ones exist already (then null). */
export async function createWebhook(
  db: Db,
  w: { url: string; events: string[]; secret: string; apiKeyId: string | undefined },
  max: number,
): Promise<WebhookRow | null> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK_ID]);
    const [count] = await tx.query<{ n: number | string }>(
      'SELECT count(*) AS n FROM webhooks WHERE deleted_at IS NULL',
    );
    if (Number(count?.n ?? 0) >= max) return null;
    const id = `wh_${crypto.randomBytes(8).toString('hex')}`;
    const rows = await tx.query<WebhookRow>(
      `INSERT INTO webhooks (id, url, events, secret, api_key_id) VALUES ($1, $2, $3::text[], $4, $5)
       RETURNING id, url, events, created_at`,
      [id, w.url, w.events, w.secret, w.apiKeyId ?? null],
    );
    return rows[0]!;
  });
}

export async function listWebhooks(db: Queryable): Promise<WebhookRow[]> {
  return db.query<WebhookRow>(
    'SELECT id, url, events, created_at FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id',
  );
}

export async function getWebhook(db: Queryable, id: string): Promise<WebhookRow | null> {
  const rows = await db.query<WebhookRow>(
    'SELECT id, url, events, created_at FROM webhooks WHERE id = $1 AND deleted_at IS NULL',
    [id],
  );
  return rows[0] ?? null;
}

/** Deletes a webhook and cancels what it had not received yet. False: no such active webhook. */
export async function deleteWebhook(db: Db, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.query(
      'UPDATE webhooks SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id',
      [id],
    );
    if (rows.length === 0) return false;
    await tx.query(
      `UPDATE webhook_deliveries
          SET state = 'cancelled', lease_expires_at = NULL, finished_at = now(), updated_at = now()
        WHERE webhook_id = $1 AND state IN ('pending', 'running')`,
      [id],
    );
    return true;
  });
}

/** Queues a `webhook.test` event for one webhook; the delivery's id. */
export async function queueTestEvent(db: Db, webhookId: string, type: string): Promise<number> {
  return db.transaction(async (tx) => {
    const eventId = `msg_${crypto.randomUUID().replaceAll('-', '')}`;
    await tx.query(
      `INSERT INTO webhook_events (id, type, data) VALUES ($1, $2, jsonb_build_object('webhookId', $3::text))`,
      [eventId, type, webhookId],
    );
    const [row] = await tx.query<{ id: number | string }>(
      'INSERT INTO webhook_deliveries (webhook_id, event_id) VALUES ($1, $2) RETURNING id',
      [webhookId, eventId],
    );
    await tx.query(`SELECT pg_notify($1, '')`, [WEBHOOKS_CHANNEL]);
    return Number(row!.id);
  });
}

/** A delivery as the deliveries list shows it, with its attempts (oldest first). */
export interface DeliveryView {
  id: number;
  eventId: string;
  event: string;
  state: DeliveryState;
  attempts: {
    attempt: number;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
    at: string;
  }[];
  nextAttemptAt: string | null;
  createdAt: string;
  finishedAt: string | null;
}

interface DeliveryListRow {
  id: number | string;
  event_id: string;
  type: string;
  state: DeliveryState;
  run_after: Date | string;
  created_at: Date | string;
  finished_at: Date | string | null;
  attempts: {
    attempt: number;
    status_code: number | null;
    duration_ms: number;
    error: string | null;
    at: string;
  }[];
}

const iso = (d: Date | string) => new Date(d).toISOString();

/** The webhook's latest deliveries, newest first. */
export async function listDeliveries(
  db: Queryable,
  webhookId: string,
  opts: { limit: number; id?: number },
): Promise<DeliveryView[]> {
  const rows = await db.query<DeliveryListRow>(
    `SELECT d.id, d.event_id, e.type, d.state, d.run_after, d.created_at, d.finished_at,
            COALESCE((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'status_code', a.status_code,
                                       'duration_ms', a.duration_ms, 'error', a.error, 'at', a.at)
                                       ORDER BY a.attempt, a.id)
                        FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS attempts
       FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
      WHERE d.webhook_id = $1 AND ($3::bigint IS NULL OR d.id = $3)
      ORDER BY d.id DESC
      LIMIT $2`,
    [webhookId, opts.limit, opts.id ?? null],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    eventId: r.event_id,
    event: r.type,
    state: r.state,
    attempts: r.attempts.map((a) => ({
      attempt: a.attempt,
      statusCode: a.status_code,
      durationMs: a.duration_ms,
      error: a.error,
      at: iso(a.at),
    })),
    nextAttemptAt: r.state === 'pending' ? iso(r.run_after) : null,
    createdAt: iso(r.created_at),
    finishedAt: r.finished_at === null ? null : iso(r.finished_at),
  }));
}

/** A delivery leased to this process: everything one attempt needs. */
export interface ClaimedDelivery {
  id: number;
  /** This attempt's number: the fencing token. */
  attempt: number;
  webhookId: string;
  url: string;
  secret: string;
  eventId: string;
  type: string;
  data: unknown;
  createdAt: Date | string;
}

interface ClaimRow {
  id: number | string;
  attempt: number;
  webhook_id: string;
  url: string;
  secret: string;
  event_id: string;
  type: string;
  data: unknown;
  created_at: Date | string;
}

/** Leases up to `limit` due deliveries (pending and due, or running with an expired lease). */
export async function claimDeliveries(
  db: Queryable,
  workerId: string,
  leaseSeconds: number,
  limit: number,
): Promise<ClaimedDelivery[]> {
  const rows = await db.query<ClaimRow>(
    `WITH next AS (
       SELECT id FROM webhook_deliveries
        WHERE state IN ('pending', 'running')
          AND ((state = 'pending' AND run_after <= now()) OR (state = 'running' AND lease_expires_at < now()))
          -- A delivery written by a transaction that raced the webhook's deletion (its cancel could not
          -- see it) is never sent; pruning cancels it.
          AND NOT EXISTS (SELECT 1 FROM webhooks w
                           WHERE w.id = webhook_deliveries.webhook_id AND w.deleted_at IS NOT NULL)
        ORDER BY run_after, id
        FOR UPDATE SKIP LOCKED
        LIMIT $3
     ), claimed AS (
       UPDATE webhook_deliveries d
          SET state = 'running', attempt = d.attempt + 1, worker_id = $1,
              lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
         FROM next
        WHERE d.id = next.id
       RETURNING d.id, d.attempt, d.webhook_id, d.event_id
     )
     SELECT c.id, c.attempt, c.webhook_id, w.url, w.secret, e.id AS event_id, e.type, e.data, e.created_at
       FROM claimed c
       JOIN webhooks w ON w.id = c.webhook_id
       JOIN webhook_events e ON e.id = c.event_id
      ORDER BY c.id`,
    [workerId, leaseSeconds, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    attempt: r.attempt,
    webhookId: r.webhook_id,
    url: r.url,
    secret: r.secret,
    eventId: r.event_id,
    type: r.type,
    data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data,
    createdAt: r.created_at,
  }));
}

export interface AttemptOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** delivered, or: seconds until the next attempt, or null when this was the last (failed for good). */
  delivered: boolean;
  retryInSeconds: number | null;
}

/**
 * Records an attempt and, if this attempt still holds the delivery, its outcome: delivered, pending again
 * after the back-off, or failed. False: the lease was lost (expired and taken, or the webhook deleted);
 * the attempt is recorded all the same, since the receiver may have seen it.
 */
export async function recordAttempt(db: Queryable, d: ClaimedDelivery, o: AttemptOutcome): Promise<boolean> {
  const state: DeliveryState = o.delivered ? 'delivered' : o.retryInSeconds === null ? 'failed' : 'pending';
  // One statement (one round trip): both changes commit together.
  const [row] = await db.query<{ held: number | string }>(
    `WITH held AS (
       UPDATE webhook_deliveries
          SET state = $3, last_status = $4, last_error = $5, lease_expires_at = NULL, worker_id = NULL,
              run_after = CASE WHEN $3 = 'pending' THEN now() + make_interval(secs => $6) ELSE run_after END,
              finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END, updated_at = now()
        WHERE id = $1 AND attempt = $2 AND state = 'running'
       RETURNING id
     ), attempt AS (
       INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, error)
       SELECT id, $2, $4, $7, $5 FROM webhook_deliveries WHERE id = $1
     )
     SELECT count(*) AS held FROM held`,
    [d.id, d.attempt, state, o.statusCode, o.error, o.retryInSeconds ?? 0, Math.round(o.durationMs)],
  );
  return Number(row?.held ?? 0) > 0;
}

/** Milliseconds until the next delivery is due or a lease runs out (0: now); null when none waits. */
export async function msUntilNextDelivery(db: Queryable): Promise<number | null> {
  const [row] = await db.query<{ ms: number | string | null }>(
    // GREATEST ignores NULL: with nothing pending, min() is NULL and must stay "nothing due" (it read 0
    // before, and an idle deliverer looked again every 10 ms).
    `SELECT GREATEST(0, EXTRACT(EPOCH FROM (due - now())) * 1000) AS ms
       FROM (SELECT min(CASE WHEN state = 'pending' THEN run_after ELSE lease_expires_at END) AS due
               FROM webhook_deliveries WHERE state IN ('pending', 'running')) next
      WHERE due IS NOT NULL`,
  );
  return row?.ms === null || row?.ms === undefined ? null : Number(row.ms);
}

/** One process owns an embedded database: leases held by its previous run can be taken at once. */
export async function expireDeliveryLeases(db: Queryable): Promise<number> {
  const rows = await db.query(
    `UPDATE webhook_deliveries SET lease_expires_at = now() - interval '1 second'
      WHERE state = 'running' RETURNING id`,
  );
  return rows.length;
}

/**
 * Forgets events older than `days` once all their deliveries are finished (their deliveries and attempts
 * go with them), and webhooks deleted that long ago; the number of events removed.
 */
export async function pruneWebhookHistory(db: Queryable, days: number): Promise<number> {
  await db.query(
    `UPDATE webhook_deliveries d SET state = 'cancelled', lease_expires_at = NULL, finished_at = now(), updated_at = now()
       FROM webhooks w
      WHERE w.id = d.webhook_id AND w.deleted_at IS NOT NULL AND d.state IN ('pending', 'running')
        AND (d.state = 'pending' OR d.lease_expires_at < now())`,
  );
  const rows = await db.query(
    `DELETE FROM webhook_events e
      WHERE e.created_at < now() - $1 * interval '1 day'
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                         WHERE d.event_id = e.id AND d.state IN ('pending', 'running'))
     RETURNING e.id`,
    [days],
  );
  await db.query(
    `DELETE FROM webhooks w WHERE w.deleted_at < now() - $1 * interval '1 day'
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                         WHERE d.webhook_id = w.id AND d.state IN ('pending', 'running'))`,
    [days],
  );
  return rows.length;
}

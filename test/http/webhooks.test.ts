/**
 * Webhooks in one process on PGlite: the routes (happy and hostile), the events a video's life emits (from
 * the outbox trigger, whatever code path changes the row), signatures a receiver verifies, retries with the
 * same webhook-id and bytes, giving up, timeouts, redirects, private receivers, and deletion.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { createApiKey } from '../../src/db/apiKeys.js';
import {
  insertUploadingVideo,
  markChunkedReady,
  markUploadQueued,
  markVideoFailed,
  markVideoProgress,
} from '../../src/db/videos.js';
import type { DeliveryView } from '../../src/db/webhooks.js';
import { pruneWebhookHistory } from '../../src/db/webhooks.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { type Receiver, startReceiver, verifyDelivery } from '../helpers/webhookReceiver.js';

const ALL_EVENTS = ['video.created', 'video.playable', 'video.ready', 'video.failed', 'video.deleted'];

/** A delivery as GET /v1/webhooks/{id}/deliveries answers it (JSON: the state is plain text here). */
type Delivery = Omit<DeliveryView, 'state'> & { state: string };

describe('webhooks', () => {
  let t: TestReel;
  let readKey: string;
  let writeKey: string;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    t = await startTestReel({
      roles: 'upload,play',
      'allow-private-networks': 'true',
      'webhook-retry-scale': '0.001',
      'webhook-timeout-seconds': '1',
    });
    readKey = (await createApiKey(t.reel.db, 'reader', ['read'])).secret;
    writeKey = (await createApiKey(t.reel.db, 'writer', ['write'])).secret;
  });
  afterEach(async () => {
    // Each test's webhooks go with it, so that the next test's events reach only its own receivers.
    const list = (await (await t.api('/v1/webhooks')).json()) as { data: { id: string }[] };
    for (const w of list.data) await t.api(`/v1/webhooks/${w.id}`, { method: 'DELETE' });
    t.reel.config.allowPrivateNetworks = true;
    t.reel.config.webhookRetryScale = 0.001;
  });
  afterAll(async () => {
    await t.close();
    for (const r of receivers) await r.close();
  });

  const receiver = async (...args: Parameters<typeof startReceiver>) => {
    const r = await startReceiver(...args);
    receivers.push(r);
    return r;
  };
  const json = (body: unknown, key?: string) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  const create = async (url: string, events?: string[]) => {
    const res = await t.api('/v1/webhooks', json(events ? { url, events } : { url }));
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as {
      id: string;
      url: string;
      events: string[];
      secret: string;
      createdAt: string;
    };
  };
  const deliveries = async (id: string) => {
    const res = await t.api(`/v1/webhooks/${id}/deliveries`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: Delivery[] }).data;
  };
  let n = 0;
  const newVideo = async () => {
    const id = `whvid${++n}${Date.now().toString(36)}`;
    await insertUploadingVideo(t.reel.db, {
      id,
      title: `clip ${n}`,
      filename: 'c.mp4',
      playbackPolicy: 'public',
    });
    return id;
  };

  it('creates, lists and deletes webhooks; the secret is shown once', async () => {
    const w = await create('http://127.0.0.1:9/hook');
    expect(w.id).toMatch(/^wh_/);
    expect(w.secret).toMatch(/^whsec_/);
    expect(w.events).toEqual(ALL_EVENTS);
    expect(Date.parse(w.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    const only = await create('http://127.0.0.1:9/other', ['video.ready']);
    expect(only.events).toEqual(['video.ready']);

    const listRes = await t.api('/v1/webhooks');
    const text = await listRes.text();
    expect(text).not.toContain('whsec_');
    expect(JSON.parse(text).data).toEqual([
      { id: w.id, url: w.url, events: ALL_EVENTS, createdAt: w.createdAt },
      { id: only.id, url: only.url, events: ['video.ready'], createdAt: only.createdAt },
    ]);

    expect((await t.api(`/v1/webhooks/${w.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.api(`/v1/webhooks/${w.id}`, { method: 'DELETE' })).status).toBe(404);
    const after = (await (await t.api('/v1/webhooks')).json()) as { data: { id: string }[] };
    expect(after.data.map((x) => x.id)).toEqual([only.id]);

    // The API reference documents them.
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as { paths: Record<string, object> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/v1/webhooks'))).toEqual([
      '/v1/webhooks',
      '/v1/webhooks/{id}',
      '/v1/webhooks/{id}/deliveries',
      '/v1/webhooks/{id}/test',
    ]);
  });

  it('refuses bad URLs, unknown events, other ids and keys without the admin scope', async () => {
    const bad = async (body: unknown) => {
      const res = await t.api('/v1/webhooks', json(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      return (await res.json()) as { code: string; message: string };
    };
    await bad({ url: 'ftp://example.com/hook' });
    await bad({ url: 'not a url' });
    await bad({ url: 'http://user:pass@127.0.0.1:9/hook' });
    await bad({ url: `http://127.0.0.1:9/${'a'.repeat(2048)}` });
    await bad({ url: 'http://127.0.0.1:9/hook', events: ['video.exploded'] });
    await bad({ url: 'http://127.0.0.1:9/hook', events: [] });
    await bad({ url: 'http://127.0.0.1:9/hook', events: ['video.ready', 'video.ready'] });
    await bad({ url: 'http://127.0.0.1:9/hook', events: ['webhook.test'] });
    await bad({ events: ['video.ready'] });

    const w = await create('http://127.0.0.1:9/hook');
    for (const key of [readKey, writeKey]) {
      const auth = { Authorization: `Bearer ${key}` };
      const calls: [string, RequestInit][] = [
        ['/v1/webhooks', json({ url: 'http://127.0.0.1:9/x' }, key)],
        ['/v1/webhooks', { headers: auth }],
        [`/v1/webhooks/${w.id}`, { method: 'DELETE', headers: auth }],
        [`/v1/webhooks/${w.id}/deliveries`, { headers: auth }],
        [`/v1/webhooks/${w.id}/test`, { method: 'POST', headers: auth }],
      ];
      for (const [path, init] of calls) {
        const res = await fetch(t.url + path, init);
        expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(403);
        expect(((await res.json()) as { code: string }).code).toBe(errors.scopeDenied.code);
      }
    }
    expect((await fetch(`${t.url}/v1/webhooks`)).status).toBe(401);
    // The webhook is still there and nothing was sent to it.
    expect(await deliveries(w.id)).toEqual([]);

    for (const path of ['/v1/webhooks/wh_nope/deliveries', '/v1/webhooks/wh_nope/test']) {
      const res = await t.api(path, path.endsWith('test') ? { method: 'POST' } : {});
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe(errors.webhookNotFound.code);
    }
    expect((await t.api('/v1/webhooks/bad%20id/deliveries')).status).toBe(400);
    expect((await t.api(`/v1/webhooks/${w.id}/deliveries?limit=0`)).status).toBe(400);
    expect((await t.api(`/v1/webhooks/${w.id}/deliveries?limit=101`)).status).toBe(400);
    // Another webhook's id smuggled into the query string changes nothing.
    const other = await create('http://127.0.0.1:9/other');
    await t.api(`/v1/webhooks/${other.id}/test`, { method: 'POST' });
    const smuggled = await t.api(`/v1/webhooks/${w.id}/deliveries?id=${other.id}&webhookId=${other.id}`);
    expect(((await smuggled.json()) as { data: unknown[] }).data).toEqual([]);
  });

  it('allows at most 100 webhooks', async () => {
    await t.reel.db.query(
      `INSERT INTO webhooks (id, url, events, secret)
       SELECT 'wh_fill' || g, 'http://127.0.0.1:9/x', '{video.ready}', 'whsec_x' FROM generate_series(1, 100) g`,
    );
    const res = await t.api('/v1/webhooks', json({ url: 'http://127.0.0.1:9/hook' }));
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe(errors.tooManyWebhooks.code);
    await t.reel.db.query(`DELETE FROM webhooks WHERE id LIKE 'wh_fill%'`);
  });

  it('refuses a private receiver unless REEL_ALLOW_PRIVATE_NETWORKS is set, when created and when sent', async () => {
    const r = await receiver();
    const w = await create(r.url);
    // The same server with the setting off (the default): config is read on every request and attempt.
    t.reel.config.allowPrivateNetworks = false;
    for (const url of [r.url, 'http://10.0.0.1/hook', 'http://169.254.169.254/latest', 'http://[::1]:9/x']) {
      const res = await t.api('/v1/webhooks', json({ url }));
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(/private|loopback|address/i);
    }
    // A webhook made while it was allowed is not sent to a private address now.
    expect((await t.api(`/v1/webhooks/${w.id}/test`, { method: 'POST' })).status).toBe(202);
    await waitFor('the refused attempt', async () => (await deliveries(w.id))[0]?.attempts.length, 5_000, 50);
    const [d] = await deliveries(w.id);
    expect(d!.attempts[0]!.statusCode).toBeNull();
    expect(d!.attempts[0]!.error).toMatch(/private|loopback|address/i);
    expect(r.received).toHaveLength(0);
  });

  it("sends a video's events, signed, with the video as GET shows it; only the ones subscribed", async () => {
    const before = await t.reel.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_events');
    const quiet = await newVideo(); // no webhook yet: nothing is written
    await markVideoFailed(t.reel.db, quiet, { message: 'x', code: 'X' });
    const after = await t.reel.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_events');
    expect(after[0]!.n).toBe(before[0]!.n);

    const all = await receiver();
    const readyOnly = await receiver();
    const w = await create(all.url);
    const wr = await create(readyOnly.url, ['video.ready']);

    const id = await newVideo();
    await all.waitFor('video.created', (rs) => rs.some((r) => r.json.type === 'video.created'));
    expect(
      await markUploadQueued(t.reel.db, { id, sourceKey: `sources/${id}/original`, sourceSize: 10 }),
    ).toBe(true);
    await markVideoProgress(t.reel.db, id, 0.3, false); // progress alone is no event
    await markVideoProgress(t.reel.db, id, 0.5, true);
    await markVideoProgress(t.reel.db, id, 0.7, true); // already playable: no second event
    await markChunkedReady(t.reel.db, id, []);
    await all.waitFor('video.ready', (rs) => rs.some((r) => r.json.type === 'video.ready'));
    const view = await (await t.api(`/v1/videos/${id}`)).json();
    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    await all.waitFor('video.deleted', (rs) => rs.some((r) => r.json.type === 'video.deleted'));
    await readyOnly.waitFor('video.ready', (rs) => rs.length >= 1);

    // Deliveries go out side by side and may arrive in any order: put them in the order of the events.
    const order = ['video.created', 'video.playable', 'video.ready', 'video.deleted'];
    const mine = all.received
      .filter((r) => r.json.data.id === id)
      .sort((a, b) => order.indexOf(a.json.type) - order.indexOf(b.json.type));
    expect(mine.map((r) => r.json.type)).toEqual(order);
    for (const r of mine) {
      await verifyDelivery(w.secret, r);
      expect(r.id).toMatch(/^msg_/);
      expect(r.headers['content-type']).toBe('application/json');
      expect(Object.keys(r.json)).toEqual(['type', 'timestamp', 'data']);
      expect(Date.parse(r.json.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(new Set(mine.map((r) => r.id)).size).toBe(4);
    expect(mine[0]!.json.data).toMatchObject({ id, status: 'uploading', playable: false, title: view.title });
    expect(mine[1]!.json.data).toMatchObject({ id, status: 'queued', playable: true, progress: 0.5 });
    expect(mine[2]!.json.data).toEqual(view);
    expect(mine[3]!.json.data).toEqual(view);

    expect(readyOnly.received.map((r) => r.json.type)).toEqual(['video.ready']);
    await verifyDelivery(wr.secret, readyOnly.received[0]!);
    await expect(verifyDelivery(w.secret, readyOnly.received[0]!)).rejects.toThrow();

    const failing = await newVideo();
    await markVideoFailed(t.reel.db, failing, {
      message: 'The file is not a video.',
      code: 'REEL_NOT_MEDIA',
    });
    await all.waitFor('video.failed', (rs) => rs.some((r) => r.json.type === 'video.failed'));
    const failed = all.received.find((r) => r.json.type === 'video.failed')!;
    expect(failed.json.data).toMatchObject({
      id: failing,
      status: 'failed',
      error: 'The file is not a video.',
    });

    const list = await deliveries(w.id);
    expect(list.every((d) => d.state === 'delivered' && d.attempts.length === 1)).toBe(true);
    expect(list.map((d) => d.event).slice(0, 6)).toEqual([
      'video.failed',
      'video.created',
      'video.deleted',
      'video.ready',
      'video.playable',
      'video.created',
    ]);
    expect(list[0]!.attempts[0]).toMatchObject({ attempt: 1, statusCode: 200, error: null });
  });

  it('retries a failing receiver with the same webhook-id and bytes until it answers 2xx', async () => {
    const r = await receiver((_req, nth) => (nth <= 2 ? 500 : 204));
    const w = await create(r.url, ['video.created']);
    const id = await newVideo();
    await r.waitFor('three attempts', (rs) => rs.length >= 3);
    await waitFor('delivered', async () => (await deliveries(w.id))[0]?.state === 'delivered', 5_000, 50);
    expect(new Set(r.received.map((x) => x.id)).size).toBe(1);
    expect(new Set(r.received.map((x) => x.body)).size).toBe(1);
    expect(r.received[0]!.json.data.id).toBe(id);
    for (const x of r.received) await verifyDelivery(w.secret, x);
    const [d] = await deliveries(w.id);
    expect(d!.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 204],
    ]);
    expect(d!.attempts[0]!.error).toMatch(/500/);
    expect(d!.attempts[2]!.error).toBeNull();
    // Waits between attempts grow (5 s, then 5 min, scaled by 0.001 here).
    const gap2 = r.received[2]!.at - r.received[1]!.at;
    expect(gap2).toBeGreaterThanOrEqual(250);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.received).toHaveLength(3);
  });

  it('gives up after 8 attempts and shows the delivery failed; timeouts and redirects are failures', async () => {
    t.reel.config.webhookRetryScale = 0.00001; // the 27 hours take about a second
    const r = await receiver(() => 503);
    const w = await create(r.url, ['video.created']);
    await newVideo();
    await waitFor(
      'failed for good',
      async () => (await deliveries(w.id))[0]?.state === 'failed',
      15_000,
      100,
    );
    const [d] = await deliveries(w.id);
    expect(d!.attempts).toHaveLength(8);
    expect(d!.attempts.every((a) => a.statusCode === 503)).toBe(true);
    expect(d!.nextAttemptAt).toBeNull();
    expect(r.received).toHaveLength(8);

    const slow = await receiver(() => ({ status: 200, holdMs: 1_500 }));
    const redirect = await receiver(() => 302);
    const ws = await create(slow.url, ['video.created']);
    const wr = await create(redirect.url, ['video.created']);
    await newVideo();
    await waitFor('timed out', async () => (await deliveries(ws.id))[0]?.attempts.length, 5_000, 50);
    await waitFor('redirected', async () => (await deliveries(wr.id))[0]?.attempts.length, 5_000, 50);
    const [timedOut] = await deliveries(ws.id);
    expect(timedOut!.attempts[0]!.error).toMatch(/1 s/);
    expect(timedOut!.attempts[0]!.durationMs).toBeGreaterThanOrEqual(900);
    expect(timedOut!.attempts[0]!.durationMs).toBeLessThan(1_400);
    const [redirected] = await deliveries(wr.id);
    expect(redirected!.attempts[0]).toMatchObject({ statusCode: 302 });
    expect(redirected!.attempts[0]!.error).toMatch(/redirect/);
    expect(redirect.received.length).toBeGreaterThanOrEqual(1);
  });

  it('a test event reaches its webhook alone; a deleted webhook gets nothing more', async () => {
    const r = await receiver(() => 500);
    const other = await receiver();
    const w = await create(r.url);
    const wo = await create(other.url, ['video.deleted']);
    const res = await t.api(`/v1/webhooks/${w.id}/test`, { method: 'POST' });
    expect(res.status).toBe(202);
    const queued = (await res.json()) as Delivery;
    expect(queued).toMatchObject({ event: 'webhook.test', attempts: [] });
    expect(['pending', 'running']).toContain(queued.state);
    await r.waitFor('the test event', (rs) => rs.length >= 1);
    expect(r.received[0]!.json).toMatchObject({ type: 'webhook.test', data: { webhookId: w.id } });
    expect(r.received[0]!.id).toBe(queued.eventId);
    await verifyDelivery(w.secret, r.received[0]!);
    expect(other.received).toHaveLength(0);

    // It keeps failing: delete it while a retry waits.
    t.reel.config.webhookRetryScale = 0.1; // the second wait is 30 s now
    await r.waitFor('the retry', (rs) => rs.length >= 2);
    const seen = r.received.length;
    expect((await t.api(`/v1/webhooks/${w.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.api(`/v1/webhooks/${w.id}/deliveries`)).status).toBe(404);
    const cancelled = await t.reel.db.query<{ state: string }>(
      'SELECT state FROM webhook_deliveries WHERE webhook_id = $1',
      [w.id],
    );
    expect(cancelled.map((c) => c.state)).toEqual(['cancelled']);
    const id = await newVideo();
    await t.api(`/v1/videos/${id}`, { method: 'DELETE' });
    await other.waitFor('the other webhook still works', (rs) => rs.length >= 1);
    expect(other.received[0]!.json.data.id).toBe(id);
    await verifyDelivery(wo.secret, other.received[0]!);
    expect(r.received).toHaveLength(seen);
  });

  it('forgets finished deliveries and deleted webhooks after the retention time, never unfinished ones', async () => {
    const r = await receiver(() => 500);
    t.reel.config.webhookRetryScale = 100; // the first retry waits 500 s: the delivery stays pending
    const w = await create(r.url, ['video.created']);
    const gone = await create(r.url, ['video.created']);
    await newVideo();
    await r.waitFor('both first attempts', (rs) => rs.length >= 2);
    await waitFor('recorded', async () => (await deliveries(gone.id))[0]?.attempts.length, 5_000, 50);
    await t.api(`/v1/webhooks/${gone.id}`, { method: 'DELETE' }); // cancels its delivery: finished
    const db = t.reel.db;
    await db.query(`UPDATE webhook_events SET created_at = now() - interval '31 days'`);
    await db.query(
      `UPDATE webhooks SET deleted_at = now() - interval '31 days' WHERE deleted_at IS NOT NULL`,
    );
    await pruneWebhookHistory(db, 30);
    // The pending delivery (and its event) stays; the deleted webhook and its history are gone.
    const [d] = await deliveries(w.id);
    expect(d).toMatchObject({ state: 'pending', event: 'video.created' });
    const left = await db.query<{ id: string }>('SELECT id FROM webhooks WHERE id = $1', [gone.id]);
    expect(left).toEqual([]);
    const ids = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_deliveries WHERE state IN ('delivered', 'failed', 'cancelled')`,
    );
    expect(ids[0]!.n).toBe(0);
  });
});

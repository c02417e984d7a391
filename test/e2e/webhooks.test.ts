/**
 * Webhooks on Postgres with two HTTP processes (each sending deliveries) and a worker: a real upload's
 * events arrive signed and in order; a burst of state changes survives one HTTP process being SIGKILLed
 * while it holds deliveries (every event arrives at least once; a duplicate carries the same webhook-id and
 * bytes).
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { type Cluster, startCluster } from '../helpers/cluster.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { type ReelProcess, spawnReel } from '../helpers/process.js';
import { waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { type Receiver, startReceiver, verifyDelivery } from '../helpers/webhookReceiver.js';

const ENV = {
  REEL_ALLOW_PRIVATE_NETWORKS: 'true',
  // A lease is twice the timeout + 1 s: a killed process's deliveries are taken over after 5 s.
  REEL_WEBHOOK_TIMEOUT_SECONDS: '2',
  REEL_WEBHOOK_RETRY_SCALE: '0.001',
  REEL_LADDER: '240',
  REEL_POLL_MS: '200',
};

describe('webhooks across processes on Postgres', () => {
  let tdb: TestDb;
  let cluster: Cluster;
  let second: ReelProcess;
  let secondUrl: string;
  let receiver: Receiver;

  beforeAll(async () => {
    tdb = await postgresDb();
    receiver = await startReceiver();
    cluster = await startCluster({ databaseUrl: tdb.url!, workers: 1, env: ENV });
    second = spawnReel(['serve', '--roles', 'upload,play'], {
      ...ENV,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      DATABASE_URL: tdb.url!,
      REEL_DATA_DIR: cluster.dataDir,
      REEL_API_KEY: cluster.apiKey,
    });
    secondUrl = (await second.waitForOutput(/URL:\s+(http:\/\/\S+)/))[1]!;
  }, 120_000);
  afterAll(async () => {
    second?.child.kill('SIGKILL');
    await cluster?.close();
    await receiver?.close();
    await tdb?.drop();
  });

  const api = (base: string, path: string, init: RequestInit = {}) =>
    fetch(base + path, {
      ...init,
      headers: {
        Authorization: `Bearer ${cluster.apiKey}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string>),
      },
    });

  it("delivers an upload's created, playable, ready and deleted events, signed", async () => {
    const clip = await makeClip('webhooks-2s-240p', { width: 426, height: 240, seconds: 2 });
    // Made through one HTTP process, the video through the other.
    const res = await api(secondUrl, '/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({ url: receiver.url }),
    });
    expect(res.status).toBe(201);
    const { id: webhookId, secret } = (await res.json()) as { id: string; secret: string };

    const videoId = await tusUpload(cluster, fs.readFileSync(clip), { title: 'hooked' });
    const mine = () => receiver.received.filter((r) => r.json.data?.id === videoId);
    await receiver.waitFor('video.ready', () => mine().some((r) => r.json.type === 'video.ready'), 60_000);
    const view = await (await api(cluster.url, `/v1/videos/${videoId}`)).json();
    expect((await api(secondUrl, `/v1/videos/${videoId}`, { method: 'DELETE' })).status).toBe(204);
    await receiver.waitFor('video.deleted', () => mine().some((r) => r.json.type === 'video.deleted'));

    // Deliveries go out side by side, so they may arrive in any order; the deliveries list has the order.
    const types = [...new Set(mine().map((r) => r.json.type))].sort();
    expect(types).toEqual(['video.created', 'video.deleted', 'video.playable', 'video.ready']);
    for (const r of mine()) await verifyDelivery(secret, r);
    expect(mine().find((r) => r.json.type === 'video.ready')!.json.data).toEqual(view);
    expect(mine().find((r) => r.json.type === 'video.created')!.json.data).toMatchObject({
      id: videoId,
      title: 'hooked',
      status: 'uploading',
    });
    const list = await (await api(cluster.url, `/v1/webhooks/${webhookId}/deliveries`)).json();
    expect(list.data.map((d: { event: string }) => d.event)).toEqual([
      'video.deleted',
      'video.ready',
      'video.playable',
      'video.created',
    ]);
    expect(list.data.every((d: { state: string }) => d.state === 'delivered')).toBe(true);
  }, 90_000);

  it('loses nothing when a process holding deliveries is SIGKILLed', async () => {
    const db = tdb.db;
    // The receiver holds every first attempt of an event, so deliveries are in flight when the kill comes.
    const seen = new Set<string>();
    receiver.handle((r) => {
      if (seen.has(r.id)) return 200;
      seen.add(r.id);
      return { status: 200, holdMs: 1_500 };
    });
    const start = receiver.received.length;
    const BURST = 30;
    const ids = Array.from({ length: BURST }, (_, i) => `burst${i}${Date.now().toString(36)}`);
    for (const id of ids) {
      await db.query(
        `INSERT INTO videos (id, title, filename, status, playback_policy) VALUES ($1, $1, 'b.mp4', 'uploading', 'public')`,
        [id],
      );
    }
    await db.query(`UPDATE videos SET status = 'failed', error = 'x' WHERE id = ANY($1::text[])`, [
      ids.slice(0, 20),
    ]);
    await db.query('DELETE FROM videos WHERE id = ANY($1::text[])', [ids.slice(0, 10)]);
    const events = await db.query<{ id: string; type: string }>(
      'SELECT id, type FROM webhook_events WHERE video_id = ANY($1::text[])',
      [ids],
    );
    expect(events).toHaveLength(BURST + 20 + 10);

    const pid = second.child.pid!;
    const held = await waitFor(
      'the second process to hold deliveries',
      async () => {
        const rows = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE state = 'running' AND worker_id LIKE $1`,
          [`%-${pid}-%`],
        );
        return rows[0]!.n > 0 && rows[0]!.n;
      },
      15_000,
      20,
    );
    second.child.kill('SIGKILL');
    await second.exited;
    const killedAt = Date.now();

    const eventIds = new Set(events.map((e) => e.id));
    await receiver.waitFor(
      'every event of the burst',
      (all) => {
        const got = new Set(all.slice(start).map((r) => r.id));
        return [...eventIds].every((id) => got.has(id));
      },
      30_000,
    );
    await waitFor(
      'every delivery recorded as delivered',
      async () => {
        const rows = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE event_id = ANY($1::text[]) AND state <> 'delivered'`,
          [[...eventIds]],
        );
        return rows[0]!.n === 0;
      },
      15_000,
    );
    const burst = receiver.received.slice(start).filter((r) => eventIds.has(r.id));
    const byId = new Map<string, string>();
    for (const r of burst) {
      const body = byId.get(r.id);
      if (body !== undefined) expect(r.body).toBe(body); // a duplicate is the same message
      byId.set(r.id, r.body);
    }
    const retaken = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_deliveries WHERE event_id = ANY($1::text[]) AND attempt > 1`,
      [[...eventIds]],
    );
    // The killed process's deliveries were taken over once their leases ran out.
    expect(retaken[0]!.n).toBeGreaterThanOrEqual(held);
    const lastAt = Math.max(...burst.map((r) => r.at));
    expect(lastAt - killedAt).toBeLessThan(15_000);
    const types = burst.map((r) => r.json.type);
    expect(types.filter((x) => x === 'video.created').length).toBeGreaterThanOrEqual(BURST);
  }, 90_000);
});

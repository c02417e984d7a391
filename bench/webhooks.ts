/**
 * `npm run bench:webhooks`: webhook deliveries with two Reel processes (upload role, each with its
 * deliverer) on Postgres, and a receiver on this machine.
 *
 * - latency: 200 state changes (a video row inserted, one transaction each, every 10 ms), from the commit
 *   to the receiver's arrival of its `video.created` delivery, p50/p99;
 * - throughput: 200 changes committed in one transaction, until the last delivery has arrived;
 * - reference, in the same run: a plain signed-size JSON POST from this process to the same receiver,
 *   one at a time (round trip, p50/p99) and 16 at a time (requests/s); the ratios are printed.
 *
 * BENCH_EVENTS changes the 200.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { postgresDb } from '../test/helpers/db.js';
import { type ReelProcess, spawnReel } from '../test/helpers/process.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const API_KEY = 'reel_bench_webhooks_key_0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function main() {
  const tdb = await postgresDb();
  const arrivals = new Map<string, number>();
  let onArrival: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      try {
        const id = JSON.parse(Buffer.concat(chunks).toString()).data?.id;
        if (typeof id === 'string' && !arrivals.has(id)) arrivals.set(id, at);
      } catch {}
      res.writeHead(204).end();
      onArrival?.();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  const env = {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: tdb.url!,
    REEL_API_KEY: API_KEY,
    REEL_DATA_DIR: `/tmp/reel-bench-webhooks-${process.pid}`,
    REEL_ALLOW_PRIVATE_NETWORKS: 'true',
  };
  const procs: ReelProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) procs.push(spawnReel(['serve', '--roles', 'upload'], env));
    const urls = await Promise.all(
      procs.map(async (p) => (await p.waitForOutput(/URL:\s+(http:\/\/\S+)/, 120_000))[1]!),
    );
    const res = await fetch(`${urls[0]}/v1/webhooks`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiverUrl, events: ['video.created'] }),
    });
    if (res.status !== 201) throw new Error(`creating the webhook: ${res.status} ${await res.text()}`);
    await sleep(1_000); // the listeners are connected

    const db = tdb.db;
    const waitAll = (ids: string[], timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (ids.every((id) => arrivals.has(id))) {
            onArrival = undefined;
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => reject(new Error('deliveries did not all arrive')), timeoutMs);
        onArrival = check;
        check();
      });
    const insert = (ids: string[]) =>
      db.query(
        `INSERT INTO videos (id, title, filename, status, playback_policy)
         SELECT id, id, 'b.mp4', 'uploading', 'public' FROM unnest($1::text[]) AS id`,
        [ids],
      );

    // Warm-up (connections, JIT).
    const warm = Array.from({ length: 20 }, (_, i) => `warm${i}`);
    for (const id of warm) await insert([id]);
    await waitAll(warm);

    // Latency: one change at a time.
    const committed = new Map<string, number>();
    const lat = Array.from({ length: EVENTS }, (_, i) => `lat${i}`);
    for (const id of lat) {
      await insert([id]);
      committed.set(id, performance.now());
      await sleep(10);
    }
    await waitAll(lat);
    const latencies = lat.map((id) => Math.max(0, arrivals.get(id)! - committed.get(id)!));

    // Throughput: a burst in one transaction.
    const burst = Array.from({ length: EVENTS }, (_, i) => `burst${i}`);
    const t0 = performance.now();
    await insert(burst);
    await waitAll(burst);
    const burstSeconds = (performance.now() - t0) / 1000;
    const perSecond = EVENTS / burstSeconds;
    const [attempts] = await db.query<{ avg: number; p99: number }>(
      `SELECT avg(a.duration_ms)::float AS avg,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY a.duration_ms)::float AS p99
         FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
         JOIN webhook_events e ON e.id = d.event_id WHERE e.video_id LIKE 'burst%'`,
    );

    // Reference: plain POSTs of a body of the same size, from here to the same receiver.
    const body = JSON.stringify({
      type: 'video.created',
      timestamp: new Date().toISOString(),
      data: { id: 'x' },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const post = (id: string) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(receiverUrl, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json' },
        });
        req.on('response', (r) => {
          r.resume();
          r.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end(body.replace('"x"', JSON.stringify(id)));
      });
    const rtts: number[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const s = performance.now();
      await post(`ref${i}`);
      rtts.push(performance.now() - s);
    }
    const r0 = performance.now();
    await Promise.all(Array.from({ length: EVENTS }, (_, i) => post(`refb${i}`)));
    const refPerSecond = EVENTS / ((performance.now() - r0) / 1000);
    agent.destroy();

    const p50 = pct(latencies, 50);
    const p99 = pct(latencies, 99);
    const r50 = pct(rtts, 50);
    const r99 = pct(rtts, 99);
    console.log(
      `webhooks: ${EVENTS} events, 2 Reel processes (upload role), Postgres, receiver on 127.0.0.1`,
    );
    console.log(`  state change → receiver   p50 ${ms(p50)}   p99 ${ms(p99)}`);
    console.log(`  reference POST round trip p50 ${ms(r50)}   p99 ${ms(r99)}`);
    console.log(
      `  ratio                     p50 ×${(p50 / r50).toFixed(1)}   p99 ×${(p99 / r99).toFixed(1)}`,
    );
    console.log(
      `  burst of ${EVENTS} in one transaction: ${perSecond.toFixed(0)} deliveries/s (${burstSeconds.toFixed(2)} s)`,
    );
    console.log(
      `  (in the burst, one POST as the deliverer timed it: mean ${ms(attempts!.avg)}, p99 ${ms(attempts!.p99)})`,
    );
    console.log(
      `  reference, 16 POSTs at a time: ${refPerSecond.toFixed(0)} requests/s; ratio ×${(perSecond / refPerSecond).toFixed(2)}`,
    );
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    server.closeAllConnections();
    server.close();
    await tdb.drop();
  }
}

await main();

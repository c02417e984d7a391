/**
 * `npm run bench:memory`: the resident memory of an idle `reel serve`, embedded (PGlite, fs store) and on
 * Postgres. Each process is started, left idle BENCH_IDLE_S seconds (20), then its /proc/PID/status is read
 * (VmRSS, RssAnon, RssFile, VmHWM) and its /metrics (on a --metrics-port) for V8's heap used and Node's
 * external memory, which on PGlite is mostly the size of its WebAssembly memory (reserved, not all resident).
 *
 * Runs: embedded on a new data directory (the first start also runs initdb), embedded again on the same
 * directory (the usual idle: a restarted server), embedded with --roles play and --roles worker, and Postgres
 * (a fresh database on POSTGRES_ADMIN_URL) as the reference: the same Node process without PGlite. The aim
 * is an embedded idle under 200 MB.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { POSTGRES_ADMIN_URL } from '../test/helpers/db.js';
import { spawnBuiltReel } from '../test/helpers/process.js';

const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 20);
const AIM_MB = 200;
const MB = 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** kB figures from /proc/PID/status, in MB. */
function procStatus(pid: number) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] ?? Number.NaN);
  return {
    rss: kb('VmRSS') / 1024,
    anon: kb('RssAnon') / 1024,
    file: kb('RssFile') / 1024,
    hwm: kb('VmHWM') / 1024,
  };
}

async function scrape(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const val = (name: string) => Number(text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm'))?.[1]);
  return {
    heapUsed: val('reel_nodejs_heap_size_used_bytes') / MB,
    external: val('reel_nodejs_external_memory_bytes') / MB,
  };
}

interface Row {
  name: string;
  rss: number;
  anon: number;
  file: number;
  hwm: number;
  heapUsed: number;
  external: number;
}

async function measure(name: string, args: string[]): Promise<Row> {
  const metricsPort = await freePort();
  const proc = spawnBuiltReel(['serve', '--port', '0', '--metrics-port', String(metricsPort), ...args]);
  try {
    await proc.waitForOutput(/Reel is running/, 120_000);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const st = procStatus(proc.child.pid!);
    const m = await scrape(metricsPort);
    return { name, ...st, ...m };
  } catch (err) {
    console.error(proc.output());
    throw err;
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-mem-'));
const dbName = `reel_bench_mem_${process.pid}`;
const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`);
const rows: Row[] = [];
try {
  const embedded = ['--data-dir', path.join(dir, 'embedded')];
  rows.push(await measure('embedded, first start (initdb)', embedded));
  rows.push(await measure('embedded, restart (same dir)', embedded));
  rows.push(await measure('embedded, --roles play', [...embedded, '--roles', 'play']));
  rows.push(await measure('embedded, --roles worker', [...embedded, '--roles', 'worker']));
  rows.push(
    await measure('postgres (reference)', ['--data-dir', path.join(dir, 'pgmode'), '--database-url', dbUrl]),
  );
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  fs.rmSync(dir, { recursive: true, force: true });
}

const ref = rows.at(-1)!;
const f = (n: number) => n.toFixed(0).padStart(6);
console.log(
  `\nidle ${IDLE_S} s; MB; "vs pg": RSS over the Postgres-mode process (the same Node without PGlite)`,
);
console.log(`${'process'.padEnd(32)}   RSS   anon   file   peak  heap   ext  vs pg`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(32)}${f(r.rss)} ${f(r.anon)} ${f(r.file)} ${f(r.hwm)}${f(r.heapUsed)}${f(r.external)} ${f(r.rss - ref.rss)}`,
  );
}
const restart = rows[1]!;
const first = rows[0]!;
console.log(
  `\naim: embedded idle under ${AIM_MB} MB — restart ${restart.rss.toFixed(0)} MB: ${restart.rss < AIM_MB ? 'met' : 'NOT met'}; ` +
    `first start ${first.rss.toFixed(0)} MB: ${first.rss < AIM_MB ? 'met' : 'NOT met'}`,
);

/**
 * `npm run bench:uploads`: a large file (2 GiB by default; BENCH_UPLOAD_MIB to change) uploaded to Reel on
 * S3 storage (the s3rver emulator, in a process of its own) through each path — tus (streamed into a
 * multipart upload by the server) and direct (parts PUT straight to storage) — with the server's peak RSS,
 * and in the same run a plain `curl -T` PUT of the same file to the same storage as the reference for
 * throughput. The reference and tus with curl as its client take turns (BENCH_ROUNDS, 3) and their medians are
 * compared; tus-js-client, direct and the SDK's own multipart upload run once.
 *
 * Between runs the last run's objects are deleted and `sync` writes dirty pages out, so that no run pays
 * for the disk writes of the one before. The join of a tus upload's parts, which the worker does after
 * the upload is answered, is timed on its own.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { uploadDirect } from '../src/cli/upload.js';
import { openPostgres } from '../src/db/postgres.js';
import { createS3Store } from '../src/storage/s3.js';
import { assembleUpload } from '../src/uploads/assemble.js';
import { POSTGRES_ADMIN_URL } from '../test/helpers/db.js';
import { spawnBuiltReel } from '../test/helpers/process.js';
import { startS3Process } from '../test/helpers/s3.js';

const MiB = 1024 * 1024;
const size = Number(process.env.BENCH_UPLOAD_MIB ?? 2048) * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const API_KEY = 'reel_bench_uploads_key_0123456789';

/** Samples a process's resident set size; VmHWM is the kernel's own peak. */
function watchRss(pid: number) {
  let peak = 0;
  const read = () => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      peak = Math.max(peak, hwm);
    } catch {}
  };
  const timer = setInterval(read, 100);
  return {
    reset() {
      // VmHWM can be reset by writing 5 to clear_refs.
      try {
        fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
      } catch {}
      peak = 0;
    },
    peak() {
      read();
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}

const mbps = (bytes: number, seconds: number) => `${(bytes / MiB / seconds).toFixed(1)} MiB/s`;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-bench-up-'));
  const file = path.join(dir, 'big.bin');
  // Random bytes, so that nothing along the way can compress them.
  execFileSync('sh', ['-c', `head -c ${size} /dev/urandom > ${file}`]);
  console.log(`file: ${(size / MiB).toFixed(0)} MiB of random bytes; storage: s3rver in its own process`);

  const s3 = await startS3Process();
  // The deployment this path is for: Postgres and S3, the built server (no TypeScript compiler in memory).
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  const dbName = `reel_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  const databaseUrl = POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`);
  const server = spawnBuiltReel(['serve', '--roles', 'upload,play'], {
    ...s3.env,
    DATABASE_URL: databaseUrl,
    REEL_DATA_DIR: path.join(dir, 'data'),
    REEL_API_KEY: API_KEY,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    REEL_MAX_UPLOAD_BYTES: String(size * 2),
  });
  const url = (await server.waitForOutput(/URL:\s+(\S+)/))[1]!;
  const rss = watchRss(server.child.pid!);
  const idle = rss.peak();

  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const store = createS3Store({
    bucket: s3.bucket,
    prefix: '',
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  /** Deletes what the last run stored and writes dirty pages out: each run starts from a quiet disk. */
  const settle = async () => {
    for (const prefix of ['bench/', 'sources/', 'uploads/']) await store.deletePrefix(prefix);
    execFileSync('sync');
  };
  /** CPU seconds each process spent in the last timed run: where the time of a run goes. */
  const cpuSeconds = (pid: number) => {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks of 1/100 s
  };
  const cpu: Record<string, string> = {};
  const timed = async (label: string, fn: () => Promise<unknown>) => {
    await settle();
    const before = { reel: cpuSeconds(server.child.pid!), s3: cpuSeconds(s3.pid), here: process.cpuUsage() };
    const t0 = performance.now();
    await fn();
    const here = process.cpuUsage(before.here);
    cpu[label] =
      `Reel ${(cpuSeconds(server.child.pid!) - before.reel).toFixed(1)}, storage ${(cpuSeconds(s3.pid) - before.s3).toFixed(1)}, this process ${((here.user + here.system) / 1e6).toFixed(1)}`;
    return (performance.now() - t0) / 1000;
  };

  // Reference: curl -T of the same file to the same storage (a presigned PUT).
  const curl = (label: string) =>
    timed(label, async () => {
      const put = await getSignedUrl(
        client,
        new PutObjectCommand({ Bucket: s3.bucket, Key: 'bench/curl.bin' }),
        {
          expiresIn: 3600,
        },
      );
      const code = await new Promise<number | null>((resolve) => {
        spawn('curl', ['-sS', '-f', '-T', file, put, '-o', '/dev/null'], { stdio: 'inherit' }).on(
          'exit',
          resolve,
        );
      });
      if (code !== 0) throw new Error(`curl failed with exit code ${code}`);
    });
  // tus through Reel with curl as the client (a POST, then one PATCH of the whole file): the same client
  // as the reference, so the difference is what Reel costs.
  let tusCurlId = '';
  const tusWithCurl = (label: string) =>
    timed(label, async () => {
      const created = await fetch(`${url}/v1/uploads`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${API_KEY}`,
          'Tus-Resumable': '1.0.0',
          'Upload-Length': String(size),
        },
      });
      const location = created.headers.get('location');
      if (created.status !== 201 || !location) throw new Error(`creating the tus upload: ${created.status}`);
      tusCurlId = location.split('/').pop()!;
      const headers = [
        `Authorization: Bearer ${API_KEY}`,
        'Tus-Resumable: 1.0.0',
        'Upload-Offset: 0',
        'Content-Type: application/offset+octet-stream',
      ].flatMap((h) => ['-H', h]);
      const code = await new Promise<number | null>((resolve) => {
        spawn('curl', ['-sS', '-f', '-X', 'PATCH', ...headers, '-T', file, location, '-o', '/dev/null'], {
          stdio: 'inherit',
        }).on('exit', resolve);
      });
      if (code !== 0) throw new Error(`curl PATCH failed with exit code ${code}`);
    });

  // What the worker does first when it takes the job: storage joins the parts into one object (timed
  // apart from the upload; also the check that every byte arrived).
  const db = await openPostgres(databaseUrl);
  const join = async (id: string) => {
    const t0 = performance.now();
    await assembleUpload(db, store, id);
    const joined = await store.stat(`sources/${id}/original`);
    if (joined?.size !== size)
      throw new Error(`the joined tus upload holds ${joined?.size} bytes, not ${size}`);
    return (performance.now() - t0) / 1000;
  };

  // The reference and tus-with-curl take turns, ROUNDS times each: a run's speed on this machine varies
  // with the disk's writeback, so medians of interleaved runs are compared.
  const curlRuns: number[] = [];
  const tusCurlRuns: number[] = [];
  rss.reset();
  for (let r = 1; r <= ROUNDS; r++) {
    curlRuns.push(await curl(`curl -T (round ${r})`));
    tusCurlRuns.push(await tusWithCurl(`tus, curl as client (round ${r})`));
    await join(tusCurlId); // so that no run finds the last one's parts on the disk
  }
  const tusCurlPeak = rss.peak();
  const curlSec = median(curlRuns);
  const tusCurlSec = median(tusCurlRuns);

  // tus through Reel, as tus-js-client (in this process) sends a file: one PATCH with its length.
  rss.reset();
  let tusId = '';
  const tusSec = await timed(
    'tus, tus-js-client',
    () =>
      new Promise<void>((resolve, reject) => {
        const up = new tus.Upload(fs.createReadStream(file), {
          endpoint: `${url}/v1/uploads`,
          headers: { Authorization: `Bearer ${API_KEY}` },
          metadata: { filename: 'big.bin' },
          onError: reject,
          onSuccess: () => {
            tusId = up.url!.split('/').pop()!;
            resolve();
          },
        });
        up.start();
      }),
  );
  const tusPeak = rss.peak();
  const joinSec = await join(tusId);
  await db.close();

  // Direct: parts straight to storage, four in flight.
  rss.reset();
  const directSec = await timed('direct', () =>
    uploadDirect({
      file,
      server: url,
      apiKey: API_KEY,
      stateFile: path.join(dir, 'state'),
      out: fs.createWriteStream('/dev/null'),
    }),
  );
  const directPeak = rss.peak();

  // Second reference: the AWS SDK's own multipart upload (8 MiB parts, 4 in flight), which is what a
  // direct upload does: what the storage's multipart handling costs, apart from Reel.
  const sdkSec = await timed('SDK multipart', () =>
    new Upload({
      client,
      params: { Bucket: s3.bucket, Key: 'bench/sdk.bin', Body: fs.createReadStream(file) },
      partSize: 8 * MiB,
      queueSize: 4,
    }).done(),
  );

  const mb = (n: number) => `${(n / MiB).toFixed(0)} MB`;
  const line = (label: string, sec: number, extra = '') =>
    console.log(
      `${label.padEnd(34)}${sec.toFixed(1).padStart(6)} s  ${mbps(size, sec).padStart(12)}${extra}`,
    );
  const runs = (xs: number[]) => `  (median of ${xs.map((x) => x.toFixed(1)).join(', ')} s)`;
  line('curl -T to storage (reference)', curlSec, runs(curlRuns));
  line('SDK multipart (reference 2)', sdkSec);
  line(
    'tus through Reel, curl as client',
    tusCurlSec,
    `${runs(tusCurlRuns)}  server peak RSS ${mb(tusCurlPeak)}`,
  );
  line('tus through Reel, tus-js-client', tusSec, `  server peak RSS ${mb(tusPeak)}`);
  line('  then the worker joins the parts', joinSec);
  line('direct to storage', directSec, `  server peak RSS ${mb(directPeak)}`);
  console.log('CPU seconds spent in each run (curl itself and tus-js-client run outside Reel):');
  for (const [label, line] of Object.entries(cpu)) console.log(`  ${label.padEnd(32)}${line}`);
  console.log(`server RSS when idle:             ${mb(idle)}`);
  const share = (sec: number) => `${((curlSec / sec) * 100).toFixed(0)}%`;
  console.log(
    `tus throughput / curl:            ${share(tusCurlSec)} with curl as the tus client, ${share(tusSec)} with tus-js-client  (aim: ≥ 80%)`,
  );
  console.log(`direct throughput / curl:         ${((curlSec / directSec) * 100).toFixed(0)}%`);
  console.log(`direct throughput / SDK:          ${((sdkSec / directSec) * 100).toFixed(0)}%`);
  console.log(
    `peak RSS under 200 MB:            ${Math.max(tusPeak, tusCurlPeak, directPeak) < 200 * MiB ? 'yes' : 'NO'}`,
  );

  rss.stop();
  server.child.kill('SIGTERM');
  await server.exited;
  await s3.close();
  await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
  await admin.end();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

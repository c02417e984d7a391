/**
 * `npm run bench:uploads`: a large file (2 GiB by default; BENCH_UPLOAD_MIB to change) uploaded to Reel on
 * S3 storage (the s3rver emulator) through each path — tus (streamed into a multipart upload by the
 * server) and direct (parts PUT straight to storage) — with the server's peak RSS, and in the same run a
 * plain `curl -T` PUT of the same file to the same storage as the reference for throughput.
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
import { POSTGRES_ADMIN_URL } from '../test/helpers/db.js';
import { spawnBuiltReel } from '../test/helpers/process.js';
import { startS3 } from '../test/helpers/s3.js';

const MiB = 1024 * 1024;
const size = Number(process.env.BENCH_UPLOAD_MIB ?? 2048) * MiB;
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
  console.log(`file: ${(size / MiB).toFixed(0)} MiB of random bytes; storage: s3rver on this machine`);

  const s3 = await startS3();
  // The deployment this path is for: Postgres and S3, the built server (no TypeScript compiler in memory).
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  const dbName = `reel_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  const server = spawnBuiltReel(['serve', '--roles', 'upload,play'], {
    ...s3.env,
    DATABASE_URL: POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`),
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

  // Reference: curl -T of the same file to the same storage (a presigned PUT).
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const put = await getSignedUrl(client, new PutObjectCommand({ Bucket: s3.bucket, Key: 'bench/curl.bin' }), {
    expiresIn: 3600,
  });
  let t0 = performance.now();
  // Asynchronously: the emulator runs in this process and must go on answering.
  const code = await new Promise<number | null>((resolve) => {
    const curl = spawn('curl', ['-sS', '-f', '-T', file, put, '-o', '/dev/null'], { stdio: 'inherit' });
    curl.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`curl failed with exit code ${code}`);
  const curlSec = (performance.now() - t0) / 1000;

  // Second reference: the AWS SDK's own multipart upload of the same file to the same storage (4 parts
  // in flight), which is what tus and direct uploads turn into: it shows what the storage's multipart
  // handling costs, apart from Reel.
  t0 = performance.now();
  await new Upload({
    client,
    params: { Bucket: s3.bucket, Key: 'bench/sdk.bin', Body: fs.createReadStream(file) },
    partSize: 8 * MiB,
    queueSize: 4,
  }).done();
  const sdkSec = (performance.now() - t0) / 1000;

  // tus through Reel: one streaming PATCH from a file stream.
  rss.reset();
  t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const up = new tus.Upload(fs.createReadStream(file), {
      endpoint: `${url}/v1/uploads`,
      headers: { Authorization: `Bearer ${API_KEY}` },
      metadata: { filename: 'big.bin' },
      onError: reject,
      onSuccess: () => resolve(),
    });
    up.start();
  });
  const tusSec = (performance.now() - t0) / 1000;
  const tusPeak = rss.peak();

  // Direct: parts straight to storage, four in flight.
  rss.reset();
  t0 = performance.now();
  await uploadDirect({
    file,
    server: url,
    apiKey: API_KEY,
    stateFile: path.join(dir, 'state'),
    out: fs.createWriteStream('/dev/null'),
  });
  const directSec = (performance.now() - t0) / 1000;
  const directPeak = rss.peak();

  const mb = (n: number) => `${(n / MiB).toFixed(0)} MB`;
  console.log(`curl -T to storage (reference): ${curlSec.toFixed(1)} s  ${mbps(size, curlSec)}`);
  console.log(`SDK multipart (reference 2):    ${sdkSec.toFixed(1)} s  ${mbps(size, sdkSec)}`);
  console.log(
    `tus through Reel:               ${tusSec.toFixed(1)} s  ${mbps(size, tusSec)}  server peak RSS ${mb(tusPeak)}`,
  );
  console.log(
    `direct to storage:              ${directSec.toFixed(1)} s  ${mbps(size, directSec)}  server peak RSS ${mb(directPeak)}`,
  );
  console.log(`server RSS when idle:           ${mb(idle)}`);
  console.log(`tus throughput / curl:          ${((curlSec / tusSec) * 100).toFixed(0)}%  (aim: ≥ 80%)`);
  console.log(`tus throughput / SDK multipart: ${((sdkSec / tusSec) * 100).toFixed(0)}%`);
  console.log(`direct throughput / curl:       ${((curlSec / directSec) * 100).toFixed(0)}%`);
  console.log(`peak RSS under 200 MB:          ${Math.max(tusPeak, directPeak) < 200 * MiB ? 'yes' : 'NO'}`);

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

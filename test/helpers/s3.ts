/** An S3 emulator (s3rver, from npm) that a test starts and stops itself. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { startTestReel } from './reel.js';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The environment that points Reel at this emulator. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3(bucket = 'reel'): Promise<TestS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-s3-'));
  const server = new S3rver(s3rverOptions(directory, bucket));
  const { port } = (await server.run()) as { port: number };
  return emulator(port, bucket, async () => {
    await server.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });
}

/**
 * The emulator in a process of its own, as storage is in a deployment (benchmarks: its work then does
 * not share an event loop with the client being measured). `pid` is the emulator's process.
 */
export async function startS3Process(bucket = 'reel'): Promise<TestS3 & { pid: number }> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-s3-'));
  const main = `
    const { default: S3rver } = await import(${JSON.stringify(import.meta.resolve('s3rver'))});
    const server = new S3rver(${JSON.stringify(s3rverOptions(directory, bucket))});
    const { port } = await server.run();
    console.log('PORT ' + port);
    process.on('SIGTERM', () => server.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', main], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /PORT (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited with code ${code}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const s3 = emulator(port, bucket, async () => {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(directory, { recursive: true, force: true });
  });
  return { ...s3, pid: child.pid! };
}

function s3rverOptions(directory: string, bucket: string) {
  return {
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  };
}

function emulator(port: number, bucket: string, close: () => Promise<void>): TestS3 {
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  return {
    endpoint,
    bucket,
    credentials,
    env: {
      REEL_S3_BUCKET: bucket,
      REEL_S3_ENDPOINT: endpoint,
      REEL_S3_REGION: 'us-east-1',
      REEL_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    close,
  };
}

/** The flags that put an in-process Reel's objects on this emulator, under a fresh prefix. */
export const s3Flags = (s3: TestS3) => ({
  's3-bucket': s3.bucket,
  's3-endpoint': s3.endpoint,
  's3-force-path-style': 'true',
  's3-prefix': `run${Date.now()}`,
});

/** s3rver and an in-process Reel on it, for the tests of one describe block. */
export async function startS3Reel(flags: Record<string, string>) {
  const s3 = await startS3();
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  const t = await startTestReel({ ...s3Flags(s3), ...flags });
  return {
    s3,
    t,
    close: async () => {
      await t.close();
      await s3.close();
    },
  };
}

/** An S3 emulator (s3rver, from npm) that a test starts and stops itself. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

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
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = (await server.run()) as { port: number };
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
    async close() {
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * An object store on S3 or any S3-compatible service (AWS S3, MinIO, Cloudflare R2, …) through the AWS
 * SDK v3. Credentials come from the SDK's usual sources (environment, shared config, instance roles).
 * Uploads stream through the SDK's multipart uploader with a bounded number of parts in flight, so no
 * object is ever held whole in memory.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { errors } from '../core/errors.js';
import type { ByteRange, MultipartStorage, ObjectStore } from '../core/ports.js';
import { assertSafeKey } from './keys.js';
import { s3Multipart } from './s3Multipart.js';

export interface S3Settings {
  bucket: string;
  /** Prepended to every key, e.g. "reel/". */
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** Explicit credentials (tests); otherwise the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface S3Store extends ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  /** The S3 key of a store key (with the prefix). */
  fullKey(key: string): string;
  readonly multipart: MultipartStorage;
}

const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 4;

export function s3ClientConfig(s: S3Settings): S3ClientConfig {
  return {
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.credentials ? { credentials: s.credentials } : {}),
    // The SDK retries throttling and 5xx answers with backoff.
    maxAttempts: 5,
    // A stalled connection must not hold an upload (and its lock) forever. The request timeout is the
    // time a socket may stay silent: generous, since joining a large upload's parts can take minutes
    // before storage answers.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 10 * 60_000 },
    // Checksums only where S3 requires them: computing CRC32 of every part costs CPU, and a presigned
    // URL must not carry the checksum of an empty body.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

export function createS3Store(s: S3Settings): S3Store {
  const client = new S3Client(s3ClientConfig(s));
  const prefix = s.prefix ? `${s.prefix.replace(/\/+$/, '')}/` : '';
  const fullKey = (key: string) => prefix + assertSafeKey(key);

  const upload = async (key: string, body: Readable | Buffer) => {
    await new Upload({
      client,
      params: { Bucket: s.bucket, Key: fullKey(key), Body: body },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
    }).done();
  };

  const listKeys = async (p: string): Promise<string[]> => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await client.send(
        new ListObjectsV2Command({ Bucket: s.bucket, Prefix: fullKey(p), ContinuationToken: token }),
      );
      for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key.slice(prefix.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  };

  const deleteKeys = async (keys: string[]) => {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await client.send(
        new DeleteObjectsCommand({
          Bucket: s.bucket,
          Delete: { Objects: batch.map((k) => ({ Key: prefix + k })), Quiet: true },
        }),
      );
    }
  };

  return {
    client,
    bucket: s.bucket,
    fullKey,
    multipart: s3Multipart(client, s.bucket, fullKey),
    put: upload,
    async putFile(key, localPath, opts) {
      await upload(key, fs.createReadStream(localPath));
      if (opts?.move) await fs.promises.rm(localPath, { force: true });
    },
    async get(key, range?: ByteRange) {
      try {
        const res = await client.send(
          new GetObjectCommand({
            Bucket: s.bucket,
            Key: fullKey(key),
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
        return res.Body as Readable;
      } catch (err) {
        if (isNotFound(err)) throw errors.objectNotFound(key);
        throw err;
      }
    },
    async stat(key) {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: fullKey(key) }));
        return { size: res.ContentLength ?? 0 };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    list: listKeys,
    presignGet(key, expiresSeconds) {
      return getSignedUrl(client, new GetObjectCommand({ Bucket: s.bucket, Key: fullKey(key) }), {
        expiresIn: expiresSeconds,
      });
    },
    async delete(key) {
      await deleteKeys([assertSafeKey(key)]);
    },
    async deletePrefix(p) {
      if (!p.endsWith('/')) throw errors.invalidRequest('A prefix to delete must end with "/".');
      await deleteKeys(await listKeys(p));
    },
  };
}

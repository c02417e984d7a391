/**
 * Multipart uploads on S3 (and S3-compatible stores) through the AWS SDK v3: every multipart call Reel
 * makes lives here, behind the MultipartStorage capability of the S3 store. Storage's errors pass through
 * with their names; a store that cannot list parts (s3rver answers MethodNotAllowed) lists none (null).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { MultipartStorage, StoredPart } from '../core/ports.js';

export function s3Multipart(
  client: S3Client,
  bucket: string,
  fullKey: (key: string) => string,
): MultipartStorage {
  return {
    async create(key) {
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: fullKey(key) }),
      );
      return UploadId!;
    },

    async uploadPart(key, uploadId, partNumber, body, size, signal) {
      const res = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: fullKey(key),
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: size,
        }),
        signal ? { abortSignal: signal } : {},
      );
      return res.ETag!;
    },

    presignPart(key, uploadId, partNumber, size, expiresSeconds) {
      return getSignedUrl(
        client,
        new UploadPartCommand({
          Bucket: bucket,
          Key: fullKey(key),
          UploadId: uploadId,
          PartNumber: partNumber,
          // Signed into the URL: storage that checks signatures refuses a body of another length.
          ContentLength: size,
        }),
        { expiresIn: expiresSeconds },
      );
    },

    async listParts(key, uploadId) {
      try {
        const out: StoredPart[] = [];
        let marker: string | undefined;
        do {
          const res = await client.send(
            new ListPartsCommand({
              Bucket: bucket,
              Key: fullKey(key),
              UploadId: uploadId,
              PartNumberMarker: marker,
            }),
          );
          for (const p of res.Parts ?? []) {
            out.push({ partNumber: p.PartNumber!, etag: p.ETag!, size: p.Size ?? 0 });
          }
          marker = res.IsTruncated ? res.NextPartNumberMarker : undefined;
        } while (marker);
        return out;
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name !== 'MethodNotAllowed' && name !== 'NotImplemented') throw err;
        return null;
      }
    },

    async complete(key, uploadId, parts) {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: fullKey(key),
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      );
    },

    async abort(key, uploadId) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: fullKey(key), UploadId: uploadId }),
      );
    },
  };
}

/**
 * A tus data store that streams each upload into an S3 multipart upload as it arrives: the server never
 * holds a whole file in memory or on its own disk. Bytes are cut into parts of `partSize` (S3 wants at
 * least 5 MiB for every part but the last); what a PATCH leaves over that is too small for a part is kept
 * as a small "tail" object in the bucket and put in front of the next PATCH. The part list and the tail's
 * size live in Postgres, so any upload-role process can resume any upload (and S3 emulators without
 * ListParts work too).
 *
 * Not copied from @tus/s3-store, which needs ListParts; the idea of a tail object is the same.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DataStore, ERRORS, Upload } from '@tus/server';
import type { Db } from '../core/ports.js';
import {
  closeMultipart,
  deleteMultipart,
  expiredMultiparts,
  getMultipart,
  insertMultipart,
  listParts,
  recordPart,
  setSize,
  setTail,
} from '../db/multipart.js';
import { keys } from './keys.js';
import type { S3Store } from './s3.js';

export const TUS_PART_SIZE = 8 * 1024 * 1024;
/** Parts on their way to storage at once: hides its latency; memory stays near (this + 1) × part size. */
const PARALLEL_PARTS = 4;

const tailKey = (id: string) => `uploads/${id}/tail`;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export class S3TusStore extends DataStore {
  constructor(
    private readonly db: Db,
    private readonly store: S3Store,
    private readonly expirationMs: number,
    private readonly partSize = TUS_PART_SIZE,
  ) {
    super();
    this.extensions = [
      'creation',
      'creation-with-upload',
      'creation-defer-length',
      'termination',
      'expiration',
    ];
  }

  override async create(upload: Upload): Promise<Upload> {
    const key = this.store.fullKey(keys.source(upload.id));
    const { UploadId } = await this.store.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.store.bucket, Key: key }),
    );
    await insertMultipart(this.db, {
      video_id: upload.id,
      kind: 'tus',
      s3_upload_id: UploadId!,
      size: upload.size ?? null,
      part_size: this.partSize,
      metadata: upload.metadata ?? {},
      api_key_id: null,
    });
    if (upload.size === 0) await this.complete(upload.id, []);
    upload.creation_date = new Date().toISOString();
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    const row = await getMultipart(this.db, id);
    if (row?.kind !== 'tus' || row.state === 'aborted') throw ERRORS.FILE_NOT_FOUND;
    const parts = await listParts(this.db, id);
    const stored = parts.reduce((n, p) => n + Number(p.size), 0);
    const offset = row.state === 'completed' ? Number(row.size) : stored + row.tail_size;
    return new Upload({
      id,
      size: row.size === null ? undefined : Number(row.size),
      offset,
      metadata: row.metadata,
      creation_date: new Date(row.created_at).toISOString(),
    });
  }

  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    const row = await getMultipart(this.db, id);
    if (row?.state !== 'open') throw ERRORS.FILE_NOT_FOUND;
    const firstNew = (await listParts(this.db, id)).length + 1;
    let nextPart = firstNew;
    // Pending bytes as a list of chunks, joined only when a part is cut: no quadratic copying.
    let pending: Buffer[] = row.tail_size > 0 ? [await readAll(await this.store.get(tailKey(id)))] : [];
    let pendingBytes = pending[0]?.length ?? 0;
    let written = offset;

    // Up to PARALLEL_PARTS parts travel to storage at once while the request goes on being read.
    const inFlight = new Set<Promise<void>>();
    const failedParts: number[] = [];
    let partError: unknown;
    const send = (partNumber: number, body: Buffer) => {
      const p: Promise<void> = (async () => {
        const res = await this.store.client.send(
          new UploadPartCommand({
            Bucket: this.store.bucket,
            Key: this.store.fullKey(keys.source(id)),
            UploadId: row.s3_upload_id,
            PartNumber: partNumber,
            Body: body,
          }),
        );
        await recordPart(this.db, id, { part_number: partNumber, etag: res.ETag!, size: body.length });
      })()
        .catch((err: unknown) => {
          failedParts.push(partNumber);
          partError ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    const cutParts = async (final: boolean) => {
      if (pendingBytes < this.partSize && !(final && pendingBytes > 0)) return;
      let buffer = Buffer.concat(pending);
      while (buffer.length >= this.partSize || (final && buffer.length > 0)) {
        while (inFlight.size >= PARALLEL_PARTS) await Promise.race(inFlight);
        if (partError) throw partError;
        const body = buffer.subarray(0, Math.min(this.partSize, buffer.length));
        send(nextPart++, body);
        buffer = buffer.subarray(body.length);
      }
      pending = buffer.length > 0 ? [buffer] : [];
      pendingBytes = buffer.length;
    };

    let interrupted = false;
    try {
      for await (const chunk of stream) {
        pending.push(chunk as Buffer);
        pendingBytes += (chunk as Buffer).length;
        written += (chunk as Buffer).length;
        await cutParts(false);
      }
    } catch {
      // The client went away mid-request (or storage refused a part, handled below).
      interrupted = partError === undefined;
    }
    const size = row.size === null ? undefined : Number(row.size);
    const whole = !interrupted && partError === undefined && size !== undefined && written === size;
    if (whole) await cutParts(true).catch(() => undefined);
    await Promise.allSettled([...inFlight]);

    if (partError !== undefined) {
      // Storage refused a part: keep the parts before the first refused one; the client resends the rest
      // from the offset a HEAD then reports.
      const firstFailed = Math.min(...failedParts);
      await this.db.query('DELETE FROM multipart_parts WHERE video_id = $1 AND part_number >= $2', [
        id,
        firstFailed,
      ]);
      if (firstFailed > firstNew && row.tail_size > 0) {
        // The old tail went into a part that is stored.
        await this.store.delete(tailKey(id)).catch(() => undefined);
        await setTail(this.db, id, 0);
      }
      throw partError;
    }
    if (whole) {
      await this.complete(id, await listParts(this.db, id));
      if (row.tail_size > 0) await this.store.delete(tailKey(id));
      return written;
    }
    // A chunk of a longer upload, or an interrupted one: the bytes not yet in a part become the tail.
    if (pendingBytes > 0) await this.store.put(tailKey(id), Buffer.concat(pending));
    else if (row.tail_size > 0) await this.store.delete(tailKey(id));
    await setTail(this.db, id, pendingBytes);
    return written;
  }

  private async complete(id: string, parts: { part_number: number; etag: string }[]): Promise<void> {
    const row = (await getMultipart(this.db, id))!;
    const key = this.store.fullKey(keys.source(id));
    if (parts.length === 0) {
      // An empty upload: S3 has no empty multipart uploads, so store an empty object instead.
      await this.store.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.store.bucket,
            Key: key,
            UploadId: row.s3_upload_id,
          }),
        )
        .catch(() => undefined);
      await this.store.put(keys.source(id), Buffer.alloc(0));
    } else {
      await this.store.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.store.bucket,
          Key: key,
          UploadId: row.s3_upload_id,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag })) },
        }),
      );
    }
    await closeMultipart(this.db, id, 'completed');
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    await setSize(this.db, id, length);
  }

  override async remove(id: string): Promise<void> {
    const row = await getMultipart(this.db, id);
    if (!row) throw ERRORS.FILE_NOT_FOUND;
    await this.store.client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: this.store.bucket,
          Key: this.store.fullKey(keys.source(id)),
          UploadId: row.s3_upload_id,
        }),
      )
      .catch(() => undefined); // already gone, or a store that cannot abort: the parts expire with the bucket's rules
    await this.store.delete(tailKey(id)).catch(() => undefined);
    await deleteMultipart(this.db, id);
  }

  override async deleteExpired(): Promise<number> {
    const ids = await expiredMultiparts(this.db, 'tus', this.expirationMs / 1000);
    for (const id of ids) await this.remove(id);
    return ids.length;
  }

  override getExpiration(): number {
    return this.expirationMs;
  }
}

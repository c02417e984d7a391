/**
 * A tus data store that streams each upload into an S3 multipart upload as it arrives: the server never
 * holds a whole file in memory or on its own disk.
 *
 * - A PATCH whose length is known (Content-Length, as browsers, curl and tus-js-client send) is cut into
 *   large parts (see partPlan.ts), each streamed to storage while it is read: one part's bytes go out
 *   while the previous part's answer is awaited. An interrupted PATCH keeps the parts stored before it.
 * - A PATCH of unknown length (chunked) is collected part by part in memory (8 MiB each).
 * - Bytes too few for a part (S3 wants 5 MiB but for the last part) are kept as a small "tail" object in
 *   the bucket and put in front of the next PATCH. Its key names the state it belongs to, so replacing
 *   it never leaves the database pointing at the wrong bytes.
 * - When the last byte is stored the upload is "stored": the final PATCH is answered then, and the worker
 *   joins the parts (assembleUpload) before it reads the source. Joining can take as long as writing the
 *   file again on some stores (s3rver, MinIO in FS mode) and minutes on S3 for very large objects, which
 *   is no reason to keep the client's request waiting.
 *
 * Parts are sent by the PartSender (partSender.ts) through the store's MultipartStorage capability.
 * The part list and the tail's size live in Postgres, recorded in part order, so any upload-role process
 * can resume any upload (and S3 emulators without ListParts work too).
 *
 * Not copied from @tus/s3-store, which buffers parts on disk and needs ListParts; the tail object is the
 * same idea.
 */
import type { Readable } from 'node:stream';
import { DataStore, ERRORS, Upload } from '@tus/server';
import type { Db, MultipartStorage, ObjectStore } from '../core/ports.js';
import {
  closeMultipart,
  deleteMultipart,
  expiredMultiparts,
  getMultipart,
  insertMultipart,
  listParts,
  recordTusPart,
  setSize,
  setTail,
} from '../db/multipart.js';
import { keys } from '../storage/keys.js';
import { ByteSlicer, concatSources } from './byteSlicer.js';
import { BUFFERED_PART_SIZE, MIN_PART_SIZE, partSizeFor, planPatch, STREAM_PART_SIZE } from './partPlan.js';
import { PartSender } from './partSender.js';

/** The tail object of an upload whose next part is `nextPart` and whose tail holds `size` bytes. */
const tailKey = (id: string, nextPart: number, size: number) => `uploads/${id}/tail-${nextPart}-${size}`;
const uploadPrefix = (id: string) => `uploads/${id}/`;

export interface S3TusStoreOptions {
  /** How long an unfinished upload is kept. */
  expirationMs: number;
  /** The Content-Length of the PATCH now writing this upload, when the client sent one. */
  patchLength?: (id: string) => number | undefined;
  /** The size of streamed parts (tests use small ones). */
  partSize?: number;
  /** The size of parts collected from a PATCH of unknown length. */
  bufferedPartSize?: number;
}

export class S3TusStore extends DataStore {
  constructor(
    private readonly db: Db,
    private readonly store: ObjectStore,
    private readonly multipart: MultipartStorage,
    private readonly opts: S3TusStoreOptions,
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
    const uploadId = await this.multipart.create(keys.source(upload.id));
    await insertMultipart(this.db, {
      video_id: upload.id,
      kind: 'tus',
      s3_upload_id: uploadId,
      size: upload.size ?? null,
      part_size: partSizeFor(upload.size, this.opts.partSize ?? STREAM_PART_SIZE),
      metadata: upload.metadata ?? {},
      api_key_id: null,
    });
    if (upload.size === 0) await this.storeEmpty(upload.id);
    upload.creation_date = new Date().toISOString();
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    const row = await getMultipart(this.db, id);
    if (row?.kind !== 'tus' || row.state === 'aborted') throw ERRORS.FILE_NOT_FOUND;
    const parts = await listParts(this.db, id);
    const stored = parts.reduce((n, p) => n + Number(p.size), 0);
    const offset = row.state === 'open' ? stored + row.tail_size : Number(row.size);
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
    const oldTail = row.tail_size;
    const partsBytes = offset - oldTail; // what the stored parts hold
    const size = row.size === null ? undefined : Number(row.size);
    /** Whether this many bytes after the stored parts end the upload. */
    const ends = (bytes: number) => size !== undefined && partsBytes + bytes === size;

    // The old tail, then the client's bytes.
    const tailStream = oldTail > 0 ? await this.readTail(id, firstNew, oldTail) : undefined;
    const slicer = new ByteSlicer(tailStream ? concatSources(tailStream, stream) : stream);
    const parts = new PartSender({
      multipart: this.multipart,
      key: keys.source(id),
      uploadId: row.s3_upload_id,
      firstNew,
      oldTail,
      record: (p, how) =>
        recordTusPart(this.db, id, { part_number: p.partNumber, etag: p.etag, size: p.size }, how),
    });
    let tail: Buffer = Buffer.alloc(0);

    try {
      const length = this.opts.patchLength?.(id);
      if (length !== undefined) {
        // Known length: plan the parts, then stream each as its bytes arrive.
        const final = ends(oldTail + length);
        const plan = planPatch({ tail: oldTail, length, final, partSize: row.part_size });
        for (const [i, n] of plan.parts.entries()) {
          if (!(await parts.stream(slicer, n, final && i === plan.parts.length - 1))) break;
        }
        await parts.bodiesRead;
        if (plan.tail > 0 && parts.healthy && parts.sent === plan.parts.length) {
          tail = await slicer.readUpTo(plan.tail);
        }
      } else {
        // Unknown length: collect each part in memory; what is left at the end is the tail (or, when it
        // ends the upload or is big enough, the last part).
        const partSize = this.opts.bufferedPartSize ?? BUFFERED_PART_SIZE;
        let taken = 0;
        for (;;) {
          const chunk = await slicer.readUpTo(partSize);
          taken += chunk.length;
          const full = chunk.length === partSize;
          if (full || ends(taken) || (chunk.length >= MIN_PART_SIZE && slicer.error === undefined)) {
            if (chunk.length > 0 && !(await parts.send(chunk, ends(taken)))) break;
          } else {
            tail = chunk;
          }
          if (!full || ends(taken)) break;
        }
      }
    } finally {
      tailStream?.destroy();
    }

    // Every part is recorded in order as storage answers (the one that ends the upload together with
    // the "stored" state); wait for the last ones.
    const outcome = await parts.settle(slicer.error);
    if (outcome.storageError !== undefined) throw outcome.storageError;
    if (outcome.complete && !outcome.stored) {
      // Every part made it: the bytes after them are the new tail.
      const key = tailKey(id, outcome.nextPart, tail.length);
      const oldKey = tailKey(id, firstNew, oldTail);
      if (tail.length > 0 && key !== oldKey) await this.store.put(key, tail);
      await setTail(this.db, id, tail.length);
      if (oldTail > 0 && key !== oldKey) await this.store.delete(oldKey).catch(() => undefined);
    }
    // An interrupted PATCH keeps the parts stored before the one it was sending.
    return (await this.getUpload(id)).offset;
  }

  /** The tail object, at the key that names its state. */
  private async readTail(id: string, nextPart: number, size: number): Promise<Readable> {
    return this.store.get(tailKey(id, nextPart, size));
  }

  /** An empty upload: S3 has no empty multipart uploads, so store an empty object instead. */
  private async storeEmpty(id: string): Promise<void> {
    const row = (await getMultipart(this.db, id))!;
    await this.multipart.abort(keys.source(id), row.s3_upload_id).catch(() => undefined);
    await this.store.put(keys.source(id), Buffer.alloc(0));
    await closeMultipart(this.db, id, 'completed');
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    await setSize(this.db, id, length);
    if (length === 0) await this.storeEmpty(id);
  }

  override async remove(id: string): Promise<void> {
    const row = await getMultipart(this.db, id);
    if (!row) throw ERRORS.FILE_NOT_FOUND;
    await this.multipart.abort(keys.source(id), row.s3_upload_id).catch(() => undefined); // already gone, or a store that cannot abort: the parts expire with the bucket's rules
    await this.store.deletePrefix(uploadPrefix(id)).catch(() => undefined);
    await deleteMultipart(this.db, id);
  }

  override async deleteExpired(): Promise<number> {
    const ids = await expiredMultiparts(this.db, 'tus', this.opts.expirationMs / 1000);
    for (const id of ids) await this.remove(id);
    return ids.length;
  }

  override getExpiration(): number {
    return this.opts.expirationMs;
  }
}

/**
 * Sends the parts of one tus PATCH into a multipart upload: streamed or from memory, one part's bytes
 * going out while up to PARTS_IN_FLIGHT earlier parts await storage's answer. Parts are recorded strictly
 * in order, so the recorded parts always form an unbroken prefix of the upload: every part before the
 * first one that failed is kept. The first new part, which holds the old tail's bytes, is recorded
 * together with the tail's removal (`clearsTail`); the part that ends the upload together with the
 * "stored" state (`last`), so that a HEAD never reports every byte of an upload that is not yet queued for
 * the worker to join. How a part is recorded is the caller's (the database); this module does no SQL.
 */
import { Readable } from 'node:stream';
import type { MultipartStorage, StoredPart } from '../core/ports.js';
import type { ByteSlicer } from './byteSlicer.js';

/**
 * Parts under way at once: one awaiting storage's answer, one streaming, and the next one's request
 * already open, waiting for its bytes. Streamed parts cost no memory.
 */
export const PARTS_IN_FLIGHT = 3;

export interface PartSenderOptions {
  multipart: MultipartStorage;
  /** The store key of the object being uploaded, and storage's id of its multipart upload. */
  key: string;
  uploadId: string;
  /** The number of the first part this PATCH sends (the parts before it are stored). */
  firstNew: number;
  /** Bytes of the tail object the first new part begins with. */
  oldTail: number;
  /** Records a stored part, in part order; `clearsTail` and `last` must be recorded with it, at once. */
  record(part: StoredPart, opts: { clearsTail: boolean; last: boolean }): Promise<void>;
}

export interface SendOutcome {
  /** Every part was stored and recorded. */
  complete: boolean;
  /** The parts ended the upload. */
  stored: boolean;
  /** The number of the part after the last one recorded. */
  nextPart: number;
  /** Why storage refused a part (not because the client went away). */
  storageError?: unknown;
}

export class PartSender {
  /** Parts handed to storage. */
  sent = 0;
  /** Settles once every part started so far has read its body (or failed). */
  bodiesRead: Promise<void> = Promise.resolve();
  private recorded: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();
  private nextRecorded: number;
  private stored = false;
  /** The first part that failed (storage refused it, its body failed, or recording it failed). */
  private firstFailed = Number.POSITIVE_INFINITY;
  private failure: unknown;

  constructor(private readonly opts: PartSenderOptions) {
    this.nextRecorded = opts.firstNew;
  }

  /** Whether no part has failed so far. */
  get healthy(): boolean {
    return this.firstFailed === Number.POSITIVE_INFINITY;
  }

  /**
   * Starts a part that streams the next `size` bytes of the slicer; false when this PATCH should stop.
   * The request goes out at once, its body waits until the part before has read all of its bytes: the
   * storage request is ready the moment those bytes are, with no pause between parts.
   */
  async stream(slicer: ByteSlicer, size: number, last: boolean): Promise<boolean> {
    if (!(await this.room())) return false;
    const previous = this.bodiesRead;
    let bodyRead!: () => void;
    this.bodiesRead = new Promise<void>((resolve) => {
      bodyRead = resolve;
    });
    const sender = this;
    const body = async function* () {
      try {
        await previous;
        if (slicer.error !== undefined) throw slicer.error;
        if (!sender.healthy) throw new Error('an earlier part failed');
        yield* slicer.take(size);
      } finally {
        bodyRead();
      }
    };
    // A body that fails (the client went away) must end the storage request too, or it would wait for
    // bytes that never come; the error is the request's to report.
    const abort = new AbortController();
    const readable = Readable.from(body()).on('error', (err) => abort.abort(err));
    // A request that failed before it read its body lets the next part go on (to fail at once).
    void this.upload(readable, size, last, abort.signal)
      .catch(() => undefined)
      .finally(bodyRead);
    return this.healthy && slicer.error === undefined;
  }

  /** Sends a part collected in memory; false when this PATCH should stop. */
  async send(body: Buffer, last: boolean): Promise<boolean> {
    if (!(await this.room())) return false;
    this.upload(body, body.length, last);
    return true;
  }

  /**
   * Waits for every part's answer. `complete` when all of them were stored, `stored` when they ended the
   * upload, `storageError` when storage refused one (not because the client went away: `clientError`).
   */
  async settle(clientError: unknown): Promise<SendOutcome> {
    await Promise.allSettled([...this.inFlight]);
    await this.recorded;
    const storageError = !this.healthy && clientError === undefined ? this.failure : undefined;
    return {
      complete: this.healthy,
      stored: this.stored,
      nextPart: this.nextRecorded,
      ...(storageError !== undefined ? { storageError } : {}),
    };
  }

  private async room(): Promise<boolean> {
    while (this.inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(this.inFlight);
    return this.healthy;
  }

  private upload(
    body: Readable | Buffer,
    size: number,
    last: boolean,
    abortSignal?: AbortSignal,
  ): Promise<string> {
    const { multipart, key, uploadId, firstNew, oldTail } = this.opts;
    const partNumber = firstNew + this.sent++;
    const answered = multipart.uploadPart(key, uploadId, partNumber, body, size, abortSignal);
    const settled = answered.catch((err: unknown) => this.fail(partNumber, err));
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
    this.recorded = this.recorded.then(async () => {
      const etag = await answered.catch(() => undefined);
      if (etag === undefined || partNumber > this.firstFailed || this.nextRecorded !== partNumber) return;
      try {
        await this.opts.record(
          { partNumber, etag, size },
          { clearsTail: partNumber === firstNew && oldTail > 0, last },
        );
        this.nextRecorded = partNumber + 1;
        this.stored = last;
      } catch (err) {
        this.fail(partNumber, err);
      }
    });
    return answered;
  }

  private fail(partNumber: number, err: unknown): void {
    if (partNumber < this.firstFailed) {
      this.firstFailed = partNumber;
      this.failure = err;
    }
  }
}

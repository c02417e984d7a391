/**
 * The first step of an imported video's planning attempt: fetch the URL it was created with (POST
 * /v1/videos {url}) and stream the answer into the store under a key of this attempt's own
 * (sources/{video}/import-a{attempt}: a stale attempt never overwrites the source another one recorded),
 * then record the source with a write fenced by the attempt, and drop the one it replaces. Everything runs under the job's lease: its heartbeats keep
 * it while the bytes come, its signal stops the fetch when the lease is lost or the worker stops, and a
 * SIGKILLed worker's import is fetched again by whoever takes the job over. Every attempt fetches anew (a
 * retry, automatic or POST /v1/videos/{id}/retry, sees what the URL serves now).
 *
 * Bytes stream through with backpressure (never the whole file in memory), counted against
 * REEL_MAX_UPLOAD_BYTES (a Content-Length above it is refused before any byte), within
 * REEL_IMPORT_TIMEOUT_SECONDS for the whole fetch. Addresses are checked by net/outbound.ts: the host and
 * every redirect (at most 5) must be public unless REEL_ALLOW_PRIVATE_NETWORKS.
 */
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { IntegrationConfig, UploadsConfig } from '../config.js';
import { errors, isReelError } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { importUrlOf, recordImportedSource } from '../db/imports.js';
import { outboundRequest } from '../net/outbound.js';
import { keys } from '../storage/keys.js';
import { isNoSpaceError } from './attempt.js';
import type { JobLease } from './lease.js';

export interface ImportDeps {
  db: Db;
  store: ObjectStore;
  config: Pick<UploadsConfig, 'maxUploadBytes'> & IntegrationConfig;
}

/** The most redirects an import follows (each one checked again). */
export const IMPORT_MAX_REDIRECTS = 5;
/** How long the server may take to answer with its headers (the whole fetch has its own limit). */
const HEADERS_TIMEOUT_MS = 60_000;

/** 4xx answers that say "later" rather than "never": tried again like a server error. */
const TRANSIENT_CLIENT_STATUSES = new Set([408, 425, 429]);

/**
 * Fetches the source of the leased job's video when it is an import, stores it and records it (fenced);
 * sets `lease.job.sourceKey`. Does nothing for an uploaded video. Throws a catalogue error that says
 * what went wrong (permanent ones fail the video at once), or the lease's abort reason.
 */
export async function importSourceIfAny(deps: ImportDeps, lease: JobLease, log: Logger): Promise<void> {
  const { db, store, config } = deps;
  const job = lease.job;
  const url = await importUrlOf(db, job.videoId);
  if (url === null) return;

  const startedAt = Date.now();
  const timeout = AbortSignal.timeout(config.importTimeoutSeconds * 1000);
  const signal = AbortSignal.any([lease.signal, timeout]);
  let bytes = 0;
  /** What a failure means, once the cause is known: the lease's reason, the time limit, or the error. */
  const explain = (err: unknown): unknown => {
    if (lease.signal.aborted) return lease.signal.reason;
    if (timeout.aborted) return errors.importTimeout(config.importTimeoutSeconds, bytes);
    // Ours (too large…) and outbound.ts's refusals (a private address, also on a redirect; too many
    // redirects), which are permanent.
    if (isReelError(err)) return err;
    if (isNoSpaceError(err)) return err; // the worker's disk: settled without spending an attempt
    return errors.importFetchFailed(describe(err));
  };

  let res: Awaited<ReturnType<typeof outboundRequest>>;
  try {
    res = await outboundRequest(url, {
      headers: { 'user-agent': 'Reel (video import)', accept: '*/*', 'accept-encoding': 'identity' },
      timeoutMs: Math.min(HEADERS_TIMEOUT_MS, config.importTimeoutSeconds * 1000),
      maxRedirects: IMPORT_MAX_REDIRECTS,
      allowPrivateNetworks: config.allowPrivateNetworks,
      signal,
    });
  } catch (err) {
    throw explain(err);
  }
  const body = res.body;
  const stopBody = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal.addEventListener('abort', stopBody, { once: true });
  try {
    if (res.status < 200 || res.status > 299) {
      const text = STATUS_CODES[res.status] ?? 'an unknown status';
      throw res.status >= 500 || TRANSIENT_CLIENT_STATUSES.has(res.status)
        ? errors.importServerError(res.status, text)
        : errors.importStatus(res.status, text);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > config.maxUploadBytes)
      throw errors.importTooLarge(config.maxUploadBytes, declared);

    const max = config.maxUploadBytes;
    async function* counted() {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > max) throw errors.importTooLarge(max);
        yield chunk;
      }
    }
    const key = keys.importedSource(job.videoId, job.attempt);
    try {
      await store.put(key, Readable.from(counted(), { objectMode: false }));
    } catch (err) {
      throw explain(err);
    }
    let recorded: Awaited<ReturnType<typeof recordImportedSource>> = false;
    try {
      // A body cut short by the server (fewer bytes than it announced) is a failed fetch, not a source.
      if (Number.isFinite(declared) && bytes !== declared)
        throw errors.importFetchFailed(`the server announced ${declared} bytes and sent ${bytes}`);
      recorded = await lease.fenced(
        () => recordImportedSource(db, job, { key, size: bytes }),
        false,
        (r) => r === false,
      );
      if (!recorded) throw errors.leaseLost();
    } finally {
      // This attempt's own key: nobody else reads it unless it was recorded.
      if (!recorded) await store.delete(key).catch(() => undefined);
    }
    // The source an earlier attempt fetched is read by nobody now.
    if (recorded.previous && recorded.previous !== key)
      await store.delete(recorded.previous).catch(() => undefined);
    job.sourceKey = key;
    log.info(
      { bytes, seconds: (Date.now() - startedAt) / 1000, redirected: res.url.href !== url },
      'import fetched into the store',
    );
  } finally {
    signal.removeEventListener('abort', stopBody);
    if (!body.destroyed) body.destroy();
  }
}

/** A connection error in words (its code when the message has nothing more). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

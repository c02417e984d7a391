/**
 * tus 1.0 uploads (creation, creation-with-upload, termination, expiration) through @tus/server: on a
 * store with multipart uploads (S3) the bytes stream into storage as they arrive (tusS3Store.ts),
 * otherwise they are staged on the local disk (tusFileStore.ts). The tus upload id is the video id. A
 * finished upload is moved into the object store and the video and its job are queued in one transaction.
 * The route (http/uploads.ts) authorises each request and tells this module what for (RequestGrant).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { EVENTS, Server as TusServer, type Upload } from '@tus/server';
import type { Logger } from 'pino';
import type { QueueConfig, StorageConfig, UploadsConfig } from '../config.js';
import { errors, isReelError, type ReelError } from '../core/errors.js';
import { externalIdProblem } from '../core/externalId.js';
import type { Db, ObjectStore } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import {
  deleteUploadingVideo,
  deleteVideoRow,
  insertUploadingVideo,
  queueUploadedVideo,
  staleUploadingVideos,
  uploadingVideoIds,
} from '../db/videos.js';
import { keys, newVideoId } from '../storage/keys.js';
import { checkDirectSource } from './direct.js';
import { freeBytes, isDiskFull } from './diskSpace.js';
import { PostgresUploadLocker } from './locker.js';
import { TusFileStore } from './tusFileStore.js';
import { S3TusStore } from './tusS3Store.js';

const MAX_TITLE = 200;
const MAX_FILENAME = 255;

export interface TusUploadsDeps {
  db: Db;
  store: ObjectStore;
  config: StorageConfig & UploadsConfig & QueueConfig;
  log: Logger;
  /** Told when a video was queued, to wake an in-process worker. */
  onQueued: (videoId: string) => void;
}

/** What the route authorised a request for. tus acts on these and on nothing else. */
export interface RequestGrant {
  /** The API key that made the request (the owner of a new upload). */
  apiKeyId?: string | undefined;
  /** The base of the URLs this request is given (the Location of a new upload). */
  base?: string | undefined;
  /**
   * The upload id this request was authorised for: the route's path parameter, checked against the key
   * (left to itself tus reads the id from the whole URL, query included, so "/v1/uploads?/ID" reached an
   * upload the guard never looked at).
   */
  id?: string | undefined;
  /** The path a new upload's Location is under (default /v1/uploads): an upload link's own. */
  uploadPath?: string | undefined;
  /** The id a new upload takes (default a new one): an upload link's video, created with the link. */
  newId?: string | undefined;
  /**
   * Called for a new upload instead of inserting its video row (an upload link's video exists already);
   * throws a ReelError to refuse the upload.
   */
  create?: ((upload: NewUpload) => Promise<void>) | undefined;
  /** The largest upload this request may create or append to (default REEL_MAX_UPLOAD_BYTES). */
  maxSize?: number | undefined;
  /**
   * The one browser origin this request is answered to (Access-Control-Allow-Origin), null for none;
   * undefined: any origin (the API-key routes, whose requests carry no ambient credentials).
   */
  corsOrigin?: string | null | undefined;
}

/** A new upload as RequestGrant.create sees it: its metadata checked, the title it would take. */
export interface NewUpload {
  id: string;
  size: number | undefined;
  filename: string;
  title: string;
}

export interface Uploads {
  /** Finishes uploads that completed but were not queued (the process died in between). */
  recover(): Promise<void>;
  /** Removes expired unfinished uploads and their videos. */
  cleanUpExpired(): Promise<void>;
  /** Removes the staged bytes of an unfinished upload (when its video is deleted). */
  discard(videoId: string): Promise<void>;
}

export interface TusUploads extends Uploads {
  /** Whether PATCH bytes land on this machine's disk (the file store). */
  readonly stagedOnDisk: boolean;
  /** Records what the route authorised this request for; call before handle. */
  grant(req: IncomingMessage, grant: RequestGrant): void;
  /** Refuses upload bytes while the disk that takes them is nearly full (REEL_MIN_FREE_MIB). */
  checkFreeSpace(): Promise<void>;
  /** Handles one tus request; `contentLength` when the client sent one. */
  handle(req: IncomingMessage, res: ServerResponse, contentLength: number | undefined): Promise<void>;
  /** Lets go of shared upload locks (on shutdown, after the HTTP server closed). */
  close(): Promise<void>;
}

/** tus hooks abort a request by throwing {status_code, body}; ours carry the design's JSON error body. */
const tusError = (err: ReelError) => ({ status_code: err.statusCode, body: JSON.stringify(err.toBody()) });

/** Maps @tus/server's plain-text errors to the design's error body. */
function toJsonError(err: { status_code?: number; body?: string } | Error): {
  status_code: number;
  body: string;
} {
  if (isReelError(err)) return tusError(err);
  if (isDiskFull(err)) return tusError(errors.diskFull());
  const status = 'status_code' in err && typeof err.status_code === 'number' ? err.status_code : 500;
  const body = 'body' in err && typeof err.body === 'string' ? err.body.trim() : 'Upload failed.';
  if (body.startsWith('{')) return { status_code: status, body };
  if (status === 413) return tusError(errors.tusUploadTooLarge(body));
  return tusError(status >= 500 ? errors.uploadFailed(status, body) : errors.uploadProtocol(status, body));
}

/** Control characters (Unicode Cc: C0, DEL and C1; NUL included, which Postgres refuses in text). */
const CONTROL = /\p{Cc}/u;

/** Every metadata value is stored (the video row, the S3 upload's record): refuse what text cannot hold. */
function checkMetadataText(md: Record<string, string | null>): void {
  for (const [field, value] of Object.entries(md)) {
    const bad = value === null ? null : CONTROL.exec(value);
    if (bad) {
      const code = bad[0].charCodeAt(0);
      const name = code === 0 ? 'NUL, ' : '';
      throw errors.invalidMetadata(
        `the value of "${field}" contains a control character (${name}U+${code.toString(16).toUpperCase().padStart(4, '0')}); send it as plain text without control characters.`,
      );
    }
  }
}

function parsePolicy(raw: string | null | undefined): PlaybackPolicy {
  if (raw === undefined || raw === null || raw === '') return 'signed';
  if (raw === 'public' || raw === 'signed') return raw;
  throw errors.invalidMetadata('playback_policy must be "public" or "signed".');
}

/** tus metadata `mp4`: "true"/"1" asks for MP4 downloads; absent, empty, "false" or "0" does not. */
function parseMp4(raw: string | null | undefined): boolean {
  if (raw === undefined || raw === null || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw errors.invalidMetadata('mp4 must be "true", "1", "false" or "0".');
}

/** The Node request under the web Request that @tus/server hands its hooks. */
const nodeRequest = (req: unknown): IncomingMessage | undefined =>
  (req as { runtime?: { node?: { req?: IncomingMessage } } }).runtime?.node?.req;

/** @tus/server answers protocol errors (bad headers, unknown upload) in plain text; Reel answers in JSON. */
class JsonErrorTusServer extends TusServer {
  override write(...[context, headers, status, body]: Parameters<TusServer['write']>) {
    if (status >= 400 && body && !body.startsWith('{')) {
      const mapped = toJsonError({ status_code: status, body });
      headers.set('Content-Type', 'application/json; charset=utf-8');
      return super.write(context, headers, mapped.status_code, mapped.body);
    }
    if (status >= 400) headers.set('Content-Type', 'application/json; charset=utf-8');
    return super.write(context, headers, status, body);
  }
}

export function tusUploads(deps: TusUploadsDeps): TusUploads {
  const { db, store, config, log } = deps;
  const stagingDir = path.join(config.dataDir, 'uploads');
  fs.mkdirSync(stagingDir, { recursive: true });
  const expirationMs = config.uploadExpiryHours * 3600_000;
  // The Content-Length of the request being handled, for the S3 store to stream parts of known length.
  const requestLength = new AsyncLocalStorage<number | undefined>();
  // The origin the request being handled may be answered to (RequestGrant.corsOrigin).
  const requestCors = new AsyncLocalStorage<string | null | undefined>();
  // On S3 the bytes stream into a multipart upload as they arrive; otherwise they are staged on disk.
  const { multipart } = store;
  const datastore = multipart
    ? new S3TusStore(db, store, multipart, {
        expirationMs,
        partSize: config.tusPartMib * 1024 * 1024,
        patchLength: () => requestLength.getStore(),
      })
    : new TusFileStore({ directory: stagingDir, expirationPeriodInMilliseconds: expirationMs });
  // What the route authorised each request for (see RequestGrant).
  const grants = new WeakMap<IncomingMessage, RequestGrant>();
  const grantOf = (req: unknown) => {
    const node = nodeRequest(req);
    return node ? grants.get(node) : undefined;
  };
  // Several upload-role processes share Postgres: one request at a time per upload across all of them.
  // PGlite means one process, where @tus/server's default MemoryLocker is enough.
  const locker =
    db.kind === 'postgres' && config.databaseUrl
      ? new PostgresUploadLocker(db, config.databaseUrl, log.child({ component: 'upload-locks' }))
      : undefined;

  // Upload bytes land on the local disk with the file store; a new upload also writes a row to PGlite there.
  const stagedOnDisk = !multipart;
  const uploadsUseDisk = stagedOnDisk || db.kind === 'pglite';
  /** Refuses upload bytes while the disk that takes them is nearly full (REEL_MIN_FREE_MIB). */
  async function checkFreeSpace(): Promise<void> {
    if (config.minFreeMib === 0 || !uploadsUseDisk) return;
    const free = await freeBytes(stagingDir);
    if (free >= config.minFreeMib * 1024 * 1024) return;
    log.warn(
      { freeMib: Math.floor(free / 1024 / 1024), minFreeMib: config.minFreeMib, dir: stagingDir },
      'upload refused: free disk space is below REEL_MIN_FREE_MIB',
    );
    throw errors.lowDiskSpace();
  }

  async function discard(videoId: string): Promise<void> {
    if (multipart) {
      await datastore.remove(videoId).catch(() => undefined);
      return;
    }
    await fsp.rm(path.join(stagingDir, videoId), { force: true });
    await fsp.rm(path.join(stagingDir, `${videoId}.json`), { force: true });
  }

  /** Moves the staged file into the object store and queues the video; safe to repeat. */
  async function finish(videoId: string): Promise<void> {
    const sourceKey = keys.source(videoId);
    // A tus upload on S3: every part is stored; the worker joins them into the source object first.
    let size = multipart ? (await datastore.getUpload(videoId).catch(() => undefined))?.size : undefined;
    if (size === undefined) {
      const staged = path.join(stagingDir, videoId);
      // The staged file stays until the response is sent (tus still reads it): POST_FINISH removes it.
      if (fs.existsSync(staged)) await store.putFile(sourceKey, staged);
      size = (await store.stat(sourceKey))?.size;
    }
    if (size === undefined) throw errors.objectNotFound(`the source of video ${videoId}`);
    if (
      await queueUploadedVideo(db, {
        id: videoId,
        sourceKey,
        sourceSize: size,
        maxAttempts: config.maxAttempts,
      })
    ) {
      log.info({ videoId, bytes: size }, 'upload finished: video queued');
      deps.onQueued(videoId);
    }
  }

  const tus = new JsonErrorTusServer({
    path: '/v1/uploads',
    datastore,
    ...(locker && { locker }),
    maxSize: (req) => grantOf(req)?.maxSize ?? config.maxUploadBytes,
    allowedOrigins: (origin) => {
      const allowed = requestCors.getStore();
      return allowed === undefined || allowed === origin;
    },
    exposedHeaders: ['Upload-Expires'],
    // The Location is built like every public URL (REEL_PUBLIC_URL, or the request as Fastify reads it
    // under REEL_TRUST_PROXY); tus's own reading of Forwarded/X-Forwarded-* headers would trust anyone.
    respectForwardedHeaders: false,
    generateUrl: (req, { path: tusPath, id }) => {
      const base = grantOf(req)?.base;
      if (!base) throw errors.invalidRequest('The upload URL could not be built for this request.');
      return `${base}${grantOf(req)?.uploadPath ?? tusPath}/${id}`;
    },
    // A finished upload is a queued video (on S3 its parts are the source until the worker joins them):
    // DELETE /v1/videos/{id} removes it, not a tus termination.
    disableTerminationForFinishedUploads: true,
    // base64url may start with '-', which object keys refuse as a first character (1 upload in 64 failed).
    namingFunction: (req) => grantOf(req)?.newId ?? newVideoId(),
    getFileIdFromRequest: (req) => grantOf(req)?.id,
    async onUploadCreate(req, upload: Upload) {
      try {
        const md = upload.metadata ?? {};
        checkMetadataText(md);
        const filename = (md.filename ?? '').trim();
        const title = (md.title ?? '').trim() || filename.replace(/\.[^.]*$/, '');
        if (filename.length > MAX_FILENAME)
          throw errors.invalidMetadata(`filename is longer than ${MAX_FILENAME} characters.`);
        if (title.length > MAX_TITLE)
          throw errors.invalidMetadata(`title is longer than ${MAX_TITLE} characters.`);
        const create = grantOf(req)?.create;
        if (create) {
          await create({ id: upload.id, size: upload.size, filename: path.basename(filename), title });
          return {};
        }
        const playbackPolicy = parsePolicy(md.playback_policy);
        const mp4 = parseMp4(md.mp4);
        // external_id: the caller's own id for the video; empty is none (control characters refused above).
        const externalId = md.external_id || null;
        const externalIdWrong = externalId === null ? undefined : externalIdProblem(externalId);
        if (externalIdWrong)
          throw errors.invalidMetadata(externalIdWrong.replace('externalId', 'external_id'));
        const apiKeyId = grantOf(req)?.apiKeyId;
        await insertUploadingVideo(db, {
          id: upload.id,
          title,
          filename: path.basename(filename),
          playbackPolicy,
          apiKeyId,
          externalId,
          mp4,
        });
        log.info({ videoId: upload.id, bytes: upload.size, apiKeyId }, 'upload created');
        return {};
      } catch (err) {
        throw isReelError(err) ? tusError(err) : err;
      }
    },
    async onUploadFinish(_req, upload: Upload) {
      try {
        await finish(upload.id);
        return {};
      } catch (err) {
        log.error({ err, videoId: upload.id }, 'finishing an upload failed');
        throw isReelError(err) ? tusError(err) : err;
      }
    },
    onResponseError(_req, err) {
      return toJsonError(err);
    },
  });

  tus.on(EVENTS.POST_FINISH, (_req: unknown, _res: unknown, upload: Upload) => {
    // On S3 the stored parts are the source until the worker joins them: nothing to remove.
    if (multipart) return;
    void discard(upload.id).catch((err) =>
      log.warn({ err, videoId: upload.id }, 'removing a staged upload failed'),
    );
  });

  tus.on(EVENTS.POST_TERMINATE, (_req: unknown, _res: unknown, id: string) => {
    void deleteUploadingVideo(db, id)
      .then(() => log.info({ videoId: id }, 'upload terminated'))
      .catch((err) => log.error({ err, videoId: id }, 'removing a terminated upload failed'));
  });

  return {
    stagedOnDisk,
    grant(req, g) {
      grants.set(req, { ...grants.get(req), ...g });
    },
    checkFreeSpace,
    async handle(req, res, contentLength) {
      // Access-Control-Allow-Origin names the request's origin (see allowedOrigins).
      res.setHeader('Vary', 'Origin');
      await requestCors.run(grants.get(req)?.corsOrigin, () =>
        requestLength.run(contentLength, () => tus.handle(req, res)),
      );
    },
    async close() {
      await locker?.close();
    },
    async recover() {
      for (const id of await uploadingVideoIds(db)) {
        const staged = path.join(stagingDir, id);
        let complete = false;
        const upload =
          fs.existsSync(staged) || multipart ? await datastore.getUpload(id).catch(() => null) : null;
        if (upload) {
          complete = upload.size !== undefined && upload.offset === upload.size;
        } else {
          // A direct upload completed in storage, or a file store's upload already moved.
          complete = (await store.stat(keys.source(id))) !== null;
        }
        if (complete) {
          log.info({ videoId: id }, 'queueing an upload whose last step was interrupted');
          // A direct upload is queued only if storage holds the size that was declared.
          const checked =
            upload || !multipart
              ? Promise.resolve()
              : checkDirectSource({ db, store, multipart, log, maxUploadBytes: config.maxUploadBytes }, id);
          await checked
            .then(() => finish(id))
            .catch((err) => log.error({ err, videoId: id }, 'recovering an upload failed'));
        }
      }
    },
    async cleanUpExpired() {
      const removed = await tus.cleanUpExpiredUploads().catch(() => 0);
      for (const id of await staleUploadingVideos(db, config.uploadExpiryHours * 3600)) {
        await discard(id);
        await deleteVideoRow(db, id);
        log.info({ videoId: id }, 'unfinished upload expired');
      }
      if (removed) log.info({ removed }, 'expired uploads removed');
    },
    discard,
  };
}

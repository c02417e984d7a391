/**
 * Direct-to-storage uploads (stores with multipart uploads): the client's bytes go straight to storage
 * through presigned part URLs; Reel only starts, tracks and completes the multipart upload. The HTTP
 * routes are in http/multipart.ts; the pure rules in directRules.ts.
 *
 * The part list comes from storage's own list where it has one, else from the parts the client reported.
 * The size limit holds for the bytes stored, not only for the size declared: each presigned part URL signs
 * the part's exact length (S3 refuses a PUT of another length), and the bytes storage holds must be the
 * declared size, within REEL_MAX_UPLOAD_BYTES: checked on the parts' sizes as storage lists them before
 * they are joined, and on the joined object (its stat) in any case, since some stores (s3rver) neither
 * list parts nor check signed lengths. An upload refused there is aborted whole: nothing is queued, its
 * parts or object and its video are removed, and the client is told why (400, or 413 above the limit).
 */
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Db, MultipartStorage, ObjectStore } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import {
  closeMultipart,
  getMultipart,
  insertMultipart,
  listParts,
  type MultipartRow,
  type PartRow,
  recordPart,
  setMultipartState,
} from '../db/multipart.js';
import {
  deleteVideoRow,
  getVideo,
  insertUploadingVideo,
  queueUploadedVideo,
  toView,
  type VideoView,
} from '../db/videos.js';
import { assertId, keys, newVideoId } from '../storage/keys.js';
import { PARTS_REFUSED } from './assemble.js';
import {
  checkCompletion,
  checkPartNumbers,
  checkReportedPart,
  type DirectShape,
  expectedPartSize,
  partCountOf,
  planDirectUpload,
  quoted,
  storedSizeProblem,
} from './directRules.js';

const URL_SECONDS = 3600;

const conflict = (message: string) => errors.uploadConflict(message);
const bad = (message: string) => errors.invalidRequest(message);

export interface DirectUploadDeps {
  db: Db;
  store: ObjectStore;
  multipart: MultipartStorage;
  log: Logger;
  maxUploadBytes: number;
  maxAttempts: number;
  /** Told when a video was queued, to wake an in-process worker. */
  onQueued: (videoId: string) => void;
}

const shapeOf = (row: MultipartRow): DirectShape => ({ size: Number(row.size), partSize: row.part_size });

/**
 * Refuses a direct upload whose stored bytes (`stored`: the listed parts' total, or the joined object's
 * size) are not the declared size or are above the limit: the upload is aborted, its parts (or the joined
 * object) and its video removed, nothing queued, and the reason thrown. Returns when the size is right.
 */
async function refuseWrongSize(
  deps: Omit<DirectUploadDeps, 'maxAttempts' | 'onQueued'>,
  row: MultipartRow,
  stored: number,
  what: 'parts' | 'object',
): Promise<void> {
  const problem = storedSizeProblem(stored, Number(row.size), deps.maxUploadBytes);
  if (!problem) return;
  const { db, store, log } = deps;
  const id = row.video_id;
  await setMultipartState(db, id, 'aborted');
  let removed = true;
  try {
    if (what === 'object') await store.delete(keys.source(id));
    else await deps.multipart.abort(keys.source(id), row.s3_upload_id);
  } catch (err) {
    // The video stays (uploading): recovery finds the object again, refuses it again and removes it.
    removed = false;
    log.warn({ err, videoId: id }, 'storage did not remove a refused upload');
  }
  if (removed) await deleteVideoRow(db, id);
  log.warn(
    { videoId: id, apiKeyId: row.api_key_id, declared: Number(row.size), stored, what },
    'direct upload refused: the bytes stored are not the size declared',
  );
  throw problem;
}

/**
 * For recovery: a direct upload whose parts storage joined but whose video was not queued (the process
 * died in between) is queued only if the joined object is the declared size; otherwise it is refused and
 * removed as at completion (throws). Anything that is not a direct upload passes.
 */
export async function checkDirectSource(
  deps: Omit<DirectUploadDeps, 'maxAttempts' | 'onQueued'>,
  videoId: string,
): Promise<void> {
  const row = await getMultipart(deps.db, videoId);
  if (row?.kind !== 'direct') return;
  const size = (await deps.store.stat(keys.source(videoId)))?.size ?? 0;
  await refuseWrongSize(deps, row, size, 'object');
}

export interface StartDirectUpload {
  size: number;
  filename?: string | undefined;
  title?: string | undefined;
  playbackPolicy?: PlaybackPolicy | undefined;
  apiKeyId?: string | undefined;
  /** The caller's own id for the video (checked by the route's schema). */
  externalId?: string | undefined;
  /** MP4 downloads wanted. */
  mp4?: boolean | undefined;
}

export type DirectUploads = ReturnType<typeof directUploads>;

export function directUploads(deps: DirectUploadDeps) {
  const { db, multipart, log } = deps;

  /** What storage holds: its own list where it has one (`listed`), else what the client reported. */
  async function storedParts(row: MultipartRow): Promise<{ parts: PartRow[]; listed: boolean }> {
    const listed = await multipart.listParts(keys.source(row.video_id), row.s3_upload_id);
    if (listed === null) return { parts: await listParts(db, row.video_id), listed: false };
    return {
      parts: listed.map((p) => ({ part_number: p.partNumber, etag: p.etag, size: p.size })),
      listed: true,
    };
  }

  return {
    /** Starts a direct upload: the video (uploading) and its multipart upload. */
    async start(u: StartDirectUpload) {
      const { partSize, partCount } = planDirectUpload(u.size, deps.maxUploadBytes);
      const videoId = newVideoId();
      const filename = (u.filename ?? '').split(/[\\/]/).pop() ?? '';
      const uploadId = await multipart.create(keys.source(videoId));
      await db.transaction(async (tx) => {
        await insertUploadingVideo(tx, {
          id: videoId,
          title: u.title ?? filename.replace(/\.[^.]*$/, ''),
          filename,
          playbackPolicy: u.playbackPolicy ?? 'signed',
          apiKeyId: u.apiKeyId,
          externalId: u.externalId ?? null,
          mp4: u.mp4,
        });
        await insertMultipart(tx, {
          video_id: videoId,
          kind: 'direct',
          s3_upload_id: uploadId,
          size: u.size,
          part_size: partSize,
          metadata: {},
          api_key_id: u.apiKeyId ?? null,
        });
      });
      log.info({ videoId, bytes: u.size, partCount }, 'direct upload started');
      return { videoId, uploadId, partSize, partCount };
    },

    /** The caller's own open upload, or 404 (another key's upload is as good as absent). */
    async own(apiKeyId: string | undefined, id: string): Promise<MultipartRow> {
      assertId(id, 'video id');
      const row = await getMultipart(db, id);
      if (row?.kind !== 'direct' || row.api_key_id !== apiKeyId) {
        throw errors.objectNotFound(`direct upload ${id}`);
      }
      if (row.state === 'completed') throw conflict(`The upload of video ${id} is already complete.`);
      if (row.state === 'aborted') throw conflict(`The upload of video ${id} was aborted; start a new one.`);
      return row;
    },

    /** Presigned URLs for parts, each signing the part's exact length. */
    async presignParts(row: MultipartRow, numbers: number[]) {
      const shape = shapeOf(row);
      checkPartNumbers(shape, numbers);
      const parts = await Promise.all(
        numbers.map(async (partNumber) => ({
          partNumber,
          url: await multipart.presignPart(
            keys.source(row.video_id),
            row.s3_upload_id,
            partNumber,
            expectedPartSize(shape, partNumber),
            URL_SECONDS,
          ),
        })),
      );
      return { parts, expiresAt: new Date(Date.now() + URL_SECONDS * 1000).toISOString() };
    },

    /** Records a part the client says it stored. */
    async reportPart(row: MultipartRow, n: number, etag: string, size: number): Promise<void> {
      checkReportedPart(shapeOf(row), n, etag, size);
      await recordPart(db, row.video_id, { part_number: n, etag: quoted(etag), size });
    },

    /** What is stored so far, for a client that resumes. */
    async listParts(row: MultipartRow) {
      const { parts } = await storedParts(row);
      return {
        partSize: row.part_size,
        partCount: partCountOf(shapeOf(row)),
        parts: parts.map((p) => ({ partNumber: p.part_number, etag: p.etag, size: Number(p.size) })),
      };
    },

    /** Joins the parts and queues the video; every check comes before storage is asked. */
    async complete(row: MultipartRow, given: { partNumber: number; etag: string }[]): Promise<VideoView> {
      const id = row.video_id;
      const shape = shapeOf(row);
      const count = partCountOf(shape);
      const listing = await storedParts(row);
      const stored = new Map(listing.parts.map((p) => [p.part_number, p]));
      // Every check before storage is asked: a refused completion changes nothing.
      checkCompletion(shape, given, stored);
      if (listing.listed) {
        // Sizes as storage lists them: more (or fewer) bytes than declared are refused before the join.
        let total = 0;
        for (let n = 1; n <= count; n++) total += Number(stored.get(n)!.size);
        await refuseWrongSize(deps, row, total, 'parts');
      }
      if (!(await closeMultipart(db, id, 'completed')))
        throw conflict(`The upload of video ${id} is already complete.`);
      try {
        await multipart.complete(
          keys.source(id),
          row.s3_upload_id,
          [...Array(count).keys()].map((i) => ({ partNumber: i + 1, etag: quoted(stored.get(i + 1)!.etag) })),
        );
      } catch (err) {
        await setMultipartState(db, id, 'open');
        const name = (err as { name?: string }).name ?? '';
        if ([...PARTS_REFUSED, 'NoSuchUpload'].includes(name)) {
          throw bad(`Storage refused to complete the upload (${name}).`);
        }
        throw err;
      }
      // The joined object is what will be processed: its size is the one that counts, on every store.
      const size = (await deps.store.stat(keys.source(id)))?.size ?? 0;
      await refuseWrongSize(deps, row, size, 'object');
      await queueUploadedVideo(db, {
        id,
        sourceKey: keys.source(id),
        sourceSize: size,
        maxAttempts: deps.maxAttempts,
      });
      deps.onQueued(id);
      log.info({ videoId: id, bytes: size }, 'direct upload complete: video queued');
      return toView((await getVideo(db, id))!);
    },

    /** Aborts the upload and removes its video. */
    async abort(row: MultipartRow): Promise<void> {
      const id = row.video_id;
      await closeMultipart(db, id, 'aborted');
      await multipart
        .abort(keys.source(id), row.s3_upload_id)
        .catch((err) =>
          log.warn({ err: (err as Error).message, videoId: id }, 'storage did not abort the upload'),
        );
      await deleteVideoRow(db, id);
      log.info({ videoId: id }, 'direct upload aborted');
    },
  };
}

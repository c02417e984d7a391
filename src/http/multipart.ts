/**
 * Direct-to-storage uploads (S3 deployments): the client's bytes go straight to the bucket through
 * presigned part URLs; Reel only starts, tracks and completes the multipart upload.
 *
 *   POST   /v1/uploads/multipart                      {size, filename?, title?, playbackPolicy?}
 *            → {videoId, uploadId, partSize, partCount}
 *   POST   /v1/uploads/multipart/{id}/parts           {partNumbers: [1, 2, …]} (at most 100)
 *            → {parts: [{partNumber, url}], expiresAt}
 *   PUT    /v1/uploads/multipart/{id}/parts/{n}       {etag, size}: the client reports a stored part
 *   GET    /v1/uploads/multipart/{id}/parts           → {parts: [{partNumber, etag, size}]}: to resume
 *   POST   /v1/uploads/multipart/{id}/complete        {parts: [{partNumber, etag}]} → the queued video
 *   DELETE /v1/uploads/multipart/{id}                 aborts
 *
 * S3's rules are checked here before S3 sees them (every part but the last at least 5 MiB, at most 10,000
 * parts, every part present with its ETag), so a wrong request changes nothing and gets a clear 4xx. The
 * part list comes from S3's ListParts where the store has it, else from the parts the client reported.
 *
 * The size limit holds for the bytes stored, not only for the size declared: each presigned part URL signs
 * the part's exact length (S3 refuses a PUT of another length), and the bytes storage holds must be the
 * declared size, within REEL_MAX_UPLOAD_BYTES: checked on the parts' sizes as storage lists them before
 * they are joined, and on the joined object (HeadObject) in any case, since some stores (s3rver) neither
 * list parts nor check signed lengths. An upload refused there is aborted whole: nothing is queued, its
 * parts or object and its video are removed, and the client is told why (400, or 413 above the limit).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { errors, ReelError } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import {
  closeMultipart,
  getMultipart,
  insertMultipart,
  listParts,
  type MultipartRow,
  type PartRow,
  recordPart,
} from '../db/multipart.js';
import { deleteVideoRow, getVideo, insertUploadingVideo, queueUploadedVideo, toView } from '../db/videos.js';
import { assertId, keys, newVideoId } from '../storage/keys.js';
import type { S3Store } from '../storage/s3.js';
import { PARTS_REFUSED } from '../uploads/assemble.js';
import { MAX_PARTS, MIN_PART_SIZE, planParts, storedSizeProblem } from '../uploads/partPlan.js';

const URL_SECONDS = 3600;
const MAX_BATCH = 100;

export interface MultipartDeps {
  db: Db;
  store: S3Store;
  config: Pick<Config, 'maxUploadBytes' | 'maxAttempts'>;
  log: Logger;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  onQueued: (videoId: string) => void;
}

const conflict = (message: string) => new ReelError('REEL_UPLOAD_CONFLICT', 409, message);
const bad = (message: string) => errors.invalidRequest(message);
const ETAG = /^"?[0-9a-fA-F]{32}(-\d+)?"?$/;
const quoted = (etag: string) => (etag.startsWith('"') ? etag : `"${etag}"`);

/** Without S3 there is no storage to upload to directly: say so instead of a bare 404. */
export function registerMultipartUnavailable(app: FastifyInstance): void {
  app.all('/v1/uploads/multipart', { schema: { hide: true } }, async () => {
    throw new ReelError(
      'REEL_DIRECT_UPLOADS_NEED_S3',
      501,
      'Direct uploads need S3 storage (set REEL_S3_BUCKET); use tus at /v1/uploads.',
    );
  });
}

interface RefusalDeps {
  db: Db;
  store: S3Store;
  log: Logger;
  maxUploadBytes: number;
}

/**
 * Refuses a direct upload whose stored bytes (`stored`: the listed parts' total, or the joined object's
 * size) are not the declared size or are above the limit: the upload is aborted, its parts (or the joined
 * object) and its video removed, nothing queued, and the reason thrown. Returns when the size is right.
 */
async function refuseWrongSize(
  deps: RefusalDeps,
  row: MultipartRow,
  stored: number,
  what: 'parts' | 'object',
): Promise<void> {
  const problem = storedSizeProblem(stored, Number(row.size), deps.maxUploadBytes);
  if (!problem) return;
  const { db, store, log } = deps;
  const id = row.video_id;
  await db.query(`UPDATE multipart_uploads SET state = 'aborted' WHERE video_id = $1`, [id]);
  let removed = true;
  try {
    if (what === 'object') await store.delete(keys.source(id));
    else {
      await store.client.send(
        new AbortMultipartUploadCommand({
          Bucket: store.bucket,
          Key: store.fullKey(keys.source(id)),
          UploadId: row.s3_upload_id,
        }),
      );
    }
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
export async function checkDirectSource(deps: RefusalDeps, videoId: string): Promise<void> {
  const row = await getMultipart(deps.db, videoId);
  if (row?.kind !== 'direct') return;
  const size = (await deps.store.stat(keys.source(videoId)))?.size ?? 0;
  await refuseWrongSize(deps, row, size, 'object');
}

export function registerMultipart(app: FastifyInstance, deps: MultipartDeps): void {
  const { db, store, config, log } = deps;
  const s3Key = (videoId: string) => store.fullKey(keys.source(videoId));
  const refusal: RefusalDeps = { db, store, log, maxUploadBytes: config.maxUploadBytes };

  /** The caller's own open upload, or 404 (another key's upload is as good as absent). */
  async function ownUpload(req: FastifyRequest, id: string): Promise<MultipartRow> {
    assertId(id, 'video id');
    const row = await getMultipart(db, id);
    if (row?.kind !== 'direct' || row.api_key_id !== req.apiKeyId) {
      throw errors.objectNotFound(`direct upload ${id}`);
    }
    if (row.state === 'completed') throw conflict(`The upload of video ${id} is already complete.`);
    if (row.state === 'aborted') throw conflict(`The upload of video ${id} was aborted; start a new one.`);
    return row;
  }

  /** What storage holds: S3's own list where it has one (`listed`), else what the client reported. */
  async function storedParts(row: MultipartRow): Promise<{ parts: PartRow[]; listed: boolean }> {
    try {
      const out: PartRow[] = [];
      let marker: string | undefined;
      do {
        const res = await store.client.send(
          new ListPartsCommand({
            Bucket: store.bucket,
            Key: s3Key(row.video_id),
            UploadId: row.s3_upload_id,
            PartNumberMarker: marker,
          }),
        );
        for (const p of res.Parts ?? []) {
          out.push({ part_number: p.PartNumber!, etag: p.ETag!, size: p.Size ?? 0 });
        }
        marker = res.IsTruncated ? res.NextPartNumberMarker : undefined;
      } while (marker);
      return { parts: out, listed: true };
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'MethodNotAllowed' && name !== 'NotImplemented') throw err;
      return { parts: await listParts(db, row.video_id), listed: false };
    }
  }

  /** How many parts a direct upload has: derived from its size and part size, never stored. */
  const partsOf = (row: MultipartRow) => Math.ceil(Number(row.size) / row.part_size);
  const expectedSize = (row: MultipartRow, n: number) => {
    const count = partsOf(row);
    return n < count ? row.part_size : Number(row.size) - row.part_size * (count - 1);
  };

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);

    api.post(
      '/v1/uploads/multipart',
      {
        schema: {
          body: {
            type: 'object',
            required: ['size'],
            additionalProperties: false,
            properties: {
              size: { type: 'integer', minimum: 1 },
              filename: { type: 'string', maxLength: 255 },
              title: { type: 'string', maxLength: 200 },
              playbackPolicy: { type: 'string', enum: ['public', 'signed'] },
            },
          },
        },
      },
      async (req, reply) => {
        const body = req.body as {
          size: number;
          filename?: string;
          title?: string;
          playbackPolicy?: 'public' | 'signed';
        };
        if (body.size > config.maxUploadBytes) throw errors.uploadTooLarge(body.size, config.maxUploadBytes);
        const { partSize, partCount } = planParts(body.size);
        if (partCount > MAX_PARTS)
          throw bad(`A file of ${body.size} bytes needs more than ${MAX_PARTS} parts.`);
        const videoId = newVideoId();
        const filename = (body.filename ?? '').split(/[\\/]/).pop() ?? '';
        const { UploadId } = await store.client.send(
          new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: s3Key(videoId) }),
        );
        await db.transaction(async (tx) => {
          await insertUploadingVideo(tx, {
            id: videoId,
            title: body.title ?? filename.replace(/\.[^.]*$/, ''),
            filename,
            playbackPolicy: body.playbackPolicy ?? 'signed',
            apiKeyId: req.apiKeyId,
          });
          await insertMultipart(tx, {
            video_id: videoId,
            kind: 'direct',
            s3_upload_id: UploadId!,
            size: body.size,
            part_size: partSize,
            metadata: {},
            api_key_id: req.apiKeyId ?? null,
          });
        });
        log.info({ videoId, bytes: body.size, partCount }, 'direct upload started');
        return reply.code(201).send({ videoId, uploadId: UploadId, partSize, partCount });
      },
    );

    api.post(
      '/v1/uploads/multipart/:id/parts',
      {
        schema: {
          body: {
            type: 'object',
            required: ['partNumbers'],
            additionalProperties: false,
            properties: {
              partNumbers: {
                type: 'array',
                minItems: 1,
                maxItems: MAX_BATCH,
                items: { type: 'integer', minimum: 1, maximum: MAX_PARTS },
              },
            },
          },
        },
      },
      async (req) => {
        const row = await ownUpload(req, (req.params as { id: string }).id);
        const count = partsOf(row);
        const numbers = (req.body as { partNumbers: number[] }).partNumbers;
        const outside = numbers.find((n) => n > count);
        if (outside) throw bad(`This upload has ${count} parts; there is no part ${outside}.`);
        const parts = await Promise.all(
          numbers.map(async (partNumber) => ({
            partNumber,
            url: await getSignedUrl(
              store.client,
              new UploadPartCommand({
                Bucket: store.bucket,
                Key: s3Key(row.video_id),
                UploadId: row.s3_upload_id,
                PartNumber: partNumber,
                // Signed into the URL: storage that checks signatures refuses a body of another length.
                ContentLength: expectedSize(row, partNumber),
              }),
              { expiresIn: URL_SECONDS },
            ),
          })),
        );
        return { parts, expiresAt: new Date(Date.now() + URL_SECONDS * 1000).toISOString() };
      },
    );

    api.put(
      '/v1/uploads/multipart/:id/parts/:n',
      {
        schema: {
          params: {
            type: 'object',
            properties: { id: { type: 'string' }, n: { type: 'integer', minimum: 1, maximum: MAX_PARTS } },
          },
          body: {
            type: 'object',
            required: ['etag', 'size'],
            additionalProperties: false,
            properties: { etag: { type: 'string', maxLength: 80 }, size: { type: 'integer', minimum: 1 } },
          },
        },
      },
      async (req, reply) => {
        const { id, n } = req.params as { id: string; n: number };
        const row = await ownUpload(req, id);
        const { etag, size } = req.body as { etag: string; size: number };
        const count = partsOf(row);
        if (n > count) throw bad(`This upload has ${count} parts; there is no part ${n}.`);
        if (!ETAG.test(etag)) throw bad(`"${etag.slice(0, 80)}" is not an ETag storage returns.`);
        const want = expectedSize(row, n);
        if (size !== want) {
          throw bad(
            size < MIN_PART_SIZE && n < count
              ? `Part ${n} is ${size} bytes: every part but the last must be at least ${MIN_PART_SIZE} bytes (this upload's parts are ${row.part_size}).`
              : `Part ${n} must be ${want} bytes, not ${size}.`,
          );
        }
        await recordPart(db, id, { part_number: n, etag: quoted(etag), size });
        return reply.code(204).send();
      },
    );

    api.get('/v1/uploads/multipart/:id/parts', async (req) => {
      const row = await ownUpload(req, (req.params as { id: string }).id);
      const { parts } = await storedParts(row);
      return {
        partSize: row.part_size,
        partCount: partsOf(row),
        parts: parts.map((p) => ({ partNumber: p.part_number, etag: p.etag, size: Number(p.size) })),
      };
    });

    api.post(
      '/v1/uploads/multipart/:id/complete',
      {
        schema: {
          body: {
            type: 'object',
            required: ['parts'],
            additionalProperties: false,
            properties: {
              parts: {
                type: 'array',
                minItems: 1,
                maxItems: MAX_PARTS,
                items: {
                  type: 'object',
                  required: ['partNumber', 'etag'],
                  additionalProperties: false,
                  properties: {
                    partNumber: { type: 'integer', minimum: 1, maximum: MAX_PARTS },
                    etag: { type: 'string', minLength: 1, maxLength: 80 },
                  },
                },
              },
            },
          },
        },
      },
      async (req) => {
        const id = (req.params as { id: string }).id;
        const row = await ownUpload(req, id);
        const given = (req.body as { parts: { partNumber: number; etag: string }[] }).parts;
        const count = partsOf(row);
        const listing = await storedParts(row);
        const stored = new Map(listing.parts.map((p) => [p.part_number, p]));
        // Every check before S3 is asked: a refused completion changes nothing.
        for (let n = 1; n <= count; n++) {
          const g = given.find((p) => p.partNumber === n);
          if (!g) throw bad(`Part ${n} is missing from the list: give all ${count} parts with their ETags.`);
          const s = stored.get(n);
          if (!s) throw bad(`Part ${n} was not uploaded (or not reported with PUT …/parts/${n}).`);
          if (quoted(g.etag) !== quoted(s.etag))
            throw bad(`The ETag of part ${n} does not match the stored part.`);
          if (Number(s.size) < MIN_PART_SIZE && n < count) {
            throw bad(
              `Part ${n} is ${s.size} bytes: every part but the last must be at least ${MIN_PART_SIZE} bytes.`,
            );
          }
        }
        if (given.length !== count)
          throw bad(`This upload has ${count} parts; the list names ${given.length}.`);
        if (listing.listed) {
          // Sizes as storage lists them: more (or fewer) bytes than declared are refused before the join.
          let total = 0;
          for (let n = 1; n <= count; n++) total += Number(stored.get(n)!.size);
          await refuseWrongSize(refusal, row, total, 'parts');
        }
        if (!(await closeMultipart(db, id, 'completed')))
          throw conflict(`The upload of video ${id} is already complete.`);
        try {
          await store.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: store.bucket,
              Key: s3Key(id),
              UploadId: row.s3_upload_id,
              MultipartUpload: {
                Parts: [...Array(count).keys()].map((i) => ({
                  PartNumber: i + 1,
                  ETag: quoted(stored.get(i + 1)!.etag),
                })),
              },
            }),
          );
        } catch (err) {
          await db.query(`UPDATE multipart_uploads SET state = 'open' WHERE video_id = $1`, [id]);
          const name = (err as { name?: string }).name ?? '';
          if ([...PARTS_REFUSED, 'NoSuchUpload'].includes(name)) {
            throw bad(`Storage refused to complete the upload (${name}).`);
          }
          throw err;
        }
        // The joined object is what will be processed: its size is the one that counts, on every store.
        const size = (await store.stat(keys.source(id)))?.size ?? 0;
        await refuseWrongSize(refusal, row, size, 'object');
        await queueUploadedVideo(db, {
          id,
          sourceKey: keys.source(id),
          sourceSize: size,
          maxAttempts: config.maxAttempts,
        });
        deps.onQueued(id);
        log.info({ videoId: id, bytes: size }, 'direct upload complete: video queued');
        return toView((await getVideo(db, id))!);
      },
    );

    api.delete('/v1/uploads/multipart/:id', async (req, reply) => {
      const id = (req.params as { id: string }).id;
      const row = await ownUpload(req, id);
      await closeMultipart(db, id, 'aborted');
      await store.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: store.bucket,
            Key: s3Key(id),
            UploadId: row.s3_upload_id,
          }),
        )
        .catch((err) =>
          log.warn({ err: (err as Error).message, videoId: id }, 'storage did not abort the upload'),
        );
      await deleteVideoRow(db, id);
      log.info({ videoId: id }, 'direct upload aborted');
      return reply.code(204).send();
    });
  });
}

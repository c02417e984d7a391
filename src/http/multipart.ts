/**
 * Direct-to-storage uploads (S3 deployments): the client's bytes go straight to the bucket through
 * presigned part URLs; Reel only starts, tracks and completes the multipart upload.
 *
 *   POST   /v1/uploads/multipart                      {size, filename?, title?, playbackPolicy?, mp4?}
 *            → {videoId, uploadId, partSize, partCount}
 *   POST   /v1/uploads/multipart/{id}/parts           {partNumbers: [1, 2, …]} (at most 100)
 *            → {parts: [{partNumber, url}], expiresAt}
 *   PUT    /v1/uploads/multipart/{id}/parts/{n}       {etag, size}: the client reports a stored part
 *   GET    /v1/uploads/multipart/{id}/parts           → {parts: [{partNumber, etag, size}]}: to resume
 *   POST   /v1/uploads/multipart/{id}/complete        {parts: [{partNumber, etag}]} → the queued video
 *   DELETE /v1/uploads/multipart/{id}                 aborts
 *
 * The routes only parse, authorise and call uploads/direct.ts, where the upload is tracked, and
 * uploads/directRules.ts, where its rules are checked before storage sees a request.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { QueueConfig, UploadsConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db, MultipartStorage, ObjectStore } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import { directUploads } from '../uploads/direct.js';
import { MAX_PARTS } from '../uploads/partPlan.js';
import { tagRoutes } from './docs.js';
import { scopeRoutes } from './routeScopes.js';
import { externalIdSchema, type IdParams, idParams, idString, plainText, playbackPolicy } from './schemas.js';

const MAX_BATCH = 100;

interface StartBody {
  size: number;
  filename?: string;
  title?: string;
  playbackPolicy?: PlaybackPolicy;
  externalId?: string;
  mp4?: boolean;
}
interface PartParams extends IdParams {
  n: number;
}
interface ReportedPart {
  etag: string;
  size: number;
}
interface CompleteBody {
  parts: { partNumber: number; etag: string }[];
}

export interface MultipartDeps {
  db: Db;
  store: ObjectStore;
  multipart: MultipartStorage;
  config: UploadsConfig & QueueConfig;
  log: Logger;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  onQueued: (videoId: string) => void;
}

/** Without S3 there is no storage to upload to directly: say so instead of a bare 404. */
export function registerMultipartUnavailable(app: FastifyInstance): void {
  app.all('/v1/uploads/multipart', { schema: { hide: true } }, async () => {
    throw errors.directUploadsNeedS3();
  });
}

export function registerMultipart(app: FastifyInstance, deps: MultipartDeps): void {
  const { config } = deps;
  const direct = directUploads({
    ...deps,
    maxUploadBytes: config.maxUploadBytes,
    maxAttempts: config.maxAttempts,
  });

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);
    api.addHook('onRoute', tagRoutes('uploads'));
    api.addHook('onRoute', scopeRoutes('write'));

    api.post<{ Body: StartBody }>(
      '/v1/uploads/multipart',
      {
        schema: {
          body: {
            type: 'object',
            required: ['size'],
            additionalProperties: false,
            properties: {
              size: { type: 'integer', minimum: 1 },
              filename: plainText(255),
              title: plainText(200),
              playbackPolicy,
              externalId: externalIdSchema,
              mp4: {
                type: 'boolean',
                default: false,
                description: "make MP4 downloads (the video's `downloads`)",
              },
            },
          },
        },
      },
      async (req, reply) => {
        const started = await direct.start({ ...req.body, apiKeyId: req.apiKeyId });
        return reply.code(201).send(started);
      },
    );

    api.post<{ Params: IdParams; Body: { partNumbers: number[] } }>(
      '/v1/uploads/multipart/:id/parts',
      {
        schema: {
          params: idParams,
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
        const row = await direct.own(req.apiKeyId, req.params.id);
        return direct.presignParts(row, req.body.partNumbers);
      },
    );

    api.put<{ Params: PartParams; Body: ReportedPart }>(
      '/v1/uploads/multipart/:id/parts/:n',
      {
        schema: {
          params: {
            type: 'object',
            properties: { id: idString, n: { type: 'integer', minimum: 1, maximum: MAX_PARTS } },
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
        const { id, n } = req.params;
        const row = await direct.own(req.apiKeyId, id);
        const { etag, size } = req.body;
        await direct.reportPart(row, n, etag, size);
        return reply.code(204).send();
      },
    );

    api.get<{ Params: IdParams }>(
      '/v1/uploads/multipart/:id/parts',
      { schema: { params: idParams } },
      async (req) => direct.listParts(await direct.own(req.apiKeyId, req.params.id)),
    );

    api.post<{ Params: IdParams; Body: CompleteBody }>(
      '/v1/uploads/multipart/:id/complete',
      {
        schema: {
          params: idParams,
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
        const row = await direct.own(req.apiKeyId, req.params.id);
        return direct.complete(row, req.body.parts);
      },
    );

    api.delete<{ Params: IdParams }>(
      '/v1/uploads/multipart/:id',
      { schema: { params: idParams } },
      async (req, reply) => {
        await direct.abort(await direct.own(req.apiKeyId, req.params.id));
        return reply.code(204).send();
      },
    );
  });
}

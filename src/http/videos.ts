/** The management API: videos (list, get, delete, retry, playback URL) and API keys. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../db/apiKeys.js';
import { deleteVideoRow, getVideo, listVideos, toView } from '../db/videos.js';
import { retryVideo } from '../jobs/queue.js';
import { assertId, keys } from '../storage/keys.js';
import { signPlaybackToken, type TokenKeys } from './tokens.js';

export interface VideosDeps {
  db: Db;
  store: ObjectStore;
  config: Pick<Config, 'publicUrl' | 'tokenTtlSeconds' | 'maxAttempts'>;
  log: Logger;
  tokenKeys: TokenKeys;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  /** Removes staged bytes of an unfinished upload, when the upload role runs here. */
  discardUpload?: (videoId: string) => Promise<void>;
  onQueued: (videoId: string) => void;
}

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
  required: ['id'],
} as const;

export function baseUrl(req: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.host}`;
}

export function registerVideos(app: FastifyInstance, deps: VideosDeps): void {
  const { db, store, config, log } = deps;

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);

    const loadVideo = async (id: string) => {
      const video = await getVideo(db, assertId(id, 'video id'));
      if (!video) throw errors.videoNotFound(id);
      return video;
    };

    api.get(
      '/v1/videos',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
              before: { type: 'string', format: 'date-time' },
            },
            additionalProperties: false,
          },
        },
      },
      async (req) => {
        const q = req.query as { limit: number; before?: string };
        const rows = await listVideos(db, { limit: q.limit, before: q.before });
        const data = rows.map(toView);
        const last = data[data.length - 1];
        return { data, nextCursor: data.length === q.limit && last ? last.createdAt : null };
      },
    );

    api.get('/v1/videos/:id', { schema: { params: idParams } }, async (req) =>
      toView(await loadVideo((req.params as { id: string }).id)),
    );

    api.delete('/v1/videos/:id', { schema: { params: idParams } }, async (req, reply) => {
      const { id } = req.params as { id: string };
      if (!(await deleteVideoRow(db, assertId(id, 'video id')))) throw errors.videoNotFound(id);
      // The job row went with the video: a worker running it loses its lease at its next heartbeat,
      // kills ffmpeg and publishes nothing.
      await Promise.all([
        store.deletePrefix(keys.sourcePrefix(id)),
        store.deletePrefix(keys.videoPrefix(id)),
        deps.discardUpload?.(id),
      ]);
      log.info({ videoId: id }, 'video deleted');
      return reply.code(204).send();
    });

    api.post('/v1/videos/:id/retry', { schema: { params: idParams } }, async (req, reply) => {
      const { id } = req.params as { id: string };
      const video = await loadVideo(id);
      if (!(await retryVideo(db, id, config.maxAttempts))) throw errors.notRetryable(id, video.status);
      deps.onQueued(id);
      log.info({ videoId: id }, 'video requeued by request');
      return reply.code(202).send(toView((await getVideo(db, id))!));
    });

    api.get('/v1/videos/:id/playback', { schema: { params: idParams } }, async (req) => {
      const video = await loadVideo((req.params as { id: string }).id);
      const base = `${baseUrl(req, config.publicUrl)}/play/${video.id}`;
      if (video.playback_policy === 'public') return { url: `${base}/public/master.m3u8`, expiresAt: null };
      const { token, expiresAt } = await signPlaybackToken(deps.tokenKeys, video.id, config.tokenTtlSeconds);
      return { url: `${base}/${token}/master.m3u8`, expiresAt: expiresAt.toISOString() };
    });

    api.get('/v1/keys', async () => ({
      data: (await listApiKeys(db)).map((k) => ({
        id: k.id,
        name: k.name,
        createdAt: new Date(k.created_at).toISOString(),
        lastUsedAt: k.last_used_at && new Date(k.last_used_at).toISOString(),
        revokedAt: k.revoked_at && new Date(k.revoked_at).toISOString(),
      })),
    }));

    api.post(
      '/v1/keys',
      {
        schema: {
          body: {
            type: 'object',
            properties: { name: { type: 'string', maxLength: 100 } },
            additionalProperties: false,
          },
        },
      },
      async (req, reply) => {
        const name = (req.body as { name?: string } | undefined)?.name ?? '';
        const { id, secret } = await createApiKey(db, name);
        log.info({ keyId: id }, 'API key created');
        return reply.code(201).send({ id, name, key: secret });
      },
    );

    api.delete('/v1/keys/:id', { schema: { params: idParams } }, async (req, reply) => {
      const { id } = req.params as { id: string };
      if (!(await revokeApiKey(db, id))) throw errors.keyNotFound(id);
      log.info({ keyId: id }, 'API key revoked');
      return reply.code(204).send();
    });
  });
}

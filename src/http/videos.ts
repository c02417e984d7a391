/** The management API: videos (list, get, update, delete, retry, playback URL), and API keys (keys.ts). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccessConfig, HttpConfig, QueueConfig, TranscodeConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import {
  deleteVideoRow,
  getVideo,
  LIST_SORTS,
  type ListFilters,
  type ListSort,
  listVideos,
  toView,
} from '../db/videos.js';
import { retryVideo } from '../jobs/queue.js';
import { assertId, keys } from '../storage/keys.js';
import { registerAnalytics } from './analytics.js';
import { needScope } from './auth.js';
import { registerCaptions } from './captions.js';
import { registerCurrentKey } from './currentKey.js';
import type { KeyRevocations } from './keyRevocations.js';
import { registerKeys } from './keys.js';
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from './listCursor.js';
import { publicBase } from './publicUrl.js';
import { scopeNote, withScope } from './routeScopes.js';
import {
  authenticated,
  errorRef,
  externalIdSchema,
  type IdParams,
  idParams,
  noContent,
  nullable,
  playbackPolicy,
  videoStatus,
} from './schemas.js';
import { registerShares } from './shares.js';
import { signPlaybackToken, type TokenKeys } from './tokens.js';
import { registerVideoUpdate } from './videoUpdate.js';

export interface VideosDeps {
  db: Db;
  store: ObjectStore;
  config: HttpConfig & AccessConfig & QueueConfig & Pick<TranscodeConfig, 'ffmpegPath'>;
  log: Logger;
  tokenKeys: TokenKeys;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  /** Removes staged bytes of an unfinished upload, when the upload role runs here. */
  discardUpload?: (videoId: string) => Promise<void>;
  onQueued: (videoId: string) => void;
  /** Told of each API key revoked (keys.ts), so that its open live feeds end at once. */
  revocations?: KeyRevocations | undefined;
}

/**
 * The response schemas below are the API contract as the OpenAPI document at /docs shows it. Fastify also
 * serialises with them, which drops any property they do not name: a field added to a view must be added
 * here too.
 */

const videoSchema = {
  $id: 'Video',
  type: 'object',
  properties: {
    id: { type: 'string', description: 'the video id (also the tus upload id)' },
    title: { type: 'string' },
    status: videoStatus,
    progress: { type: 'number', minimum: 0, maximum: 1, description: '0–1 while processing; 1 when ready' },
    error: nullable('string', { description: 'when failed: a sentence a person can act on' }),
    durationMs: nullable('integer'),
    width: nullable('integer', { description: 'displayed width of the source' }),
    height: nullable('integer', { description: 'displayed height of the source' }),
    playbackPolicy: {
      ...playbackPolicy,
      description: 'signed: playback needs a token from GET /v1/videos/{id}/playback',
    },
    renditions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', examples: ['720p'] },
          width: { type: 'integer' },
          height: { type: 'integer' },
          bandwidth: { type: 'integer', description: 'peak segment bit rate (video + audio), bit/s' },
          averageBandwidth: { type: 'integer', description: 'average bit rate, bit/s' },
          codecs: { type: 'string', examples: ['avc1.64001f,mp4a.40.2'] },
        },
        required: ['name', 'width', 'height', 'bandwidth', 'averageBandwidth', 'codecs'],
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
    readyAt: nullable('string', { format: 'date-time' }),
    playable: {
      type: 'boolean',
      description:
        'playback can start: the video is ready, or (while processing) its first seconds of every rendition ' +
        'are published and more follow as they are encoded',
    },
    playableAt: nullable('string', { format: 'date-time', description: 'when it became playable' }),
    externalId: nullable('string', {
      description: 'your own id for the video, as given at upload or by PATCH; null when none',
    }),
    mp4: {
      type: 'boolean',
      description:
        'MP4 downloads asked for (tus metadata `mp4`, `mp4: true` at creation, or PATCH): made once every ' +
        'segment is published, remuxed from them without re-encoding',
    },
    downloads: {
      type: 'array',
      description:
        'the published downloads, at /play/{id}/{access}/download/{name}.mp4 (`audio`: download/audio.m4a), ' +
        'fast start, byte ranges; [] until made, or when mp4 is false',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', examples: ['720p', 'audio'] },
          width: nullable('integer', { description: 'null for audio' }),
          height: nullable('integer', { description: 'null for audio' }),
          size: { type: 'integer', description: 'bytes' },
        },
        required: ['name', 'width', 'height', 'size'],
      },
    },
    sourceSize: nullable('integer', { description: 'bytes of the uploaded source; null until uploaded' }),
    posterTime: nullable('number', {
      description:
        'the time (seconds) of the frame chosen as poster.jpg by PATCH posterTime; null: the poster the transcode made',
    }),
  },
  required: [
    'id',
    'title',
    'status',
    'progress',
    'error',
    'durationMs',
    'width',
    'height',
    'playbackPolicy',
    'renditions',
    'createdAt',
    'readyAt',
    'playable',
    'playableAt',
    'externalId',
    'mp4',
    'downloads',
    'sourceSize',
    'posterTime',
  ],
} as const;

const video = { $ref: 'Video#' } as const;

/** The longest `q` (title search) of GET /v1/videos. */
const MAX_QUERY_LENGTH = 200;

/** GET /v1/videos's query, as its schema validates it (limit has a default). */
interface ListQuery extends ListFilters {
  limit: number;
  cursor?: string;
  before?: string;
  sort?: ListSort;
}

export function registerVideos(app: FastifyInstance, deps: VideosDeps): void {
  const { db, store, config, log } = deps;

  app.addSchema(videoSchema);
  registerKeys(app, { db, log, requireApiKey: deps.requireApiKey, revocations: deps.revocations });
  registerCurrentKey(app, { db, requireApiKey: deps.requireApiKey });

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);

    const loadVideo = async (id: string) => {
      const video = await getVideo(db, assertId(id, 'video id'));
      if (!video) throw errors.videoNotFound(id);
      return video;
    };

    api.get<{ Querystring: ListQuery }>(
      '/v1/videos',
      {
        preHandler: needScope('read'),
        schema: {
          tags: ['videos'],
          summary: 'List videos, newest first (or oldest first, or by title), optionally filtered',
          description: withScope(
            'read',
            'Filters (`status`, `policy`, `externalId`, `q`) combine: a video is listed when it matches every ' +
              'one given. The cursor is only a position in the list: send the same filters and `sort` again ' +
              'with it for the next page (a cursor of another sort is refused, 400).',
          ),
          ...authenticated,
          querystring: {
            type: 'object',
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
              cursor: {
                type: 'string',
                maxLength: MAX_CURSOR_LENGTH,
                description: 'the nextCursor of the previous page: the videos after it',
              },
              before: {
                type: 'string',
                format: 'date-time',
                description:
                  'deprecated, use cursor: videos created strictly before this time (videos created in the same millisecond as the last one of a page are skipped)',
              },
              status: { ...videoStatus, description: 'only videos in this status' },
              policy: { ...playbackPolicy, description: 'only videos with this playback policy' },
              sort: {
                type: 'string',
                enum: LIST_SORTS,
                default: 'newest',
                description:
                  'newest (created, newest first), oldest (created, oldest first), title (A→Z, case-insensitive)',
              },
              externalId: { ...externalIdSchema, description: 'only videos with exactly this externalId' },
              q: {
                type: 'string',
                maxLength: MAX_QUERY_LENGTH,
                description:
                  'only videos whose title contains this text (case-insensitive; % and _ are literal)',
              },
            },
            additionalProperties: false,
          },
          response: {
            200: {
              type: 'object',
              properties: {
                data: { type: 'array', items: video },
                nextCursor: nullable('string', {
                  description: 'opaque: pass it as cursor for the next page; null on the last page',
                }),
              },
              required: ['data', 'nextCursor'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req) => {
        const q = req.query;
        if (q.cursor !== undefined && q.before !== undefined) throw errors.invalidCursor();
        const sort = q.sort ?? 'newest';
        if (sort !== 'newest' && q.before !== undefined) throw errors.invalidCursor();
        const after =
          q.cursor === undefined ? undefined : decodeCursor(q.cursor, sort === 'title' ? 'title' : 'time');
        const { rows, next } = await listVideos(db, {
          limit: q.limit,
          after,
          before: q.before,
          status: q.status,
          externalId: q.externalId,
          q: q.q,
          policy: q.policy,
          sort,
        });
        return { data: rows.map(toView), nextCursor: next && encodeCursor(next) };
      },
    );

    api.get<{ Params: IdParams }>(
      '/v1/videos/:id',
      {
        preHandler: needScope('read'),
        schema: {
          tags: ['videos'],
          summary: 'One video: status, progress, whether it can play, error, renditions',
          description: withScope('read'),
          ...authenticated,
          params: idParams,
          response: { 200: video, '4xx': errorRef },
        },
      },
      async (req) => toView(await loadVideo(req.params.id)),
    );

    registerVideoUpdate(api, {
      db,
      store,
      log,
      maxAttempts: config.maxAttempts,
      ffmpegPath: config.ffmpegPath,
    });
    registerCaptions(api, { db, store, config, log });
    registerAnalytics(api, { db });
    registerShares(api, { db, config, log });

    api.delete<{ Params: IdParams }>(
      '/v1/videos/:id',
      {
        preHandler: needScope('write'),
        schema: {
          tags: ['videos'],
          summary: 'Delete a video, its objects and any running job',
          description: withScope('write'),
          ...authenticated,
          params: idParams,
          response: { 204: noContent, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
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
      },
    );

    api.post<{ Params: IdParams }>(
      '/v1/videos/:id/retry',
      {
        preHandler: needScope('write'),
        schema: {
          tags: ['videos'],
          summary: 'Requeue a failed video',
          description: withScope(
            'write',
            'Only a failed video can be retried (409 otherwise). Answers the video, now queued.',
          ),
          ...authenticated,
          params: idParams,
          response: { 202: video, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        const video = await loadVideo(id);
        const requeued = await retryVideo(db, id, config.maxAttempts);
        if (!requeued) throw errors.notRetryable(id, video.status);
        deps.onQueued(id);
        log.info({ videoId: id }, 'video requeued by request');
        return reply.code(202).send(toView(requeued));
      },
    );

    api.get<{ Params: IdParams }>(
      '/v1/videos/:id/playback',
      {
        preHandler: needScope('read'),
        schema: {
          tags: ['videos'],
          summary: 'The master playlist URL to play a video',
          description:
            'The URL plays once the video is `playable` (before then it answers 404 ' +
            `${errors.videoNotReady.code}), while it is still processing too: its media playlists are then ` +
            'EVENT playlists that grow as chunks are published and become VOD when it is ready. ' +
            'For a signed video the URL carries a playback token that can start playback until expiresAt ' +
            '(a playback started by then may finish); for a public one it ' +
            `is /play/{id}/public/master.m3u8 and expiresAt is null. ${scopeNote('read')}`,
          ...authenticated,
          params: idParams,
          response: {
            200: {
              type: 'object',
              properties: {
                url: { type: 'string', format: 'uri' },
                expiresAt: nullable('string', { format: 'date-time' }),
              },
              required: ['url', 'expiresAt'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req) => {
        const video = await loadVideo(req.params.id);
        const base = `${publicBase(req, config.publicUrl)}/play/${video.id}`;
        if (video.playback_policy === 'public') return { url: `${base}/public/master.m3u8`, expiresAt: null };
        const { token, expiresAt } = await signPlaybackToken(
          deps.tokenKeys,
          video.id,
          config.tokenTtlSeconds,
        );
        return { url: `${base}/${token}/master.m3u8`, expiresAt: expiresAt.toISOString() };
      },
    );
  });
}

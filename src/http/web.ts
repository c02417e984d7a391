/**
 * The browser side of Reel: the pages (library, upload, player, and the public watch and embed pages), a
 * live feed of video changes for the library (server-sent events), and the API reference at /docs, which
 * @fastify/swagger generates from the route schemas.
 *
 * Call it (awaited) before the other routes are registered: @fastify/swagger only sees routes added after
 * it has loaded.
 *
 * The live feed, GET /v1/events, is in events.ts.
 */
import { createReadStream } from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import type { Config } from '../config.js';
import { errors } from '../core/errors.js';
import { getVideo } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { type EventsDeps, registerEvents } from './events.js';
import { type TokenKeys, verifyPlaybackToken } from './tokens.js';

export interface WebDeps extends EventsDeps {
  config: Pick<Config, 'roles' | 'publicUrl' | 'eventsStreamsPerKey'>;
  tokenKeys: TokenKeys;
}

const require = createRequire(import.meta.url);
/** src/web when run from source, dist/web when built (the build copies it). */
const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));
const VERSION = (require('../../package.json') as { version: string }).version;

/** The browser builds of the libraries the pages use, served from node_modules: no bundler. */
const VENDOR: Record<string, string> = {
  'hls.mjs': require.resolve('hls.js/dist/hls.min.mjs'),
  'tus.js': path.join(path.dirname(require.resolve('tus-js-client/package.json')), 'dist/tus.min.js'),
};

const PAGE_SECURITY = (frameable: boolean, publicUrl: string | undefined) => {
  const playOrigin = publicUrl ? ` ${new URL(publicUrl).origin}` : '';
  return [
    "default-src 'self'",
    `connect-src 'self'${playOrigin}`,
    `media-src 'self' blob:${playOrigin}`,
    `img-src 'self' data: blob:${playOrigin}`,
    "worker-src 'self' blob:",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${frameable ? '*' : "'none'"}`,
  ].join('; ');
};

const errorRef = { $ref: 'ReelError#' } as const;

export async function registerWeb(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const { config } = deps;
  const roles = new Set(config.roles);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Reel API',
        version: VERSION,
        description:
          'Upload videos (tus 1.0), follow their processing, and play them back as adaptive HLS. ' +
          'Management and upload calls need `Authorization: Bearer <api key>`; playback needs no key, only a ' +
          'playback token in the path for signed videos. Every error body is `{error, code, message, statusCode}`.',
      },
      tags: [
        { name: 'videos', description: 'Videos and their playback URLs' },
        { name: 'uploads', description: 'tus 1.0 resumable uploads; the upload id is the video id' },
        { name: 'playback', description: 'HLS playlists, segments and poster; no API key' },
        { name: 'keys', description: 'API keys' },
        { name: 'events', description: 'Live changes for dashboards' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (reel keys create).' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `schema${i}`) },
    transform: ({ schema, url }) => describeUndocumented(url, schema),
    transformObject: (doc) =>
      describeTus(
        ('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as Record<string, unknown>,
      ),
  });
  // The API reference: Swagger UI over the generated OpenAPI document (also at /docs/json and /docs/yaml).
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: false },
  });

  await app.register(fastifyStatic, {
    root: path.join(WEB_DIR, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    cacheControl: true,
    maxAge: 0, // revalidated each time (ETag): the files are not content-hashed
  });
  app.get('/assets/vendor/:file', { schema: { hide: true } }, async (req, reply) => {
    const file = VENDOR[(req.params as { file: string }).file];
    if (!file) throw errors.objectNotFound(req.url);
    reply.header('Cache-Control', 'public, max-age=86400');
    return reply.type('text/javascript; charset=utf-8').send(createReadStream(file));
  });

  const page =
    (name: string, frameable = false) =>
    async (_req: FastifyRequest, reply: FastifyReply) => {
      reply.header('Content-Security-Policy', PAGE_SECURITY(frameable, config.publicUrl));
      reply.header('X-Content-Type-Options', 'nosniff');
      reply.header('Referrer-Policy', 'same-origin');
      reply.header('Cache-Control', 'no-cache');
      return reply.type('text/html; charset=utf-8').send(await fsp.readFile(path.join(WEB_DIR, name)));
    };
  const hidden = { schema: { hide: true } };

  if (roles.has('upload')) {
    app.get('/', hidden, page('index.html'));
    app.get('/upload', hidden, page('upload.html'));
    app.get('/videos/:id', hidden, page('video.html'));
    registerEvents(app, deps);
  }
  if (roles.has('play')) {
    app.get('/watch/:videoId/:access', hidden, page('watch.html'));
    app.get('/embed/:videoId/:access', hidden, page('watch.html', true));
    registerWatchInfo(app, deps);
  }
}

/** What the public watch page may know about a video: exactly what its playback access allows. */
function registerWatchInfo(app: FastifyInstance, deps: WebDeps): void {
  app.get(
    '/watch/:videoId/:access/info',
    {
      schema: {
        tags: ['playback'],
        summary: 'What a share link shows: title, status, and until when the link plays',
        description:
          'The same access rules as playback: `access` is a playback token, or `public` for a public video. ' +
          'A share link is `/watch/{videoId}/{access}`; an embed is `/embed/{videoId}/{access}`.',
        params: {
          type: 'object',
          properties: {
            videoId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
            access: { type: 'string', maxLength: 2048 },
          },
          required: ['videoId', 'access'],
        },
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              title: { type: 'string' },
              status: { type: 'string', enum: ['uploading', 'queued', 'processing', 'ready', 'failed'] },
              durationMs: { type: ['integer', 'null'] },
              width: { type: ['integer', 'null'] },
              height: { type: ['integer', 'null'] },
              masterUrl: { type: 'string', description: 'relative to this page' },
              posterUrl: { type: ['string', 'null'] },
              expiresAt: { type: ['string', 'null'], format: 'date-time' },
            },
            required: ['id', 'title', 'status', 'masterUrl', 'expiresAt'],
          },
          '4xx': errorRef,
        },
      },
    },
    async (req, reply) => {
      const { videoId, access } = req.params as { videoId: string; access: string };
      assertId(videoId, 'video id');
      const video = await getVideo(deps.db, videoId);
      if (!video) throw errors.videoNotFound(videoId);
      let expiresAt: string | null = null;
      if (access === 'public') {
        if (video.playback_policy !== 'public') throw errors.missingToken();
      } else {
        await verifyPlaybackToken(deps.tokenKeys, access, videoId, 'start');
        const exp = decodeJwt(access).exp;
        expiresAt = exp ? new Date(exp * 1000).toISOString() : null;
      }
      reply.header('Cache-Control', 'no-store');
      const base = `/play/${video.id}/${access}`;
      return {
        id: video.id,
        title: video.title,
        status: video.status,
        durationMs: video.duration_ms,
        width: video.width,
        height: video.height,
        masterUrl: `${base}/master.m3u8`,
        posterUrl: video.status === 'ready' ? `${base}/poster.jpg` : null,
        expiresAt,
      };
    },
  );
}

const TUS_HEADERS = 'Tus-Resumable: 1.0.0 on every request but OPTIONS.';

/** The tus operations, method by method (one Fastify route serves them all, so they get one schema). */
const TUS_OPERATIONS: Record<string, Record<string, { summary: string; description: string; ok: string }>> = {
  '/v1/uploads': {
    post: {
      summary: 'Create an upload (tus creation, creation-with-upload)',
      description:
        'Headers: Upload-Length, Upload-Metadata (comma list of `key base64value`: `filename`, `title`, ' +
        '`playback_policy` = public | signed, default signed); the body may carry the first bytes ' +
        '(Content-Type: application/offset+octet-stream). The Location header names the upload: its last ' +
        'segment is the video id. A size above the server maximum (Tus-Max-Size) is refused with 413 ' +
        `${errors.uploadTooLarge.code} before any byte is stored. ` +
        TUS_HEADERS,
      ok: '201',
    },
    options: {
      summary: 'tus capabilities',
      description: 'Tus-Version, Tus-Extension and Tus-Max-Size (the largest upload accepted). No API key.',
      ok: '204',
    },
  },
  '/v1/uploads/{id}': {
    head: {
      summary: 'Where an upload stands',
      description: `Upload-Offset (bytes received) and Upload-Length: resume from the offset. ${TUS_HEADERS}`,
      ok: '200',
    },
    patch: {
      summary: 'Append bytes',
      description:
        'At Upload-Offset, Content-Type: application/offset+octet-stream. When the last byte arrives the ' +
        `video is queued for processing. ${TUS_HEADERS}`,
      ok: '204',
    },
    delete: {
      summary: 'Terminate an unfinished upload',
      description: `Removes its bytes and its video. ${TUS_HEADERS}`,
      ok: '204',
    },
    options: { summary: 'tus capabilities', description: 'As OPTIONS /v1/uploads.', ok: '204' },
  },
};

/**
 * OpenAPI for the routes whose handlers are not plain JSON (tus uploads, HLS playback), which their
 * Fastify schemas cannot say; and hides what is not API.
 */
function describeUndocumented(url: string, schema: object | undefined): { schema: object; url: string } {
  const s: Record<string, unknown> = { ...(schema ?? {}) };
  if (url === '/healthz' || url === '/metrics' || url === '/play/*') return { schema: { hide: true }, url };
  if (url.startsWith('/v1/uploads')) return { schema: { ...s, tags: ['uploads'] }, url };
  if (url === '/play/:videoId/:access/*') {
    return {
      url: '/play/:videoId/:access/:file',
      schema: {
        ...s,
        tags: ['playback'],
        summary: 'Playlists, segments and poster of a ready video',
        description:
          '`access` is a playback token (from GET /v1/videos/{id}/playback) or `public` for a public video. ' +
          'The master fetched with a playback token points its renditions at a session token (`../{session}/…`) ' +
          'that lets this playback finish after the playback token expires; a session token cannot fetch a ' +
          `master (403 ${errors.sessionTokenCannotStart.code}). Token URLs are \`Cache-Control: private\`. ` +
          'Byte ranges, CORS `*`. 401: no or unreadable token; 403: a token for another video, expired, or ' +
          'with a bad signature; 404: unknown video, not ready, or no such file.',
        params: {
          type: 'object',
          properties: {
            videoId: { type: 'string' },
            access: {
              type: 'string',
              description: 'a playback token, a session token (not for master.m3u8), or public',
            },
            file: {
              type: 'string',
              description:
                'master.m3u8, poster.jpg, {rendition}/index.m3u8, {rendition}/init.mp4, {rendition}/seg_NNNNN.m4s (the rendition may be audio)',
            },
          },
        },
        response: { 200: { description: 'The file', type: 'string' }, '4xx': errorRef },
      },
    };
  }
  return { schema: s, url };
}

/** Replaces the tus routes' operations by one per tus method. */
function describeTus(openapiObject: Record<string, unknown>): Record<string, unknown> {
  const paths = (openapiObject['paths'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [url, ops] of Object.entries(TUS_OPERATIONS)) {
    if (!paths[url]) continue;
    const idParam = url.includes('{id}')
      ? [{ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'the video id' }]
      : [];
    paths[url] = Object.fromEntries(
      Object.entries(ops).map(([method, op]) => [
        method,
        {
          tags: ['uploads'],
          summary: op.summary,
          description: op.description,
          parameters: idParam,
          security: method === 'options' ? [] : [{ apiKey: [] }],
          responses: {
            [op.ok]: { description: 'tus response headers' },
            '4XX': {
              description: 'The error body',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ReelError' } } },
            },
          },
        },
      ]),
    );
  }
  return openapiObject;
}

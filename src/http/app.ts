/** The Fastify application: one error format for everything, and the routes of the roles this process runs. */
import http from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { HttpConfig } from '../config.js';
import { errors, isReelError, type ReelError } from '../core/errors.js';
import { isConnectionError } from '../db/postgres.js';
import { limitConnections } from './connectionLimits.js';
import { logRequests } from './requestLog.js';

/**
 * What may answer a request before Fastify sees it (the play role's fast path, http/playFastPath.ts):
 * set once the roles are registered; false from it passes the request on to Fastify.
 */
export interface FrontDoor {
  handle?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export function createHttpApp(log: Logger, config: HttpConfig, front?: FrontDoor): FastifyInstance {
  const app = Fastify({
    // Fastify's own server, with a look at the front door first (the timeouts as Fastify would set them).
    serverFactory: (handler, opts) => {
      const server = http.createServer((req, res) => {
        if (!front?.handle?.(req, res)) handler(req, res);
      });
      const o = opts as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      server.keepAliveTimeout = o.keepAliveTimeout ?? 72_000;
      server.requestTimeout = o.requestTimeout ?? 0;
      server.setTimeout(o.connectionTimeout ?? 0);
      return server;
    },
    loggerInstance: log,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 2048 },
    // X-Forwarded-For/Host/Proto are believed only from the proxies REEL_TRUST_PROXY names.
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    // Fastify's request lines would log playback tokens (they sit in the path): see requestLog.ts.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  limitConnections(
    app.server,
    { bodyIdleMs: config.bodyIdleSeconds * 1000, maxConnections: config.maxConnections },
    log,
  );

  // The API key a request was authenticated with ("env" for REEL_API_KEY): set by requireApiKey (auth.ts).
  app.decorateRequest('apiKeyId', undefined);

  app.setErrorHandler((err: FastifyError | ReelError | Error, req, reply) => {
    let e: ReelError;
    if (isReelError(err)) e = err;
    else if (isConnectionError(err)) {
      req.log.error({ err }, 'the database is unreachable');
      e = errors.dbUnavailable();
      reply.header('Retry-After', '5');
    } else if ('validation' in err && err.validation)
      e = errors.invalidRequest(`Invalid request: ${err.message}.`);
    else if ('statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) {
      e = errors.fastifyRefusal((err as FastifyError).code, err.statusCode, err.message);
    } else {
      req.log.error({ err }, 'request failed');
      e = errors.internal();
    }
    // A route may have set how long its answer may be kept, and its validators, before it failed: an error
    // is never kept (an edge would serve it to every viewer of that file for as long as a segment lives).
    for (const h of ['X-Accel-Expires', 'Cache-Control', 'ETag', 'Last-Modified', 'Content-Disposition'])
      reply.removeHeader(h);
    return reply.code(e.statusCode).type('application/json').send(e.toBody());
  });

  logRequests(app);

  app.setNotFoundHandler((req, reply) => {
    const e = errors.routeNotFound(req.method, req.url.split('?')[0]!.slice(0, 200));
    return reply.code(404).send(e.toBody());
  });

  // Request logs carry the video id, like the worker's.
  app.addHook('preHandler', async (req, reply) => {
    // Not playback: its success lines are debug only, and its URLs name the video already.
    if (req.url.startsWith('/play/')) return;
    const p = (req.params ?? {}) as Record<string, string | undefined>;
    const videoId = p['videoId'] ?? (/^\/v1\/(videos|uploads)\//.test(req.url) ? p['id'] : undefined);
    if (videoId) {
      req.log = req.log.child({ videoId });
      reply.log = req.log;
    }
  });

  // The error body every route answers with; route schemas refer to it as { $ref: 'ReelError#' }.
  app.addSchema({
    $id: 'ReelError',
    type: 'object',
    description: 'Every error: a stable code to branch on and a sentence a person can act on.',
    properties: {
      error: { type: 'string', description: 'HTTP status text', examples: ['Not Found'] },
      code: { type: 'string', description: 'stable error code', examples: [errors.videoNotFound.code] },
      message: { type: 'string' },
      statusCode: { type: 'integer' },
    },
    required: ['error', 'code', 'message', 'statusCode'],
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  return app;
}

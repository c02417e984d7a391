/**
 * The browser pages (library, upload, player, and the public watch and embed pages), their static assets,
 * the browser builds of the libraries they use, and the Content-Security-Policy they are served with.
 */
import { createReadStream } from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpConfig, ProcessConfig } from '../config.js';
import { errors } from '../core/errors.js';

export interface PagesDeps {
  config: ProcessConfig & HttpConfig;
}

const require = createRequire(import.meta.url);
/** src/web when run from source, dist/web when built (the build copies it). */
const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

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
    // data:: hls.js gives each subtitle track a <track src="data:,WEBVTT"> and adds the cues itself.
    `media-src 'self' blob: data:${playOrigin}`,
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

/** Sends one of the pages with its security headers (shares.ts answers /s/… with it, with its status). */
export async function sendPage(
  reply: FastifyReply,
  name: string,
  frameable: boolean,
  publicUrl: string | undefined,
): Promise<FastifyReply> {
  reply.header('Content-Security-Policy', PAGE_SECURITY(frameable, publicUrl));
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'same-origin');
  reply.header('Cache-Control', 'no-cache');
  return reply.type('text/html; charset=utf-8').send(await fsp.readFile(path.join(WEB_DIR, name)));
}

export async function registerPages(app: FastifyInstance, deps: PagesDeps): Promise<void> {
  const { config } = deps;
  const roles = new Set(config.roles);

  await app.register(fastifyStatic, {
    root: path.join(WEB_DIR, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    cacheControl: true,
    maxAge: 0, // revalidated each time (ETag): the files are not content-hashed
  });
  app.get<{ Params: { file: string } }>(
    '/assets/vendor/:file',
    { schema: { hide: true } },
    async (req, reply) => {
      const file = VENDOR[req.params.file];
      if (!file) throw errors.objectNotFound(req.url);
      reply.header('Cache-Control', 'public, max-age=86400');
      return reply.type('text/javascript; charset=utf-8').send(createReadStream(file));
    },
  );

  const page =
    (name: string, frameable = false) =>
    async (_req: FastifyRequest, reply: FastifyReply) =>
      sendPage(reply, name, frameable, config.publicUrl);
  const hidden = { schema: { hide: true } };

  if (roles.has('upload')) {
    app.get('/', hidden, page('index.html'));
    app.get('/upload', hidden, page('upload.html'));
    app.get('/videos/:id', hidden, page('video.html'));
    app.get('/settings', hidden, page('settings.html'));
    app.get('/analytics', hidden, page('analytics.html'));
  }
  if (roles.has('play')) {
    app.get('/watch/:videoId/:access', hidden, page('watch.html'));
    app.get('/embed/:videoId/:access', hidden, page('watch.html', true));
  }
}

/**
 * Import from a URL: `POST /v1/videos {url, title?, playbackPolicy?}` → 201 with the video, `queued`. The
 * URL is checked at once (http or https, no credentials, a host that resolves to public addresses unless
 * REEL_ALLOW_PRIVATE_NETWORKS): a refusal is a 400 with the reason. The video, its job and the wake-up
 * are one transaction; a worker then fetches the source as the first step of planning
 * (jobs/importSource.ts) and processes it like an upload.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { IntegrationConfig, QueueConfig } from '../config.js';
import { errors, isReelError } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import { insertImportedVideo } from '../db/imports.js';
import { insertJob, notifyJobQueued } from '../db/jobs.js';
import { toView } from '../db/videos.js';
import { assertPublicDestination, checkOutboundUrl } from '../net/outbound.js';
import { newVideoId } from '../storage/keys.js';
import { scopeRoutes } from './routeScopes.js';
import { authenticated, errorRef, externalIdSchema, plainText, playbackPolicy } from './schemas.js';

export interface ImportsDeps {
  db: Db;
  config: QueueConfig & IntegrationConfig;
  log: Logger;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  onQueued: (videoId: string) => void;
}

interface ImportBody {
  url: string;
  title?: string;
  externalId?: string;
  playbackPolicy?: PlaybackPolicy;
  mp4?: boolean;
}

/** The longest URL accepted (what browsers and most servers accept). */
export const MAX_IMPORT_URL = 2048;
const MAX_TITLE = 200;
const MAX_FILENAME = 255;

/** The video's filename: the URL's last path segment, decoded, or "video" when it has none. */
export function filenameOf(url: URL): string {
  const last = url.pathname.split('/').pop() ?? '';
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  name = path.posix.basename(name.replace(/[\u0000-\u001f\u007f\\]/g, '')).trim();
  return (name === '.' || name === '..' ? '' : name).slice(0, MAX_FILENAME) || 'video';
}

export function registerImports(app: FastifyInstance, deps: ImportsDeps): void {
  const { db, config, log } = deps;

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);
    api.addHook('onRoute', scopeRoutes('write'));

    api.post<{ Body: ImportBody }>(
      '/v1/videos',
      {
        schema: {
          tags: ['videos'],
          summary: 'Import a video from a URL',
          description:
            'Creates a video whose source a worker fetches from `url` (http or https), then processes like an ' +
            'upload: it answers at once with the video, `queued`. The host must resolve to public addresses ' +
            '(not loopback, private, link-local, multicast or unspecified; every redirect, at most 5, is checked ' +
            `again) unless the server sets REEL_ALLOW_PRIVATE_NETWORKS: otherwise 400 ${errors.urlRefused.code}. ` +
            'A fetch that fails ends the video `failed` with the reason in `error`: the status the URL answered, ' +
            'a file larger than REEL_MAX_UPLOAD_BYTES, a fetch longer than REEL_IMPORT_TIMEOUT_SECONDS, not a video. ' +
            'Server errors and broken connections are tried again with backoff first.',
          ...authenticated,
          body: {
            type: 'object',
            properties: {
              url: {
                type: 'string',
                minLength: 1,
                maxLength: MAX_IMPORT_URL,
                description: 'http or https URL of the video file, without user:password',
                examples: ['https://example.com/media/holiday.mp4'],
              },
              title: {
                ...plainText(MAX_TITLE),
                description: 'default: the file name in the URL, without its extension',
              },
              playbackPolicy: { ...playbackPolicy, default: 'signed' },
              externalId: externalIdSchema,
              mp4: {
                type: 'boolean',
                default: false,
                description: "make MP4 downloads (the video's `downloads`)",
              },
            },
            required: ['url'],
            additionalProperties: false,
          },
          response: { 201: { $ref: 'Video#' }, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const url = checkOutboundUrl(req.body.url);
        try {
          await assertPublicDestination(url, { allowPrivateNetworks: config.allowPrivateNetworks });
        } catch (err) {
          if (isReelError(err)) throw err;
          // The host does not resolve (or the resolver failed): a refusal, with the reason.
          throw errors.urlRefused(`${(err as Error).message}.`);
        }
        const filename = filenameOf(url);
        const title = (req.body.title?.trim() || filename.replace(/\.[^.]*$/, '') || filename).slice(
          0,
          MAX_TITLE,
        );
        const id = newVideoId();
        const row = await db.transaction(async (tx) => {
          const video = await insertImportedVideo(tx, {
            id,
            title,
            filename,
            playbackPolicy: req.body.playbackPolicy ?? 'signed',
            sourceUrl: url.href,
            externalId: req.body.externalId ?? null,
            apiKeyId: req.apiKeyId,
            mp4: req.body.mp4 === true,
          });
          await insertJob(tx, { videoId: id, maxAttempts: config.maxAttempts });
          await notifyJobQueued(tx, id);
          return video;
        });
        deps.onQueued(id);
        // The host only: a URL's path and query may carry a secret (a presigned link).
        log.info({ videoId: id, host: url.host, keyId: req.apiKeyId }, 'import queued');
        return reply.code(201).send(toView(row));
      },
    );
  });
}

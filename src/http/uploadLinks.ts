/**
 * Upload links (issue 12; Mux "direct uploads", Cloudflare "direct creator uploads"). An API key with the
 * write scope asks POST /v1/uploads/links for a URL; whoever holds the URL uploads one file to it with any
 * tus client and no credentials, and the file becomes the video made with the link.
 *
 * The URL is /v1/upload-links/{secret}: POST there is tus creation, and the upload it creates lives at
 * /v1/upload-links/{secret}/{videoId} (HEAD, PATCH, DELETE), so resuming needs no credentials either. The
 * same tus engine as /v1/uploads answers, granted only the link's video: the secret reads nothing, lists
 * nothing, and reaches no other upload. One creation per link (the first wins, in the database); none after
 * the link expired, though an upload begun before then may finish until the usual upload expiry
 * (REEL_UPLOAD_EXPIRY_HOURS). Browsers on the link's corsOrigin, and only there, may read the answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { HttpConfig, UploadsConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import {
  claimUploadLink,
  createUploadLink,
  findUploadLink,
  LINK_SECRET,
  linkVideoUploading,
  newLinkSecret,
  releaseUploadLink,
} from '../db/uploadLinks.js';
import { newVideoId } from '../storage/keys.js';
import type { RequestGrant, TusUploads } from '../uploads/tus.js';
import type { OpenApiOperations } from './docs.js';
import { publicBase } from './publicUrl.js';
import { scopeRoutes } from './routeScopes.js';
import { authenticated, errorRef, externalIdSchema, playbackPolicy } from './schemas.js';

/** Where the links' own tus routes live. */
export const LINK_PATH = '/v1/upload-links';

export const LINK_LIMITS = {
  defaultExpiresInSeconds: 3600,
  minExpiresInSeconds: 60,
  maxExpiresInSeconds: 7 * 24 * 3600,
  maxTitle: 200,
} as const;

/** The longest Upload-Metadata header accepted (as at /v1/uploads). */
const MAX_METADATA_HEADER = 4096;

/** What a browser on the link's origin may read of the answers. */
const EXPOSE_HEADERS =
  'Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Upload-Defer-Length, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size';

interface LinkBody {
  title?: string;
  playbackPolicy?: PlaybackPolicy;
  maxBytes?: number;
  expiresInSeconds?: number;
  corsOrigin?: string;
  externalId?: string;
  mp4?: boolean;
}

export interface UploadLinksDeps {
  db: Db;
  config: HttpConfig & UploadsConfig;
  log: Logger;
  tus: TusUploads;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
}

/** Control characters (Unicode Cc), which a title never holds. */
const CONTROL = /\p{Cc}/u;

/** `scheme://host[:port]` as a browser sends it in Origin (a trailing slash is forgiven), or a 400. */
export function parseOrigin(raw: string): string {
  const refuse = () =>
    errors.invalidRequest(
      `corsOrigin must be an origin such as "https://app.example.com" or "http://localhost:3000" (a scheme, a host and an optional port; no path), got "${raw.slice(0, 100)}".`,
    );
  if (!/^https?:\/\/[^/?#@\s\\]+\/?$/i.test(raw)) throw refuse();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse();
  }
  if (url.origin === 'null' || !url.hostname) throw refuse();
  return url.origin;
}

const LINK_OPERATIONS: Record<string, OpenApiOperations> = {
  [`${LINK_PATH}/:secret`]: {
    tag: 'uploads',
    okDescription: 'tus response headers',
    params: { secret: 'the secret of the upload link (the last segment of its url)' },
    operations: {
      post: {
        summary: 'Upload with a link: create the upload (tus creation, creation-with-upload)',
        description:
          'No API key: the link is the credential. Headers as POST /v1/uploads (Upload-Length is required; ' +
          'Upload-Metadata `filename`, and `title` when the link has none; the link decides the playback policy). ' +
          'The Location is under the link, and its last segment is the link’s videoId. One upload per link: ' +
          `a second creation is refused (410 ${errors.uploadLinkUsed.code}), as is one after the link expired ` +
          `(410 ${errors.uploadLinkExpired.code}) or larger than its maxBytes (413 ${errors.uploadLinkTooLarge.code}).`,
        ok: '201',
        authenticated: false,
      },
      options: {
        summary: 'tus capabilities, and CORS preflight for the link’s corsOrigin',
        description: 'Tus-Max-Size is the link’s maxBytes.',
        ok: '204',
        authenticated: false,
      },
    },
  },
  [`${LINK_PATH}/:secret/:id`]: {
    tag: 'uploads',
    okDescription: 'tus response headers',
    params: { secret: 'the secret of the upload link', id: 'the link’s video id' },
    operations: {
      head: {
        summary: 'Where the link’s upload stands (Upload-Offset): resume from there',
        description: 'No API key. Works after the link expired, until the upload itself expires.',
        ok: '200',
        authenticated: false,
      },
      patch: {
        summary: 'Append bytes to the link’s upload',
        description: 'No API key.',
        ok: '204',
        authenticated: false,
      },
      delete: {
        summary: 'Terminate the link’s unfinished upload',
        description: 'No API key. Removes its bytes and the link’s video (and with it the link).',
        ok: '204',
        authenticated: false,
      },
      options: { summary: 'As OPTIONS on the link', description: '', ok: '204', authenticated: false },
    },
  },
};

export function registerUploadLinks(app: FastifyInstance, deps: UploadLinksDeps): void {
  const { db, config, log, tus } = deps;

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);
    api.addHook('onRoute', scopeRoutes('write'));
    api.post<{ Body: LinkBody | undefined }>(
      '/v1/uploads/links',
      {
        schema: {
          tags: ['uploads'],
          summary: 'Create an upload link: a URL that uploads one file with no API key',
          description:
            'Makes the video at once (status uploading, owned by this key) and a URL for it. Give the URL to ' +
            'anyone (an end user’s browser): a tus client with `endpoint: url` and no credentials uploads one ' +
            'file, which becomes `videoId`. The link takes one upload, none after `expiresAt` (an upload begun ' +
            'before then may finish), none larger than `maxBytes`; browsers on `corsOrigin` may use it. ' +
            'It grants nothing else. Deleting the video revokes the link.',
          ...authenticated,
          body: {
            type: 'object',
            properties: {
              title: {
                type: 'string',
                maxLength: LINK_LIMITS.maxTitle,
                description: 'default: the file’s name',
              },
              playbackPolicy: { ...playbackPolicy, default: 'signed' },
              externalId: externalIdSchema,
              mp4: {
                type: 'boolean',
                default: false,
                description: "make MP4 downloads (the video's `downloads`)",
              },
              maxBytes: {
                type: 'integer',
                minimum: 1,
                maximum: config.maxUploadBytes,
                description: 'the largest file the link takes (default and ceiling: REEL_MAX_UPLOAD_BYTES)',
              },
              expiresInSeconds: {
                type: 'integer',
                minimum: LINK_LIMITS.minExpiresInSeconds,
                maximum: LINK_LIMITS.maxExpiresInSeconds,
                default: LINK_LIMITS.defaultExpiresInSeconds,
                description: 'how long the link can begin an upload (60 s to 7 days; default 1 hour)',
              },
              corsOrigin: {
                type: 'string',
                maxLength: 300,
                description:
                  'the one web origin (scheme://host[:port]) whose pages may upload with the link; none: no browser page on another origin',
              },
            },
            additionalProperties: false,
          },
          response: {
            201: {
              type: 'object',
              properties: {
                videoId: { type: 'string' },
                url: { type: 'string', format: 'uri', description: 'the tus endpoint; keep it secret' },
                expiresAt: { type: 'string', format: 'date-time' },
              },
              required: ['videoId', 'url', 'expiresAt'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req, reply) => {
        const body = req.body ?? {};
        const title = (body.title ?? '').trim();
        if (CONTROL.test(title))
          throw errors.invalidRequest('title must be plain text without control characters.');
        const maxBytes = body.maxBytes ?? config.maxUploadBytes;
        const corsOrigin = body.corsOrigin === undefined ? null : parseOrigin(body.corsOrigin);
        const videoId = newVideoId();
        const secret = newLinkSecret();
        const expiresAt = await createUploadLink(db, {
          videoId,
          secret,
          title,
          playbackPolicy: body.playbackPolicy ?? 'signed',
          externalId: body.externalId ?? null,
          mp4: body.mp4 === true,
          apiKeyId: req.apiKeyId,
          maxBytes,
          expiresInSeconds: body.expiresInSeconds ?? LINK_LIMITS.defaultExpiresInSeconds,
          corsOrigin,
        });
        log.info({ videoId, apiKeyId: req.apiKeyId, maxBytes, corsOrigin }, 'upload link created');
        return reply.code(201).send({
          videoId,
          url: `${publicBase(req, config.publicUrl)}${LINK_PATH}/${secret}`,
          expiresAt: expiresAt.toISOString(),
        });
      },
    );
  });

  // The creation request that took its link's upload: given back if that creation failed.
  const claimedBy = new WeakMap<IncomingMessage, string>();

  const preHandler = async (req: FastifyRequest, reply: FastifyReply) => {
    const { secret, id } = req.params as { secret: string; id?: string };
    const link = LINK_SECRET.test(secret) ? await findUploadLink(db, secret) : null;
    // Another upload's id under a link is as unknown as a wrong secret: nothing says what exists.
    if (!link || (id !== undefined && id !== link.videoId)) throw errors.uploadLinkNotFound();
    req.log = req.log.child({ videoId: link.videoId });
    reply.log = req.log;
    const origin = req.headers.origin;
    if (link.corsOrigin !== null && origin === link.corsOrigin) {
      // Refusals sent from here are readable by the page too (tus sets its own answers' headers).
      reply.header('Access-Control-Allow-Origin', origin);
      reply.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
      reply.header('Vary', 'Origin');
    }
    const grant: RequestGrant = { maxSize: link.maxBytes, corsOrigin: link.corsOrigin };
    if (req.method === 'OPTIONS') {
      tus.grant(req.raw, grant);
      return;
    }
    const metadata = req.headers['upload-metadata'];
    if (typeof metadata === 'string' && metadata.length > MAX_METADATA_HEADER) {
      throw errors.invalidMetadata(`the Upload-Metadata header is longer than ${MAX_METADATA_HEADER} bytes.`);
    }
    if (req.method !== 'POST') {
      if (req.method === 'PATCH' && tus.stagedOnDisk) await tus.checkFreeSpace();
      tus.grant(req.raw, { ...grant, id: link.videoId });
      return;
    }
    if (link.uploadCreatedAt) throw errors.uploadLinkUsed();
    if (link.expired) throw errors.uploadLinkExpired(link.expiresAt.toISOString());
    if (req.headers['upload-defer-length'] !== undefined) {
      throw errors.invalidRequest(
        'An upload link needs the file’s size at creation: send Upload-Length (Upload-Defer-Length is not accepted).',
      );
    }
    const length = Number(req.headers['upload-length']);
    if (Number.isSafeInteger(length) && length > link.maxBytes) {
      throw errors.uploadLinkTooLarge(length, link.maxBytes);
    }
    await tus.checkFreeSpace();
    tus.grant(req.raw, {
      ...grant,
      base: publicBase(req, config.publicUrl),
      uploadPath: `${LINK_PATH}/${secret}`,
      newId: link.videoId,
      async create(upload) {
        if (upload.size === undefined || upload.size > link.maxBytes) {
          throw errors.uploadLinkTooLarge(upload.size ?? Number.NaN, link.maxBytes);
        }
        const claim = await claimUploadLink(db, link.videoId, upload);
        if (claim === 'used') throw errors.uploadLinkUsed();
        if (claim === 'expired') throw errors.uploadLinkExpired(link.expiresAt.toISOString());
        if (claim === 'gone') throw errors.uploadLinkNotFound();
        claimedBy.set(req.raw, link.videoId);
        req.log.info({ bytes: upload.size }, 'upload created with an upload link');
      },
    });
  };

  /** Whether the answer was handed over in full (false: the connection closed first). */
  const delivered = (res: ServerResponse): Promise<boolean> => {
    if (res.writableFinished || res.destroyed || res.closed) return Promise.resolve(res.writableFinished);
    return new Promise((resolve) => {
      res.once('finish', () => resolve(true));
      res.once('close', () => resolve(res.writableFinished));
    });
  };

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const length = Number(req.headers['content-length'] ?? Number.NaN);
    await tus.handle(req.raw, reply.raw, Number.isSafeInteger(length) && length >= 0 ? length : undefined);
    const claimed = claimedBy.get(req.raw);
    // A refusal, or an answer that never reached the client (its connection died mid-body; tus still
    // answers 201 into the dead socket): nobody was given the upload's URL, so the link may begin an
    // upload again.
    if (claimed && (reply.raw.statusCode >= 400 || !(await delivered(reply.raw)))) {
      // What the failed creation stored is dropped first, so that the next creation starts clean; an upload
      // that finished (the video queued) is not touched and keeps its link used.
      const giveBack = async () => {
        if (!(await linkVideoUploading(db, claimed))) return;
        await tus.discard(claimed);
        await releaseUploadLink(db, claimed);
      };
      await giveBack().catch((err) =>
        req.log.warn({ err }, 'giving an upload link back after a failed creation failed'),
      );
    }
  };

  for (const [url, method] of [
    [`${LINK_PATH}/:secret`, ['POST', 'OPTIONS']],
    [`${LINK_PATH}/:secret/:id`, ['HEAD', 'PATCH', 'DELETE', 'OPTIONS']],
  ] as const) {
    app.route({
      method: [...method],
      url,
      preHandler,
      handler,
      exposeHeadRoute: false,
      config: { openapiOperations: LINK_OPERATIONS[url] },
    });
  }
}

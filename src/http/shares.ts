/**
 * Share links (issue 14): links that last as long as the video's owner chooses (1 day, 7 days, until
 * revoked), revocable one by one, short (`/s/{id}`).
 *
 * - `POST/GET /v1/videos/{id}/shares`, `DELETE /v1/videos/{id}/shares/{shareId}`: registered by videos.ts
 *   inside its plugin (the API key is checked there).
 * - `/s/{id}` (the watch page) and `/s/{id}/embed` (the embed page, frameable), and behind them
 *   `GET /s/{id}/playback`, which mints a FRESH playback token each time it is asked (a normal short-lived
 *   token, REEL_TOKEN_TTL_SECONDS): a link pasted into a blog keeps working for as long as the share link
 *   lives, and stops at once when it is revoked or expires or the video is deleted (the page answers
 *   404/410 and says why).
 *
 * A view is counted per page load that obtains playback: the page's first GET /s/{id}/playback. The page's
 * later requests (a token renewed, a poll while the video processes) send `renew=1` and are not counted;
 * link previews (chat unfurlers that fetch the HTML and run no script) are not counted either.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccessConfig, HttpConfig } from '../config.js';
import { errors, isReelError } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import {
  countLiveShares,
  countShareView,
  getShare,
  insertShare,
  listShares,
  newShareId,
  revokeShare,
  SHARE_ID,
  type ShareRow,
} from '../db/shares.js';
import { getVideo, isPlayable } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { needScope } from './auth.js';
import { sendPage } from './pages.js';
import { publicBase } from './publicUrl.js';
import { withScope } from './routeScopes.js';
import { authenticated, errorRef, idString, noContent, nullable, plainText, videoStatus } from './schemas.js';
import { signPlaybackToken, type TokenKeys } from './tokens.js';

export const SHARE_LIMITS = {
  minExpiresInSeconds: 60,
  /** Ten years: longer is "never". */
  maxExpiresInSeconds: 10 * 366 * 24 * 3600,
  maxLabel: 100,
  /** Working (not revoked, not expired) links one video may have. */
  maxLivePerVideo: 100,
} as const;

const NAMED_EXPIRY: Record<string, number | null> = { '1d': 86400, '7d': 7 * 86400, never: null };

export interface SharesDeps {
  db: Db;
  config: Pick<HttpConfig, 'publicUrl'>;
  log: Logger;
}

interface ShareBody {
  expiresIn: string | number;
  label?: string;
}

interface ShareParams {
  id: string;
  shareId: string;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** What the API shows of a share link. */
export function shareView(base: string, s: ShareRow) {
  return {
    id: s.id,
    videoId: s.video_id,
    url: `${base}/s/${s.id}`,
    embedUrl: `${base}/s/${s.id}/embed`,
    label: s.label,
    expiresAt: iso(s.expires_at),
    expired: s.expired,
    views: Number(s.views),
    createdAt: iso(s.created_at)!,
  };
}

const shareSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'the share id: 22 base62 characters; the link is the credential' },
    videoId: { type: 'string' },
    url: { type: 'string', format: 'uri', description: 'the watch page: /s/{id}' },
    embedUrl: {
      type: 'string',
      format: 'uri',
      description: 'the embed page, for an <iframe>: /s/{id}/embed?autoplay=1&muted=1&loop=1&start=30',
    },
    label: { type: 'string', description: 'the owner’s own note (where the link was posted)' },
    expiresAt: nullable('string', { format: 'date-time', description: 'null: until revoked' }),
    expired: { type: 'boolean', description: 'by the server’s clock, now' },
    views: {
      type: 'integer',
      description: 'page loads that obtained playback (watch and embed pages; not link previews)',
    },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'videoId', 'url', 'embedUrl', 'label', 'expiresAt', 'expired', 'views', 'createdAt'],
} as const;

const shareParams = {
  type: 'object',
  properties: { id: idString, shareId: { type: 'string', maxLength: 64 } },
  required: ['id', 'shareId'],
} as const;

/** The /v1 routes; called inside videos.ts's plugin, after its API key hook. */
export function registerShares(api: FastifyInstance, deps: SharesDeps): void {
  const { db, config, log } = deps;

  const loadVideo = async (id: string) => {
    const video = await getVideo(db, assertId(id, 'video id'));
    if (!video) throw errors.videoNotFound(id);
    return video;
  };

  api.post<{ Params: { id: string }; Body: ShareBody }>(
    '/v1/videos/:id/shares',
    {
      preHandler: needScope('write'),
      schema: {
        tags: ['videos'],
        summary: 'Make a share link: /s/{id}, a watch page (and an embed) that lasts as long as you choose',
        description: withScope(
          'write',
          'The link plays the video for anyone who has it, with no API key, until `expiresAt` or until it is ' +
            'revoked (DELETE), or the video is deleted. Its pages obtain fresh playback tokens behind it, so ' +
            'it keeps working for as long as it lives, signed video or public. `expiresIn`: `1d`, `7d`, ' +
            `\`never\` (until revoked), or seconds (${SHARE_LIMITS.minExpiresInSeconds} to ten years). ` +
            `A video may have ${SHARE_LIMITS.maxLivePerVideo} working links (409 ${errors.shareLimit.code}).`,
        ),
        ...authenticated,
        params: { type: 'object', properties: { id: idString }, required: ['id'] },
        body: {
          type: 'object',
          properties: {
            expiresIn: {
              anyOf: [
                {
                  type: 'integer',
                  minimum: SHARE_LIMITS.minExpiresInSeconds,
                  maximum: SHARE_LIMITS.maxExpiresInSeconds,
                },
                { type: 'string', enum: Object.keys(NAMED_EXPIRY) },
              ],
              description: '1d, 7d, never, or a number of seconds',
            },
            label: { ...plainText(SHARE_LIMITS.maxLabel), description: 'your own note, shown in the list' },
          },
          required: ['expiresIn'],
          additionalProperties: false,
        },
        response: { 201: shareSchema, '4xx': errorRef },
      },
    },
    async (req, reply) => {
      const video = await loadVideo(req.params.id);
      const { expiresIn } = req.body;
      const seconds = typeof expiresIn === 'number' ? expiresIn : NAMED_EXPIRY[expiresIn];
      if (seconds === undefined) throw errors.invalidRequest('expiresIn must be 1d, 7d, never or seconds.');
      if ((await countLiveShares(db, video.id)) >= SHARE_LIMITS.maxLivePerVideo)
        throw errors.shareLimit(SHARE_LIMITS.maxLivePerVideo);
      const row = await insertShare(db, {
        id: newShareId(),
        videoId: video.id,
        label: (req.body.label ?? '').trim(),
        expiresInSeconds: seconds,
        ...(req.apiKeyId ? { apiKeyId: req.apiKeyId } : {}),
      });
      // The share id is a credential: the log names the video and the key, never the id.
      log.info({ videoId: video.id, apiKeyId: req.apiKeyId, expiresIn }, 'share link made');
      return reply.code(201).send(shareView(publicBase(req, config.publicUrl), row));
    },
  );

  api.get<{ Params: { id: string } }>(
    '/v1/videos/:id/shares',
    {
      preHandler: needScope('read'),
      schema: {
        tags: ['videos'],
        summary: 'A video’s share links, newest first, with their expiry and views',
        description: withScope(
          'read',
          'Revoked links are not listed; expired ones are (`expired: true`) until the video is deleted.',
        ),
        ...authenticated,
        params: { type: 'object', properties: { id: idString }, required: ['id'] },
        response: {
          200: { type: 'object', properties: { data: { type: 'array', items: shareSchema } } },
          '4xx': errorRef,
        },
      },
    },
    async (req, reply) => {
      const video = await loadVideo(req.params.id);
      reply.header('Cache-Control', 'no-store');
      const base = publicBase(req, config.publicUrl);
      return { data: (await listShares(db, video.id)).map((s) => shareView(base, s)) };
    },
  );

  api.delete<{ Params: ShareParams }>(
    '/v1/videos/:id/shares/:shareId',
    {
      preHandler: needScope('write'),
      schema: {
        tags: ['videos'],
        summary: 'Revoke a share link, at once',
        description: withScope(
          'write',
          'Its pages stop starting playback at once, on every process (410 ' +
            `${errors.shareRevoked.code}); a playback already under way may finish its session. ` +
            `404 ${errors.shareNotFound.code} when the video has no such link (another video’s link included).`,
        ),
        ...authenticated,
        params: shareParams,
        response: { 204: noContent, '4xx': errorRef },
      },
    },
    async (req, reply) => {
      const { id, shareId } = req.params;
      await loadVideo(id);
      if (!SHARE_ID.test(shareId) || !(await revokeShare(db, id, shareId))) throw errors.shareNotFound();
      log.info({ videoId: id, apiKeyId: req.apiKeyId }, 'share link revoked');
      return reply.code(204).send();
    },
  );
}

export interface SharePagesDeps {
  db: Db;
  tokenKeys: TokenKeys;
  config: Pick<HttpConfig, 'publicUrl'> & Pick<AccessConfig, 'tokenTtlSeconds'>;
}

/** The link's row if it works now, else the catalogue's 404/410. */
async function liveShare(db: Db, shareId: string): Promise<ShareRow> {
  const share = SHARE_ID.test(shareId) ? await getShare(db, shareId) : undefined;
  if (!share) throw errors.shareNotFound();
  if (share.revoked_at !== null) throw errors.shareRevoked();
  if (share.expired) throw errors.shareExpired(iso(share.expires_at)!);
  return share;
}

/** The public side: /s/{id}, /s/{id}/embed and /s/{id}/playback (the play role). */
export function registerSharePages(app: FastifyInstance, deps: SharePagesDeps): void {
  const { db, config } = deps;
  const hidden = { schema: { hide: true } };

  // The page loads in any case and says why it cannot play; its status says so to machines too.
  const page = (embed: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { shareId } = req.params as { shareId: string };
    try {
      await liveShare(db, shareId);
    } catch (err) {
      if (!isReelError(err)) throw err;
      reply.code(err.statusCode);
    }
    return sendPage(reply, 'watch.html', embed, config.publicUrl);
  };
  app.get('/s/:shareId', hidden, page(false));
  app.get('/s/:shareId/embed', hidden, page(true));

  app.get<{ Params: { shareId: string }; Querystring: { renew?: string } }>(
    '/s/:shareId/playback',
    {
      schema: {
        tags: ['playback'],
        summary: 'What a share link’s pages play: a fresh playback URL, and the video’s title and state',
        description:
          'No API key: the share id is the credential. Each call mints a new playback token (it can start ' +
          'playback for REEL_TOKEN_TTL_SECONDS; a playback started may finish), so the pages ask again ' +
          'whenever they need to start one. 404 no such link (or its video was deleted), 410 revoked or ' +
          'expired. A call without `renew=1` counts one view of the link.',
        params: {
          type: 'object',
          properties: { shareId: { type: 'string', maxLength: 64 } },
          required: ['shareId'],
        },
        querystring: {
          type: 'object',
          properties: { renew: { type: 'string', maxLength: 8, description: '1: not a new view' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              url: { type: 'string', format: 'uri', description: 'the master playlist, with a fresh token' },
              expiresAt: nullable('string', {
                format: 'date-time',
                description: 'until when the url can start playback (null: a public video)',
              }),
              shareExpiresAt: nullable('string', {
                format: 'date-time',
                description: 'until when the share link works (null: until revoked)',
              }),
              title: { type: 'string' },
              status: videoStatus,
              playable: { type: 'boolean' },
              durationMs: nullable('integer'),
              width: nullable('integer'),
              height: nullable('integer'),
              posterUrl: nullable('string'),
              downloads: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    width: nullable('integer'),
                    height: nullable('integer'),
                    size: nullable('integer'),
                  },
                  required: ['name'],
                },
              },
            },
            required: ['url', 'expiresAt', 'shareExpiresAt', 'title', 'status', 'playable'],
          },
          '4xx': errorRef,
        },
      },
    },
    async (req, reply) => {
      reply.header('Cache-Control', 'no-store');
      reply.header('Referrer-Policy', 'no-referrer');
      const share = await liveShare(db, req.params.shareId);
      const video = await getVideo(db, share.video_id);
      if (!video) throw errors.shareNotFound();
      const base = `${publicBase(req, config.publicUrl)}/play/${video.id}`;
      let access = 'public';
      let expiresAt: string | null = null;
      if (video.playback_policy !== 'public') {
        const token = await signPlaybackToken(deps.tokenKeys, video.id, config.tokenTtlSeconds);
        access = token.token;
        expiresAt = token.expiresAt.toISOString();
      }
      if (req.query.renew !== '1') await countShareView(db, share.id);
      const playable = isPlayable(video);
      return {
        url: `${base}/${access}/master.m3u8`,
        expiresAt,
        shareExpiresAt: iso(share.expires_at),
        title: video.title,
        status: video.status,
        playable,
        durationMs: video.duration_ms,
        width: video.width,
        height: video.height,
        posterUrl: playable ? `${base}/${access}/poster.jpg` : null,
        downloads: video.mp4 ? (video.downloads ?? []) : [],
      };
    },
  );
}

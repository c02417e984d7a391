/**
 * The access check of the shipped nginx edge (deploy/nginx/reel-edge.conf): before it serves a file of
 * /play/{videoId}/{access}/… (from its cache or from Reel), nginx asks `GET /play-auth/{videoId}/{access}/
 * {start|media}` by `auth_request` and keeps the answer for as long as `X-Accel-Expires` says, per
 * (video, access, purpose). The rule is /play's own (authorisePlayback.ts, and the video must be playable).
 *
 * nginx's auth_request understands only 2xx, 401 and 403, so: allowed → 204; refused → /play's 401 or 403
 * with the catalogue's body; any other refusal (an unknown, deleted or not yet playable video) → 403 with
 * `X-Reel-Status` carrying the status /play would answer. On a refusal the edge sends the viewer's request
 * to /play itself, uncached, so the viewer gets /play's own status and error.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errors, ReelError } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { getVideo, isPlayable } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { authorisePlayback } from './authorisePlayback.js';
import type { PlayCache } from './playCache.js';
import { errorRef, noContent } from './schemas.js';
import type { VerifiedTokens } from './tokenCache.js';
import type { TokenKeys } from './tokens.js';

export interface EdgeAuthDeps {
  db: Db;
  tokenKeys: TokenKeys;
  /** The play role's caches (as /play): ready videos and verified tokens from memory. */
  playCache?: PlayCache;
  tokens?: VerifiedTokens;
}

/** The longest the edge keeps an allowed answer: a delete or a switch to signed reaches it this fast. */
export const EDGE_ALLOW_SECONDS = 5;
/** How long the edge keeps a refusal (a video that becomes playable is seen this fast). */
export const EDGE_REFUSE_SECONDS = 2;

export type EdgePurpose = 'start' | 'media';

/**
 * The decision, in one place: how many seconds the edge may keep "allowed" for this access, or the
 * ReelError /play would answer. Ready videos and verified tokens come from the play role's memory.
 */
export async function edgeDecision(
  deps: EdgeAuthDeps,
  videoId: string,
  access: string,
  purpose: EdgePurpose,
): Promise<number> {
  assertId(videoId, 'video id');
  const video = deps.playCache
    ? (await deps.playCache.video(videoId))?.row
    : await getVideo(deps.db, videoId);
  if (!video) throw errors.videoNotFound(videoId);
  const grant = await authorisePlayback(deps.tokenKeys, video, access, purpose, deps.tokens);
  // As /play: a chunked video plays once playable, a legacy one (output_prefix) once ready.
  if (video.output_prefix === null ? !isPlayable(video) : video.status !== 'ready')
    throw errors.videoNotReady(videoId, video.status);
  if (!grant) return EDGE_ALLOW_SECONDS;
  // Never kept past the token's expiry (to the second); at least 1 while it is still valid.
  const left = Math.floor(grant.exp - Date.now() / 1000);
  return Math.max(1, Math.min(EDGE_ALLOW_SECONDS, left));
}

const DOCS = {
  tags: ['playback'],
  summary: 'Access check for an edge cache (nginx auth_request)',
  description:
    'Answers whether `/play/{videoId}/{access}/…` would be served, without serving it: `purpose` is ' +
    '`start` for master.m3u8 and `media` for any other file. 204 when allowed, with `X-Accel-Expires` ' +
    `(at most ${EDGE_ALLOW_SECONDS} s, never past the token's expiry): how long the edge may keep the ` +
    'answer. Refused: 401 or 403 with the error /play would answer; an unknown, deleted or not yet ' +
    'playable video is 403 with `X-Reel-Status: 404` (nginx understands only 2xx, 401 and 403 here). ' +
    `Refusals carry \`X-Accel-Expires: ${EDGE_REFUSE_SECONDS}\`. Used by deploy/nginx/reel-edge.conf.`,
  params: {
    type: 'object',
    properties: {
      videoId: { type: 'string' },
      access: { type: 'string', description: 'a playback token, a session token, or public' },
      purpose: { type: 'string', enum: ['start', 'media'] },
    },
    required: ['videoId', 'access', 'purpose'],
  },
  response: { 204: noContent, '4xx': errorRef },
};

export function registerEdgeAuth(app: FastifyInstance, deps: EdgeAuthDeps): void {
  app.get<{ Params: { videoId: string; access: string; purpose: EdgePurpose } }>(
    '/play-auth/:videoId/:access/:purpose',
    { schema: DOCS },
    async (req, reply) => {
      const { videoId, access, purpose } = req.params;
      try {
        const seconds = await edgeDecision(deps, videoId, access, purpose);
        // First: nginx before 1.23 lets a Cache-Control that comes before X-Accel-Expires decide.
        reply.header('X-Accel-Expires', seconds);
        reply.header('Cache-Control', 'no-store');
        return reply.code(204).send();
      } catch (err) {
        if (!(err instanceof ReelError) || err.statusCode >= 500) throw err;
        return refuse(reply, err);
      }
    },
  );
}

function refuse(reply: FastifyReply, err: ReelError): FastifyReply {
  reply.header('X-Accel-Expires', EDGE_REFUSE_SECONDS);
  reply.header('Cache-Control', 'no-store');
  if (err.statusCode !== 401 && err.statusCode !== 403) {
    reply.header('X-Reel-Status', err.statusCode);
    return reply.code(403).type('application/json').send(err.toBody());
  }
  return reply.code(err.statusCode).type('application/json').send(err.toBody());
}

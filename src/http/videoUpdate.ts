/**
 * PATCH /v1/videos/{id}: change a video's title, externalId or playback policy (scope write). Registered
 * by videos.ts inside its plugin (the API key is checked there). Playback reads the policy on every request
 * (playback.ts), so a change applies to the next one.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Queryable } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import { toView } from '../db/videos.js';
import { updateVideo } from '../db/videoUpdate.js';
import { assertId } from '../storage/keys.js';
import { needScope } from './auth.js';
import { withScope } from './routeScopes.js';
import {
  authenticated,
  errorRef,
  externalIdSchema,
  type IdParams,
  idParams,
  plainText,
  playbackPolicy,
} from './schemas.js';

/** As for a title in tus metadata (uploads/tus.ts). */
const MAX_TITLE = 200;
const FIELDS = ['title', 'externalId', 'playbackPolicy'] as const;

interface PatchBody {
  title?: string;
  externalId?: string | null;
  playbackPolicy?: PlaybackPolicy;
}

export function registerVideoUpdate(api: FastifyInstance, deps: { db: Queryable; log: Logger }): void {
  api.patch<{ Params: IdParams; Body: PatchBody }>(
    '/v1/videos/:id',
    {
      // Before the schema (which would say only "property name must be valid"): name what is refused.
      preValidation: async (req) => {
        const body = req.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
        const unknown = Object.keys(body).filter((k) => !(FIELDS as readonly string[]).includes(k));
        if (unknown.length === 0) return;
        const named = unknown.slice(0, 5).map((k) => `"${k.slice(0, 50)}"`);
        throw errors.invalidRequest(
          `Invalid request: ${named.join(', ')} cannot be changed here; send only ${FIELDS.join(', ')}.`,
        );
      },
      preHandler: needScope('write'),
      schema: {
        tags: ['videos'],
        summary: "Change a video's title, externalId or playback policy",
        description: withScope(
          'write',
          'Send only what changes; `externalId: null` removes it. A property this call does not know, or ' +
            'an empty body, is refused (400). A new playback policy applies from the next playback request: ' +
            'a video made signed no longer plays with `public` (caches that hold its public playlists may ' +
            'serve them for up to 10 s). Answers the video.',
        ),
        ...authenticated,
        params: idParams,
        body: {
          type: 'object',
          minProperties: 1,
          // Checked before Fastify drops what a schema does not name: an unknown property is refused.
          propertyNames: { enum: FIELDS },
          additionalProperties: false,
          properties: {
            title: {
              ...plainText(MAX_TITLE),
              minLength: 1,
              description: `at most ${MAX_TITLE} characters, no control characters; not blank`,
            },
            externalId: { ...externalIdSchema, type: ['string', 'null'] },
            playbackPolicy,
          },
        },
        response: { 200: { $ref: 'Video#' }, '4xx': errorRef },
      },
    },
    async (req) => {
      const id = assertId(req.params.id, 'video id');
      const body = req.body;
      const title = body.title?.trim();
      if (title === '') throw errors.invalidRequest('Invalid request: body/title must not be blank.');
      const row = await updateVideo(deps.db, id, {
        title,
        externalId: body.externalId,
        playbackPolicy: body.playbackPolicy,
      });
      if (!row) throw errors.videoNotFound(id);
      deps.log.info({ videoId: id, changed: Object.keys(body), apiKeyId: req.apiKeyId }, 'video updated');
      return toView(row);
    },
  );
}

/**
 * PATCH /v1/videos/{id}: change a video's title, externalId, playback policy or mp4 (scope write).
 * Registered by videos.ts inside its plugin (the API key is checked there). Playback reads the policy on
 * every request (playback.ts), so a change applies to the next one. `mp4` makes or removes the video's MP4
 * downloads (db/videoUpdate.ts applyMp4).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import type { PlaybackPolicy } from '../core/types.js';
import { lockVideoWork } from '../db/tasks.js';
import { getVideo, toView } from '../db/videos.js';
import { applyMp4, updateVideo } from '../db/videoUpdate.js';
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
import { choosePoster, MAX_POSTER_TIME } from './videoPoster.js';

/** As for a title in tus metadata (uploads/tus.ts). */
const MAX_TITLE = 200;
const FIELDS = ['title', 'externalId', 'playbackPolicy', 'mp4', 'posterTime'] as const;

interface PatchBody {
  title?: string;
  externalId?: string | null;
  playbackPolicy?: PlaybackPolicy;
  mp4?: boolean;
  posterTime?: number | null;
}

export function registerVideoUpdate(
  api: FastifyInstance,
  deps: { db: Db; store: ObjectStore; log: Logger; maxAttempts: number; ffmpegPath: string },
): void {
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
        summary: "Change a video's title, externalId, playback policy, MP4 downloads or poster",
        description: withScope(
          'write',
          'Send only what changes; `externalId: null` removes it. A property this call does not know, or ' +
            'an empty body, is refused (400). A new playback policy applies from the next playback request: ' +
            'a video made signed no longer plays with `public` (caches that hold its public playlists may ' +
            'serve them for up to 10 s). `mp4: true` on a video already processing or ready makes its MP4 ' +
            'downloads from its published segments (it stays ready meanwhile; `downloads` lists them when ' +
            'done); `mp4: false` removes them at once (their URLs answer 404). `posterTime` (seconds) makes ' +
            "the frame at that time the video's poster.jpg, rendered from its published segments like " +
            'thumbnail.jpg?time= (a ready video processed in chunks only, 409 ' +
            `${errors.posterNotAvailable.code} otherwise; 400 past its end); \`posterTime: null\` goes back ` +
            'to the poster the transcode made; poster.jpg may be cached for 10 s. Answers the video.',
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
            posterTime: {
              type: ['number', 'null'],
              minimum: 0,
              maximum: MAX_POSTER_TIME,
              description:
                'seconds from the start: the frame to use as poster.jpg; null: the original poster',
            },
            mp4: {
              type: 'boolean',
              description: 'MP4 downloads: download/{rung}.mp4 and download/audio.m4a under the playback URL',
            },
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
      if (body.posterTime !== undefined) {
        // First, so that a poster refused changes nothing else.
        const current = await getVideo(deps.db, id);
        if (!current) throw errors.videoNotFound(id);
        await choosePoster(deps, current, body.posterTime);
      }
      const { row, removed } = await deps.db.transaction(async (tx) => {
        // Task commits lock the job row, then the video's: so does a change of mp4 (no deadlock).
        if (body.mp4 !== undefined) await lockVideoWork(tx, id);
        const row = await updateVideo(tx, id, {
          title,
          externalId: body.externalId,
          playbackPolicy: body.playbackPolicy,
          mp4: body.mp4,
        });
        if (!row || body.mp4 === undefined) return { row, removed: [] };
        return { row, removed: await applyMp4(tx, row, body.mp4, deps.maxAttempts) };
      });
      if (!row) throw errors.videoNotFound(id);
      // The removed downloads' objects (their rows are gone: nothing serves them any more).
      for (const key of removed)
        await deps.store.delete(key).catch((err) => deps.log.warn({ err, key }, 'a removed download stays'));
      deps.log.info({ videoId: id, changed: Object.keys(body), apiKeyId: req.apiKeyId }, 'video updated');
      return toView(row);
    },
  );
}

/**
 * JSON schemas shared by the routes, built from the domain's one id pattern and status lists
 * (core/ids.ts, core/types.ts), with the TypeScript types the handlers get from them.
 *
 * Route schemas validate (a bad id, body or query is a 400 REEL_INVALID_REQUEST before the handler runs),
 * serialise (a response schema drops what it does not name) and document (/docs).
 */
import { MAX_EXTERNAL_ID, PLAIN_TEXT_PATTERN } from '../core/externalId.js';
import { ID_PATTERN } from '../core/ids.js';
import { PLAYBACK_POLICIES, VIDEO_STATUSES } from '../core/types.js';

/** A video, upload or key id in a path. */
export const idString = { type: 'string', pattern: ID_PATTERN } as const;

/** Params `{ id }`, for routes under /v1/…/:id. */
export const idParams = {
  type: 'object',
  properties: { id: idString },
  required: ['id'],
} as const;
export interface IdParams {
  id: string;
}

/** A video's externalId in a body or a query (core/externalId.ts); `{ ...externalIdSchema, type: ['string', 'null'] }` where null clears it. */
export const externalIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_EXTERNAL_ID,
  pattern: PLAIN_TEXT_PATTERN,
  description: `your own id for the video (e.g. its row in your database): at most ${MAX_EXTERNAL_ID} characters, no control characters; not unique`,
} as const;

/** Text a person reads (a title): no control characters, as in tus metadata. */
export const plainText = (maxLength: number) =>
  ({ type: 'string', maxLength, pattern: PLAIN_TEXT_PATTERN }) as const;

export const videoStatus = { type: 'string', enum: VIDEO_STATUSES } as const;
export const playbackPolicy = { type: 'string', enum: PLAYBACK_POLICIES } as const;

/** A property that may be null. */
export const nullable = (type: string, extra: Record<string, unknown> = {}) => ({
  type: [type, 'null'],
  ...extra,
});

/** The error body (app.ts adds the ReelError schema). */
export const errorRef = { $ref: 'ReelError#' } as const;
export const noContent = { type: 'null', description: 'No content' } as const;
export const authenticated = { security: [{ apiKey: [] }] };

/** /play/{videoId}/{access}/… and the pages and info that take the same two segments. */
export interface PlaybackParams {
  videoId: string;
  access: string;
}

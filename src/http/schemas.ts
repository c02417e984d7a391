/**
 * JSON schemas shared by the routes, built from the domain's one id pattern and status lists
 * (core/ids.ts, core/types.ts), with the TypeScript types the handlers get from them.
 *
 * Route schemas validate (a bad id, body or query is a 400 REEL_INVALID_REQUEST before the handler runs),
 * serialise (a response schema drops what it does not name) and document (/docs).
 */
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

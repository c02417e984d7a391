/**
 * GET /watch/{videoId}/{access}/info: what the public watch and embed pages may know about a video,
 * exactly what its playback access allows (the rule of authorisePlayback.ts, as /play).
 */
import type { FastifyInstance } from 'fastify';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { getVideo, isPlayable } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { authorisePlayback } from './authorisePlayback.js';
import { errorRef, idString, nullable, type PlaybackParams, videoStatus } from './schemas.js';
import type { TokenKeys } from './tokens.js';

export interface WatchInfoDeps {
  db: Db;
  tokenKeys: TokenKeys;
}

export function registerWatchInfo(app: FastifyInstance, deps: WatchInfoDeps): void {
  app.get<{ Params: PlaybackParams }>(
    '/watch/:videoId/:access/info',
    {
      schema: {
        tags: ['playback'],
        summary: 'What a share link shows: title, status, and until when the link plays',
        description:
          'The same access rules as playback: `access` is a playback token, or `public` for a public video. ' +
          'A share link is `/watch/{videoId}/{access}`; an embed is `/embed/{videoId}/{access}`.',
        params: {
          type: 'object',
          properties: {
            videoId: idString,
            access: { type: 'string', maxLength: 2048 },
          },
          required: ['videoId', 'access'],
        },
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              title: { type: 'string' },
              status: videoStatus,
              playable: {
                type: 'boolean',
                description:
                  'playback can start (ready, or its first seconds are published while it processes)',
              },
              durationMs: nullable('integer'),
              width: nullable('integer'),
              height: nullable('integer'),
              masterUrl: { type: 'string', description: 'relative to this page' },
              posterUrl: nullable('string'),
              expiresAt: nullable('string', { format: 'date-time' }),
              downloads: {
                type: 'array',
                description: 'the MP4 downloads (`download/{name}.mp4`, `audio`: `download/audio.m4a`)',
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
            required: ['id', 'title', 'status', 'playable', 'masterUrl', 'expiresAt'],
          },
          '4xx': errorRef,
        },
      },
    },
    async (req, reply) => {
      const { videoId, access } = req.params;
      assertId(videoId, 'video id');
      const video = await getVideo(deps.db, videoId);
      if (!video) throw errors.videoNotFound(videoId);
      const grant = await authorisePlayback(deps.tokenKeys, video, access, 'start');
      const expiresAt = grant ? new Date(grant.exp * 1000).toISOString() : null;
      reply.header('Cache-Control', 'no-store');
      const base = `/play/${video.id}/${access}`;
      const playable = isPlayable(video);
      return {
        id: video.id,
        title: video.title,
        status: video.status,
        playable,
        durationMs: video.duration_ms,
        width: video.width,
        height: video.height,
        masterUrl: `${base}/master.m3u8`,
        posterUrl: playable ? `${base}/poster.jpg` : null,
        expiresAt,
        downloads: video.downloads ?? [],
      };
    },
  );
}

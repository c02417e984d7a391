/**
 * thumbnail.{jpg,webp,png}?time=&width=&height= and animated.webp?start=&end=&width=&fps=, made on
 * request from the published segments and cached in the store. TO BE WRITTEN (helper A).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../core/errors.js';
import type { VideoRow } from '../db/videos.js';
import type { PlaybackDeps } from './playback.js';
import type { PlaybackGrant } from './tokens.js';

export async function serveImage(
  _req: FastifyRequest,
  _reply: FastifyReply,
  _deps: PlaybackDeps,
  _video: VideoRow,
  file: string,
  _grant: PlaybackGrant | undefined,
): Promise<FastifyReply> {
  throw errors.objectNotFound(file);
}

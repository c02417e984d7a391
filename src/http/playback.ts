/**
 * Playback: /play/{videoId}/{access}/… where access is a playback token (signed videos) or the word
 * "public" (public videos). Every URI inside the playlists is relative, so it inherits the access segment.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import rangeParser from 'range-parser';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { getVideo } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { type TokenKeys, verifyPlaybackToken } from './tokens.js';

export interface PlaybackDeps {
  db: Db;
  store: ObjectStore;
  tokenKeys: TokenKeys;
  /** "redirect": media files on a store that can presign are served by a redirect to the store. */
  delivery?: 'proxy' | 'redirect';
}

/** Lifetime of a presigned media URL; the redirect itself is cached for less. */
const PRESIGN_SECONDS = 600;

/** The files a published ladder holds; anything else is 404 without touching the store. */
const FILE = /^(?:master\.m3u8|poster\.jpg|[A-Za-z0-9_-]{1,32}\/(?:index\.m3u8|init\.mp4|seg_\d{1,6}\.m4s))$/;

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  jpg: 'image/jpeg',
};

function cors(reply: FastifyReply): void {
  reply.header('Access-Control-Allow-Origin', '*');
  reply.header('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges');
  reply.header('Timing-Allow-Origin', '*');
}

export function registerPlayback(app: FastifyInstance, deps: PlaybackDeps): void {
  const { db, store } = deps;

  app.options('/play/*', async (_req, reply) => {
    cors(reply);
    reply.header('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
    reply.header('Access-Control-Allow-Headers', 'Range');
    reply.header('Access-Control-Max-Age', '86400');
    return reply.code(204).send();
  });

  app.get('/play/:videoId/:access/*', async (req, reply) => {
    cors(reply);
    const { videoId, access, '*': file } = req.params as { videoId: string; access: string; '*': string };
    assertId(videoId, 'video id');
    const video = await getVideo(db, videoId);
    if (!video) throw errors.videoNotFound(videoId);

    if (access === 'public') {
      if (video.playback_policy !== 'public') throw errors.missingToken();
    } else {
      await verifyPlaybackToken(deps.tokenKeys, access, videoId);
    }
    if (video.status !== 'ready' || !video.output_prefix) throw errors.videoNotReady(videoId, video.status);
    if (!FILE.test(file)) throw errors.objectNotFound(`/play/${videoId}/…/${file.slice(0, 100)}`);

    const key = video.output_prefix + file;
    const ext = file.slice(file.lastIndexOf('.') + 1);
    if (deps.delivery === 'redirect' && store.presignGet && ext !== 'm3u8') {
      // Playlists stay here (their relative URIs must resolve under the token); media comes from the store.
      reply.header('Cache-Control', `private, max-age=${PRESIGN_SECONDS / 2}`);
      return reply.redirect(await store.presignGet(key, PRESIGN_SECONDS), 302);
    }
    const stat = await store.stat(key);
    if (!stat) throw errors.objectNotFound(file);

    reply.header('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream');
    reply.header('Accept-Ranges', 'bytes');
    // Segments never change once published (a new publication has a new prefix); playlists are short-lived
    // so that a re-publication is picked up.
    reply.header(
      'Cache-Control',
      ext === 'm3u8' ? 'public, max-age=10' : 'public, max-age=31536000, immutable',
    );
    reply.header('ETag', `"${video.output_prefix.replace(/\W/g, '')}-${stat.size}"`);

    const rangeHeader = req.headers.range;
    if (rangeHeader) {
      const ranges = rangeParser(stat.size, rangeHeader, { combine: true });
      if (ranges === -1) {
        reply.header('Content-Range', `bytes */${stat.size}`);
        throw errors.rangeNotSatisfiable(stat.size);
      }
      if (ranges !== -2 && ranges.length === 1) {
        const { start, end } = ranges[0]!;
        reply.code(206);
        reply.header('Content-Range', `bytes ${start}-${end}/${stat.size}`);
        reply.header('Content-Length', end - start + 1);
        return reply.send(await store.get(key, { start, end }));
      }
    }
    reply.header('Content-Length', stat.size);
    return reply.send(await store.get(key));
  });
}

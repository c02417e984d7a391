/**
 * thumbnail.{jpg,webp,png}?time=&width=&height= and animated.webp?start=&end=&width=&height=&fps= of a
 * chunked video (after http/playback.ts has authorised the request and set CORS). The request is checked
 * and placed in the published segments (media/thumbnailPlan.ts); an image made before is served from the
 * store; otherwise ffmpeg makes it from those segments (media/thumbnailRender.ts), never from the source,
 * within this process's bound on renders (media/renderGate.ts), and it is kept in the store for next time.
 *
 * `X-Reel-Image: cached | rendered` says which. Cache-Control: immutable for a ready video, short while it
 * processes; a time whose segment is not published yet is 404 REEL_FRAME_NOT_PUBLISHED.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, isReelError } from '../core/errors.js';
import { listSegments, outputKey } from '../db/outputs.js';
import type { VideoRow } from '../db/videos.js';
import { RenderGate } from '../media/renderGate.js';
import {
  animatedRequest,
  type ImageRequest,
  type ImageSource,
  imageCacheKey,
  imageCachePrefix,
  locateSpan,
  stillRequest,
} from '../media/thumbnailPlan.js';
import { renderImage } from '../media/thumbnailRender.js';
import { type PlaybackDeps, setCaching } from './playback.js';
import type { PlaybackGrant } from './tokens.js';

const CONTENT_TYPES = { jpg: 'image/jpeg', webp: 'image/webp', png: 'image/png' } as const;
/** Requests that may wait per render slot before more are refused. */
const WAITING_PER_SLOT = 4;
const RETRY_AFTER_SECONDS = 1;

/** One gate per registered playback route (one per process in production). */
const gates = new WeakMap<PlaybackDeps, RenderGate>();
function gateOf(deps: PlaybackDeps): RenderGate {
  let gate = gates.get(deps);
  if (!gate) {
    const active = deps.config.thumbnailRenders ?? 2;
    gate = new RenderGate(active, active * WAITING_PER_SLOT);
    gates.set(deps, gate);
  }
  return gate;
}

let rendered = 0;
/** Images made by ffmpeg in this process so far (tests count renders with it). */
export function imagesRendered(): number {
  return rendered;
}

export async function serveImage(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: PlaybackDeps,
  video: VideoRow,
  file: string,
  grant: PlaybackGrant | undefined,
): Promise<FastifyReply> {
  const { db, store } = deps;
  const source: ImageSource = {
    videoId: video.id,
    durationSeconds: (video.duration_ms ?? 0) / 1000,
    rungs: video.renditions,
  };
  const query = (req.query ?? {}) as Record<string, unknown>;
  const image: ImageRequest =
    file === 'animated.webp' ? animatedRequest(query, source) : stillRequest(file, query, source);
  const ready = video.status === 'ready';
  const rung = image.rung.name;
  const span = locateSpan(image, (await listSegments(db, video.id, rung)).get(rung) ?? [], ready);
  if (!span) {
    const at = image.kind === 'still' ? image.frame / image.rung.frameRate : image.startDs / 10;
    throw errors.frameNotPublished(Math.round(at * 1000) / 1000);
  }

  const key = imageCacheKey(video.id, image);
  const send = (how: 'cached' | 'rendered') => {
    reply.header('Content-Type', CONTENT_TYPES[image.kind === 'still' ? image.format : 'webp']);
    setCaching(req, reply, grant, ready ? 'media' : 'playlist');
    reply.header('X-Reel-Image', how);
  };
  const kept = await store.stat(key);
  if (kept) {
    send('cached');
    reply.header('Content-Length', kept.size);
    return reply.send(await store.get(key));
  }

  let bytes: Buffer;
  try {
    bytes = await gateOf(deps).run(key, async () => {
      const objects = await Promise.all(
        [`${rung}/init.mp4`, ...span.seqs.map((s) => `${rung}/seg_${String(s).padStart(5, '0')}.m4s`)].map(
          (p) => outputKey(db, video.id, p),
        ),
      );
      if (objects.some((o) => o === null)) throw errors.frameNotPublished(span.seekSeconds);
      const [init, ...segments] = objects.map((o) => o!.key);
      rendered++;
      const made = await renderImage(store, deps.config.ffmpegPath, image, span, init!, segments);
      // Kept for next time, up to REEL_THUMBNAILS_KEPT a video (any frame at any size is a new image: a
      // viewer asking for distinct sizes must not fill the store); one not kept is still served.
      const held = (await store.list(imageCachePrefix(video.id)).catch(() => [])).length;
      if (held < deps.config.thumbnailsKept)
        await store
          .put(key, made)
          .catch((err: unknown) => req.log.warn({ err, key }, 'keeping an image failed'));
      else req.log.warn({ videoId: video.id, held }, 'the image cache of this video is full: not kept');
      return made;
    });
  } catch (err) {
    if (isReelError(err) && err.code === errors.imageBusy.code)
      reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
    if (isReelError(err) && err.code === errors.imageFailed.code)
      req.log.error({ err, detail: (err as { detail?: string }).detail, key }, 'making an image failed');
    throw err;
  }
  send('rendered');
  reply.header('Content-Length', bytes.length);
  return reply.send(bytes);
}

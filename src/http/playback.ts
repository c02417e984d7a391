/**
 * Playback: /play/{videoId}/{access}/… where access is a playback token (signed videos) or the word
 * "public" (public videos). Every URI inside the playlists is relative, so it inherits the access segment.
 *
 * Signed videos: the token's expiry limits when playback may START. The master playlist fetched with a
 * playback token points its renditions at a session token (playbackSession.ts), which carries that playback
 * to its end; a session token cannot fetch a master. Token URLs are `Cache-Control: private`, never cached
 * by a shared cache longer than the token allows.
 */

import { buffer } from 'node:stream/consumers';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rangeParser from 'range-parser';
import type { AccessConfig, TranscodeConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { listSegments } from '../db/outputs.js';
import { isPlayable, type VideoRow } from '../db/videos.js';
import { contentDisposition, DOWNLOAD_DIR } from '../media/downloadPlan.js';
import { AUDIO_NAME, MEDIA_PLAYLIST } from '../media/ffmpegArgs.js';
import { SEGMENT_SECONDS } from '../media/ladder.js';
import { MASTER_PLAYLIST, renderMasterPlaylist, renderMediaPlaylist } from '../media/playlist.js';
import { assertId } from '../storage/keys.js';
import { authorisePlayback } from './authorisePlayback.js';
import type { MediaCache } from './mediaCache.js';
import { masterForSession, sessionExpiry } from './playbackSession.js';
import {
  encodeText,
  fileETag,
  type KeptText,
  PlayCache,
  type PlayFile,
  type PlayVideo,
  publishedETag,
} from './playCache.js';
import { renderCaptionFile } from './playCaptions.js';
import { IMAGE_FILE, masterExtras, PUBLISHED_FILE, TEXT_FILE } from './playExtras.js';
import { renderIFramePlaylist } from './playIFrames.js';
import { renderStoryboardVtt } from './playStoryboard.js';
import { serveImage } from './playThumbnails.js';
import { errorRef, type PlaybackParams } from './schemas.js';
import { VerifiedTokens } from './tokenCache.js';
import { type PlaybackGrant, signSessionToken, type TokenKeys } from './tokens.js';

export interface PlaybackDeps {
  db: Db;
  store: ObjectStore;
  tokenKeys: TokenKeys;
  /** Access, and what thumbnails need to run ffmpeg (playThumbnails.ts). */
  config: AccessConfig & Pick<TranscodeConfig, 'ffmpegPath' | 'thumbnailRenders' | 'thumbnailsKept'>;
  /** "redirect": media files on a store that can presign are served by a redirect to the store. */
  delivery?: 'proxy' | 'redirect';
  /** Ready videos kept in memory (started by the caller); absent: every request reads the database. */
  playCache?: PlayCache;
  /** Hot media files kept in memory; absent: every file is read from the store. */
  mediaCache?: MediaCache;
  /** Verified tokens kept; absent: a list of this route's own. */
  tokens?: VerifiedTokens;
}

/** Lifetime of a presigned media URL; the redirect itself is cached for less. */
const PRESIGN_SECONDS = 600;

/** Playlists may be cached this long (a re-publication is picked up); segments never change. */
const PLAYLIST_MAX_AGE = 10;
/** A playlist that grows while the video processes (EVENT): a player reloads it every segment or so. */
const GROWING_PLAYLIST_MAX_AGE = 1;
const SEGMENT_MAX_AGE = 31536000;

export type Kind = 'playlist' | 'growing' | 'media';

/** The header the shipped edge (deploy/nginx) adds to every request it forwards to Reel. */
export const EDGE_HEADER = 'x-reel-edge';

/** The edge's X-Accel-Expires for an answer (see setCaching). */
export function edgeExpires(grant: PlaybackGrant | undefined, kind: Kind, shared = true): number {
  if (!shared) return 0;
  return grant ? maxAge(kind) : Math.min(maxAge(kind), EDGE_PUBLIC_SECONDS);
}

/**
 * A public URL is not checked at the edge (no token to check): its copy is kept this long, then
 * revalidated with Reel (If-None-Match → 304 from memory), so a delete or a switch to signed reaches the
 * edge within this many seconds.
 */
export const EDGE_PUBLIC_SECONDS = 5;

/**
 * Cache-Control for the viewer and, for a request from the edge (EDGE_HEADER), `X-Accel-Expires` first
 * (nginx before 1.23 lets a Cache-Control before it decide): how long the edge may keep ONE copy, keyed
 * without the token, for every viewer. The edge checks each viewer's token itself (auth_request to
 * /play-auth, http/edgeAuth.ts), so a token URL's segment is shared there although it is `private` to every
 * other cache; nginx never passes X-Accel-Expires on. A public URL's copy is revalidated every
 * EDGE_PUBLIC_SECONDS instead. `shared: false` (a master that carries a new session token) is never kept.
 */
export function setCaching(
  req: FastifyRequest,
  reply: FastifyReply,
  grant: PlaybackGrant | undefined,
  kind: Kind,
  shared = true,
): void {
  if (req.headers[EDGE_HEADER] === '1') reply.header('X-Accel-Expires', edgeExpires(grant, kind, shared));
  reply.header('Cache-Control', cacheControl(grant, kind));
}

/**
 * Public URLs may sit in shared caches. Token URLs are private (a shared cache would go on serving them
 * after the token expires or the video is deleted), and not kept past the token's expiry.
 */
export function cacheControl(grant: PlaybackGrant | undefined, kind: Kind): string {
  const tail = kind === 'media' ? ', immutable' : '';
  if (!grant) return `public, max-age=${maxAge(kind)}${tail}`;
  const left = Math.max(0, grant.exp - Math.floor(Date.now() / 1000));
  return `private, max-age=${Math.min(maxAge(kind), left)}${tail}`;
}

/** How long an answer of this kind may be kept at most. */
function maxAge(kind: Kind): number {
  return kind === 'media'
    ? SEGMENT_MAX_AGE
    : kind === 'growing'
      ? GROWING_PLAYLIST_MAX_AGE
      : PLAYLIST_MAX_AGE;
}

/** The files a published ladder holds; anything else is 404 without touching the store. */
const FILE = /^(?:master\.m3u8|poster\.jpg|[A-Za-z0-9_-]{1,32}\/(?:index\.m3u8|init\.mp4|seg_\d{1,6}\.m4s))$/;

export const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  m4a: 'audio/mp4',
  jpg: 'image/jpeg',
};

/** How /docs shows the route: the wildcard is a file of the ladder (its schema is for the document only). */
const DOCS_URL = '/play/:videoId/:access/:file';
const DOCS = {
  tags: ['playback'],
  summary: 'Playlists, segments and poster of a playable video',
  description:
    '`access` is a playback token (from GET /v1/videos/{id}/playback) or `public` for a public video. ' +
    'The master fetched with a playback token points its renditions at a session token (`../{session}/…`) ' +
    'that lets this playback finish after the playback token expires; a session token cannot fetch a ' +
    `master (403 ${errors.sessionTokenCannotStart.code}). Token URLs are \`Cache-Control: private\`. ` +
    'Byte ranges, CORS `*`. 401: no or unreadable token; 403: a token for another video, expired, or ' +
    'with a bad signature; 404: unknown video, not playable yet, or no such file (while a video ' +
    'processes, a segment that is not published yet). While a video processes its media playlists are ' +
    '`EVENT` playlists of the segments published so far, from the start and without gaps, cached for 1 s; ' +
    'when it is ready they are `VOD` with `ENDLIST`.',
  params: {
    type: 'object',
    properties: {
      videoId: { type: 'string' },
      access: {
        type: 'string',
        description: 'a playback token, a session token (not for master.m3u8), or public',
      },
      file: {
        type: 'string',
        description:
          'master.m3u8, poster.jpg, {rendition}/index.m3u8, {rendition}/init.mp4, {rendition}/seg_NNNNN.m4s (the rendition may be audio or audio_N); ' +
          '{rendition}/iframes.m3u8; thumbnail.jpg|webp|png?time=&width=&height=; animated.webp?start=&end=&width=&fps=; ' +
          'storyboard.vtt and storyboard/{n}.jpg; subs/{captionId}/index.m3u8 and subs/{captionId}/seg_N.vtt; ' +
          'download/{rung}.mp4 and download/audio.m4a (a video with mp4: true; Content-Disposition: attachment)',
      },
    },
  },
  response: { 200: { description: 'The file', type: 'string' }, '4xx': errorRef },
};

/** @fastify/swagger's per-route hook: the route as the document shows it. */
const DOCUMENTED = {
  swaggerTransform: ({ schema }: { schema: unknown }) => ({
    url: DOCS_URL,
    schema: { ...(schema as object), ...DOCS },
  }),
};

type PlayParams = PlaybackParams & { '*': string };

/** CORS on every /play answer: any page may play (the access segment is the credential). */
export const PLAY_CORS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges',
  'Timing-Allow-Origin': '*',
};

function cors(reply: FastifyReply): void {
  reply.headers(PLAY_CORS);
}

export function registerPlayback(app: FastifyInstance, deps: PlaybackDeps): void {
  const { db, store } = deps;
  // Without a started cache (tests that register the route alone) every request reads the database.
  const cache = deps.playCache ?? new PlayCache(db);
  const tokens = deps.tokens ?? new VerifiedTokens(deps.tokenKeys);

  app.options('/play/*', { schema: { hide: true } }, async (_req, reply) => {
    cors(reply);
    reply.header('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
    reply.header('Access-Control-Allow-Headers', 'Range');
    reply.header('Access-Control-Max-Age', '86400');
    return reply.code(204).send();
  });

  app.get<{ Params: PlayParams }>('/play/:videoId/:access/*', { config: DOCUMENTED }, async (req, reply) => {
    cors(reply);
    const { videoId, access, '*': file } = req.params;
    assertId(videoId, 'video id');
    const pv = await cache.video(videoId);
    if (!pv) throw errors.videoNotFound(videoId);
    const video = pv.row;

    const isMaster = file === MASTER_PLAYLIST;
    // Only a master starts a playback; everything else belongs to one under way.
    const grant = await authorisePlayback(
      deps.tokenKeys,
      video,
      access,
      isMaster ? 'start' : 'media',
      tokens,
    );
    if (video.output_prefix === null) {
      // Chunked: playable before it is ready; its playlists are rendered from what is published.
      if (!isPlayable(video)) throw errors.videoNotReady(videoId, video.status);
    } else if (video.status !== 'ready') throw errors.videoNotReady(videoId, video.status);
    const chunked = video.output_prefix === null;
    if (chunked && IMAGE_FILE.test(file)) return serveImage(req, reply, deps, video, file, grant);
    if (chunked && TEXT_FILE.test(file)) {
      let kept = pv.texts.get(file);
      let growing = false;
      if (!kept) {
        const rendered = await renderText(deps, video, file);
        growing = rendered.growing;
        kept = growing ? encodeText(rendered.text) : cache.keepText(pv, file, rendered.text);
      }
      reply.header('Content-Type', textType(file));
      setCaching(req, reply, grant, growing ? 'growing' : 'playlist');
      return sendText(req, reply, deps, pv, undefined, kept);
    }
    if (!FILE.test(file) && !(chunked && PUBLISHED_FILE.test(file)))
      throw errors.objectNotFound(`/play/${videoId}/…/${file.slice(0, 100)}`);
    const ext = file.slice(file.lastIndexOf('.') + 1);
    // MP4 downloads: gone the moment mp4 is false (their rows may outlive it for a moment).
    const download = chunked && file.startsWith(`${DOWNLOAD_DIR}/`);
    if (download && !video.mp4) throw errors.objectNotFound(file);

    let key: string;
    let size: number | undefined;
    let published: PlayFile | null = null;
    if (chunked) {
      if (ext === 'm3u8') {
        let kept = pv.texts.get(file);
        let growing = false;
        if (!kept) {
          const rendered = await renderPlaylist(db, video, file);
          growing = rendered.growing;
          kept = growing ? encodeText(rendered.text) : cache.keepText(pv, file, rendered.text);
        }
        reply.header('Content-Type', CONTENT_TYPES.m3u8);
        setCaching(req, reply, grant, growing ? 'growing' : 'playlist', !(isMaster && grant));
        return sendText(req, reply, deps, pv, isMaster ? grant : undefined, kept);
      }
      // A poster chosen after upload (http/videoPoster.ts) is served in place of the transcode's.
      published = file === 'poster.jpg' && video.poster_key ? null : await cache.file(pv, file);
      if (published) {
        key = published.key;
        size = published.bytes;
      } else if (file === 'poster.jpg' && video.poster_key) key = video.poster_key;
      else throw errors.objectNotFound(file);
    } else key = video.output_prefix + file;

    if (deps.delivery === 'redirect' && store.presignGet && ext !== 'm3u8') {
      // Playlists stay here (their relative URIs must resolve under the token); media comes from the store.
      reply.header('Cache-Control', `private, max-age=${PRESIGN_SECONDS / 2}`);
      return reply.redirect(await store.presignGet(key, PRESIGN_SECONDS), 302);
    }
    if (size === undefined) {
      // Legacy: the store says whether the file exists. Chunked: the outputs row did, with its size.
      const known = pv.stats.get(file);
      const stat = known !== undefined ? known : ((await store.stat(key))?.size ?? null);
      cache.keepStat(pv, file, stat);
      if (stat === null) throw errors.objectNotFound(file);
      size = stat;
    }

    reply.header('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream');
    // Segments never change once published (a new publication has a new prefix, a chunk's files keep their
    // place); playlists are short-lived so that a re-publication is picked up.
    // The poster may be chosen again (PATCH posterTime): short-lived like a playlist.
    // Downloads are not immutable: the same URL answers 404 once they are removed, other bytes once remade.
    const kind = ext === 'm3u8' || file === 'poster.jpg' || download ? 'playlist' : 'media';
    setCaching(req, reply, grant, kind, !(isMaster && grant));
    if (download) reply.header('Content-Disposition', contentDisposition(video.title, file));

    if (isMaster && grant) {
      const text = (await buffer(await store.get(key))).toString('utf8');
      return sendText(req, reply, deps, pv, grant, encodeText(text));
    }

    reply.header('Accept-Ranges', 'bytes');
    // Legacy: the prefix's word characters (as before); chunked: a digest of the file's stable key.
    const etag =
      video.output_prefix !== null
        ? `"${video.output_prefix.replace(/\W/g, '')}-${size}"`
        : published
          ? publishedETag(published)
          : fileETag(key, size);
    reply.header('ETag', etag);
    if (pv.lastModified) reply.header('Last-Modified', pv.lastModified);
    if (notModified(req, etag, pv.lastModified)) return reply.code(304).send();

    // Hot media of ready videos comes from memory (http/mediaCache.ts); the rest, anything large, and a
    // range of a file not kept already, from the store.
    const media = deps.mediaCache;
    const rangeHeader = req.headers.range;
    const body =
      kind === 'media' && pv.cached && media?.keeps(size)
        ? rangeHeader
          ? media.peek(key)
          : await media.get(key, async () => buffer(await store.get(key)))
        : undefined;

    if (rangeHeader && ifRangeHolds(req, etag, pv.lastModified)) {
      const ranges = rangeParser(size, rangeHeader, { combine: true });
      if (ranges === -1) {
        reply.header('Content-Range', `bytes */${size}`);
        throw errors.rangeNotSatisfiable(size);
      }
      if (ranges !== -2 && ranges.length === 1) {
        const { start, end } = ranges[0]!;
        reply.code(206);
        reply.header('Content-Range', `bytes ${start}-${end}/${size}`);
        reply.header('Content-Length', end - start + 1);
        return reply.send(body ? body.subarray(start, end + 1) : await store.get(key, { start, end }));
      }
    }
    reply.header('Content-Length', size);
    return reply.send(body ?? (await store.get(key)));
  });
}

/**
 * RFC 9110 §13.1: If-None-Match (weak comparison; `*`) decides when present, else If-Modified-Since
 * against Last-Modified (whole seconds). Only GET/HEAD reach here.
 */
export function notModified(
  req: FastifyRequest,
  etag: string | undefined,
  lastModified: string | undefined,
): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    if (!etag) return false;
    const bare = etag.replace(/^W\//, '');
    return inm
      .split(',')
      .map((t) => t.trim())
      .some((t) => t === '*' || t.replace(/^W\//, '') === bare);
  }
  const ims = req.headers['if-modified-since'];
  if (ims === undefined || !lastModified) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && Date.parse(lastModified) <= since;
}

/** If-Range (RFC 9110 §13.1.5): the range applies only when the validator still matches (strong ETag or date). */
function ifRangeHolds(req: FastifyRequest, etag: string, lastModified: string | undefined): boolean {
  const ifRange = req.headers['if-range'];
  if (ifRange === undefined) return true;
  if (typeof ifRange !== 'string') return false;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag;
  return lastModified !== undefined && Date.parse(ifRange) === Date.parse(lastModified);
}

export function textType(file: string): string {
  return file.endsWith('.m3u8') ? CONTENT_TYPES.m3u8! : 'text/vtt; charset=utf-8';
}

/**
 * Sends a playlist or another text file. A master fetched with a playback token starts a playback: its
 * renditions go through a session token that outlives the playback token for as long as the video needs.
 * Every such answer carries a new session, so no validator; any other text has an ETag of its bytes (and
 * a kept one is encoded once).
 */
async function sendText(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: PlaybackDeps,
  pv: PlayVideo,
  startGrant: PlaybackGrant | undefined,
  kept: KeptText,
): Promise<FastifyReply> {
  if (startGrant) {
    const now = Math.floor(Date.now() / 1000);
    // A customer-signed token may be valid for years: its session is widened no further than Reel's own.
    const startExp = startGrant.customerKeyId
      ? Math.min(startGrant.exp, now + deps.config.tokenTtlSeconds)
      : startGrant.exp;
    const exp = sessionExpiry(now, pv.row.duration_ms, startExp, deps.config);
    const session = await signSessionToken(deps.tokenKeys, pv.row.id, exp);
    const bytes = Buffer.from(masterForSession(kept.body.toString(), session));
    reply.header('Content-Length', bytes.length);
    return reply.send(bytes);
  }
  const { body, etag } = kept;
  reply.header('ETag', etag);
  if (pv.lastModified) reply.header('Last-Modified', pv.lastModified);
  if (notModified(req, etag, pv.lastModified)) return reply.code(304).send();
  reply.header('Content-Length', body.length);
  return reply.send(body);
}

/**
 * The playlists of a chunked video, from the database: the master lists every planned rung (bandwidths are
 * the rungs' ceilings until ready, then measured) and the audio group; a media playlist lists the
 * rendition's published segments, growing (EVENT) until the video is ready. Any other name is 404.
 */
async function renderPlaylist(
  db: Db,
  video: VideoRow,
  file: string,
): Promise<{ text: string; growing: boolean }> {
  const complete = video.status === 'ready';
  if (file === MASTER_PLAYLIST) {
    const text = renderMasterPlaylist(video.renditions, video.audio, await masterExtras(db, video));
    return { text, growing: false };
  }
  const rendition = file.slice(0, file.indexOf('/'));
  // Audio: `audio`, and `audio_1`, `audio_2`, … when the video has several tracks.
  const isAudio =
    (rendition === AUDIO_NAME && video.audio !== null) ||
    (video.audio_tracks ?? []).some((t) => t.name === rendition);
  const known =
    file === `${rendition}/${MEDIA_PLAYLIST}` &&
    (video.renditions.some((r) => r.name === rendition) || isAudio);
  if (!known) throw errors.objectNotFound(file);
  const segments = (await listSegments(db, video.id, rendition)).get(rendition) ?? [];
  // Audio segments are whole AAC frames (4.011 s) and the last one takes in a short tail (up to 5 s): its
  // target is 5 from the first reload on, since a target must not change while a playlist grows.
  const target = isAudio ? SEGMENT_SECONDS + 1 : SEGMENT_SECONDS;
  const text = renderMediaPlaylist({ segments, targetDuration: target, complete });
  return { text, growing: !complete };
}

/** The files of a chunked video rendered as text on request (http/playExtras.ts TEXT_FILE). */
async function renderText(
  deps: PlaybackDeps,
  video: VideoRow,
  file: string,
): Promise<{ text: string; contentType: string; growing: boolean }> {
  const growing = video.status !== 'ready';
  if (file === 'storyboard.vtt')
    return {
      text: await renderStoryboardVtt(deps.db, video),
      contentType: 'text/vtt; charset=utf-8',
      growing,
    };
  if (file.endsWith('/iframes.m3u8'))
    return {
      text: await renderIFramePlaylist(deps.db, video, file),
      contentType: CONTENT_TYPES.m3u8!,
      growing,
    };
  const caption = await renderCaptionFile(deps.db, deps.store, video, file);
  return { ...caption, growing: false };
}

/**
 * The play role's fast path: a request that memory alone can answer is answered on Node's own request
 * object, before Fastify parses and routes it. That is a ready video the play cache holds, a token the
 * verified-token list holds (or `public`), and a file that is either a text already rendered (playlists,
 * storyboard, captions) or a media file the media cache holds. It costs about half of the same answer through
 * Fastify's route (`npm run bench:serve`), which matters for the few hundred requests a viewer makes.
 *
 * Everything else takes the route (http/playback.ts), which stays the reference: the first request for a
 * video or a file, a master fetched with a token (a new session), a query string, a Range or conditional
 * request, anything refused or failing. Both send the same headers (test/http/playFastPath.test.ts
 * compares them), from the same functions.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MASTER_PLAYLIST } from '../media/playlist.js';
import type { MediaCache } from './mediaCache.js';
import { CONTENT_TYPES, cacheControl, EDGE_HEADER, edgeExpires, PLAY_CORS, textType } from './playback.js';
import { type PlayCache, publishedETag } from './playCache.js';
import { loggableUrl } from './requestLog.js';
import type { VerifiedTokens } from './tokenCache.js';

export interface FastPathDeps {
  playCache: PlayCache;
  tokens: VerifiedTokens;
  mediaCache: MediaCache;
  log: Logger;
}

/** /play/{videoId}/{access}/{file}, no query string. */
const PLAY_URL = /^\/play\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9._-]{1,2048})\/([A-Za-z0-9._/-]{1,512})$/;
/** Published files that never change (kind "media"): segments, init segments, storyboard sheets. */
const MEDIA_FILE = /^(?:[A-Za-z0-9_-]{1,32}\/(?:init\.mp4|seg_\d{1,6}\.m4s)|storyboard\/\d{1,5}\.jpg)$/;

/** Returns true when it answered the request; false: the request goes on to Fastify untouched. */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

export function createPlayFastPath(deps: FastPathDeps): FastPath {
  const { playCache, tokens, mediaCache, log } = deps;
  return (req, res) => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const url = req.url;
    if (url === undefined || !url.startsWith('/play/')) return false;
    const h = req.headers;
    if (
      h.range !== undefined ||
      h['if-none-match'] !== undefined ||
      h['if-modified-since'] !== undefined ||
      h['if-range'] !== undefined
    )
      return false;
    const m = PLAY_URL.exec(url);
    if (!m) return false;
    const [, videoId, access, file] = m as unknown as [string, string, string, string];
    if (file.includes('..')) return false;
    const pv = playCache.peek(videoId);
    if (!pv || pv.row.output_prefix !== null) return false;
    let grant: ReturnType<VerifiedTokens['peekMedia']>;
    if (access === 'public') {
      if (pv.row.playback_policy !== 'public') return false;
    } else {
      // A master fetched with a token starts a playback (a new session each time): the route's.
      if (file === MASTER_PLAYLIST) return false;
      grant = tokens.peekMedia(access, videoId);
      if (!grant) return false;
    }

    const edge = h[EDGE_HEADER] === '1';
    let body: Buffer;
    let etag: string;
    let contentType: string;
    let kind: 'media' | 'playlist';
    const text = pv.texts.get(file);
    if (text) {
      body = text.body;
      etag = text.etag;
      contentType = textType(file);
      kind = 'playlist';
    } else {
      if (!MEDIA_FILE.test(file)) return false;
      const published = pv.files?.get(file);
      if (!published) return false;
      const kept = mediaCache.peek(published.key);
      if (!kept) return false;
      body = kept;
      etag = publishedETag(published);
      contentType = CONTENT_TYPES[file.slice(file.lastIndexOf('.') + 1)]!;
      kind = 'media';
    }

    const headers: Record<string, string | number> = { ...PLAY_CORS, 'Content-Type': contentType };
    if (edge) headers['X-Accel-Expires'] = edgeExpires(grant, kind);
    headers['Cache-Control'] = cacheControl(grant, kind);
    if (kind === 'media') headers['Accept-Ranges'] = 'bytes';
    headers.ETag = etag;
    if (pv.lastModified) headers['Last-Modified'] = pv.lastModified;
    headers['Content-Length'] = body.length;
    res.writeHead(200, headers);
    res.end(method === 'HEAD' ? undefined : body);
    if (log.isLevelEnabled('debug')) {
      log.debug(
        {
          req: { method, url: loggableUrl(url), remoteAddress: req.socket.remoteAddress },
          res: { statusCode: 200 },
          fast: true,
        },
        'request completed',
      );
    }
    return true;
  };
}

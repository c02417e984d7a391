/**
 * Request logs without secrets. Fastify's own request lines log the whole URL, and playback URLs carry the
 * token in the path (/play/{videoId}/{token}/…): anyone reading the log could replay it. Reel logs one line
 * per answered request instead, with the access segment of /play URLs replaced and no query string.
 */
import type { FastifyInstance } from 'fastify';

const PLAY = /^(\/play(?:-auth)?\/[^/?]+\/)([^/?]+)/;
/** An upload link's secret (/v1/upload-links/{secret}/…) is a credential too. */
const UPLOAD_LINK = /^(\/v1\/upload-links\/)([^/?]+)/;

/** The URL as it may be logged: no query string, and a playback token replaced by "…". */
export function loggableUrl(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path
    .replace(PLAY, (_m, head: string, access: string) => head + (access === 'public' ? access : '…'))
    .replace(UPLOAD_LINK, '$1…');
}

/**
 * Playback answers that succeed are logged at debug: a viewer makes a request every few seconds and a
 * busy play role answers thousands a second (a line each cost about a third of a playlist's time).
 * Refusals and failures stay at info, like every other request.
 */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (req, reply) => {
    const quiet = reply.statusCode < 400 && req.url.startsWith('/play/');
    if (quiet && (req.log as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.('debug') === false)
      return;
    req.log[quiet ? 'debug' : 'info'](
      {
        req: { method: req.method, url: loggableUrl(req.url), remoteAddress: req.ip },
        res: { statusCode: reply.statusCode },
        responseTime: reply.elapsedTime,
      },
      'request completed',
    );
  });
}

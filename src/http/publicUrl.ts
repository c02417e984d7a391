/**
 * The base of the URLs Reel hands out (playback URLs, the tus Location). REEL_PUBLIC_URL when it is set;
 * otherwise the request's own scheme and host, where Fastify reads X-Forwarded-Proto/Host only from the
 * proxies REEL_TRUST_PROXY names (the Forwarded header is never read).
 */
import type { FastifyRequest } from 'fastify';
import { errors } from '../core/errors.js';

/** A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port: nothing else. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

export function publicBase(req: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host: unknown = req.host;
  if (typeof host !== 'string' || !HOST.test(host)) {
    throw errors.invalidRequest(
      'The Host header is not a host name (with an optional port); send the name this server is reached by.',
    );
  }
  const protocol = req.protocol === 'https' ? 'https' : 'http';
  return `${protocol}://${host}`;
}

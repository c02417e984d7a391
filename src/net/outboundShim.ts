/**
 * TEMPORARY stand-in for src/net/outbound.ts (the lead's, on main), with its interface; removed when main
 * is merged. Refusals are REEL_INVALID_REQUEST here (REEL_URL_REFUSED in the real module).
 */
import dns from 'node:dns/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { errors } from '../core/errors.js';

export function checkOutboundUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw errors.invalidRequest('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw errors.invalidRequest(`only http and https URLs are accepted, not ${url.protocol}`);
  if (url.username || url.password) throw errors.invalidRequest('URLs with credentials are refused');
  return url;
}

const blocked = new net.BlockList();
for (const [a, p] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['100.64.0.0', 10],
] as const)
  blocked.addSubnet(a, p, 'ipv4');
for (const [a, p] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(a, p, 'ipv6');

async function resolve(url: URL): Promise<string[]> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) return [host];
  return (await dns.lookup(host, { all: true })).map((a) => a.address);
}

export async function assertPublicDestination(
  url: URL,
  opts: { allowPrivateNetworks: boolean },
): Promise<void> {
  if (opts.allowPrivateNetworks) return;
  for (const a of await resolve(url))
    if (blocked.check(a, net.isIPv6(a) ? 'ipv6' : 'ipv4'))
      throw errors.invalidRequest(`${url.hostname} resolves to ${a}, a private address`);
}

export async function outboundRequest(
  url: string | URL,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    timeoutMs: number;
    maxRedirects: number;
    allowPrivateNetworks: boolean;
    signal?: AbortSignal;
  },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Readable; url: URL }> {
  let current = typeof url === 'string' ? checkOutboundUrl(url) : url;
  for (let hop = 0; ; hop++) {
    await assertPublicDestination(current, opts);
    const res = await new Promise<http.IncomingMessage>((ok, fail) => {
      const lib = current.protocol === 'https:' ? https : http;
      const req = lib.request(current, {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        timeout: opts.timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      req.on('response', ok).on('error', fail);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs / 1000} s`)));
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= opts.maxRedirects) throw errors.invalidRequest(`more than ${opts.maxRedirects} redirects`);
      current = checkOutboundUrl(new URL(res.headers.location, current).toString());
      continue;
    }
    return { status, headers: res.headers, body: res, url: current };
  }
}

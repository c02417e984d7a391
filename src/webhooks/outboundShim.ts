/**
 * TEMPORARY stand-in for src/net/outbound.ts (the lead's, on main soon), with its interface: replaced by
 * the real module at the merge. Not a complete SSRF guard (no DNS pinning).
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
    throw errors.invalidRequest(`"${raw.slice(0, 100)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw errors.invalidRequest('only http and https URLs are allowed');
  if (url.username || url.password) throw errors.invalidRequest('URLs with credentials are refused');
  return url;
}

function isPrivate(addr: string): boolean {
  if (net.isIPv4(addr)) {
    const [a, b] = addr.split('.').map(Number) as [number, number];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b < 128) ||
      a >= 224
    );
  }
  const v = addr.toLowerCase();
  if (v.startsWith('::ffff:')) return isPrivate(v.slice(7));
  return v === '::' || v === '::1' || v.startsWith('fc') || v.startsWith('fd') || v.startsWith('fe80');
}

export async function assertPublicDestination(
  url: URL,
  opts: { allowPrivateNetworks: boolean },
): Promise<void> {
  if (opts.allowPrivateNetworks) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addrs = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
  const bad = addrs.find(isPrivate);
  if (bad) throw errors.invalidRequest(`${url.hostname} resolves to a private address ${bad}`);
}

export async function outboundRequest(
  target: string | URL,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs: number;
    maxRedirects: number;
    allowPrivateNetworks: boolean;
    signal?: AbortSignal;
  },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Readable; url: URL }> {
  const url = checkOutboundUrl(String(target));
  await assertPublicDestination(url, opts);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      signal: opts.signal,
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

/**
 * The one way Reel opens a URL someone gave it (webhook receivers, imports). Such a URL is an attacker's
 * lever on the network Reel sits in, so unless REEL_ALLOW_PRIVATE_NETWORKS is set:
 * - only http and https, without credentials in the URL;
 * - the host is resolved and refused when ANY of its addresses is loopback, private, link-local (cloud
 *   metadata at 169.254.169.254), multicast, unspecified or otherwise reserved; IPv4-mapped and NAT64 IPv6
 *   addresses are judged by the IPv4 address inside;
 * - the connection goes to an address checked at connect time (the check sits in the socket's DNS lookup),
 *   so a name that resolves to a public address when checked and to a private one a moment later (DNS
 *   rebinding) still cannot reach the private one;
 * - redirects are followed here, never by a library, and every hop is checked again.
 * Node's http/https are used rather than fetch (undici) because they take a per-request `lookup`.
 */
import dns from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { errors } from '../core/errors.js';

/** Why an address may not be reached, or null when it may. */
export type AddressPolicy = (address: string) => string | null;

const RANGES: [category: string, family: 'ipv4' | 'ipv6', network: string, prefix: number][] = [
  ['unspecified', 'ipv4', '0.0.0.0', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private (shared address space)', 'ipv4', '100.64.0.0', 10],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['link-local (cloud metadata)', 'ipv4', '169.254.0.0', 16],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['reserved', 'ipv4', '192.0.0.0', 24],
  ['reserved (documentation)', 'ipv4', '192.0.2.0', 24],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['reserved (benchmarking)', 'ipv4', '198.18.0.0', 15],
  ['reserved (documentation)', 'ipv4', '198.51.100.0', 24],
  ['reserved (documentation)', 'ipv4', '203.0.113.0', 24],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['reserved (discard)', 'ipv6', '100::', 64],
  ['reserved (documentation)', 'ipv6', '2001:db8::', 32],
  ['private (unique local)', 'ipv6', 'fc00::', 7],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['private (site-local)', 'ipv6', 'fec0::', 10],
  ['multicast', 'ipv6', 'ff00::', 8],
  // Forms that carry or reach an IPv4 address some other way: judged as reserved rather than decoded.
  ['reserved (IPv4-compatible)', 'ipv6', '::', 96],
  ['reserved (6to4)', 'ipv6', '2002::', 16],
  ['reserved (Teredo)', 'ipv6', '2001::', 32],
  ['reserved (local NAT64)', 'ipv6', '64:ff9b:1::', 48],
];

const LISTS = (() => {
  const byCategory = new Map<string, net.BlockList>();
  for (const [category, family, network, prefix] of RANGES) {
    const list = byCategory.get(category) ?? new net.BlockList();
    byCategory.set(category, list);
    list.addSubnet(network, prefix, family);
  }
  return [...byCategory];
})();

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible or NAT64 (64:ff9b::/96) one. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const m = /^(?:::ffff:(?:0:)?|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const hex = /^(?:::ffff:(?:0:)?|64:ff9b::|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const hi = Number.parseInt(hex[1]!, 16);
  const lo = Number.parseInt(hex[2]!, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** The category of a blocked address ("loopback", "private", …), or null for a public one. */
export function blockedCategory(address: string): string | null {
  const family = net.isIP(address);
  if (family === 0) return 'not an IP address';
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined) return blockedCategory(v4);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [category, list] of LISTS) if (list.check(address, type)) return category;
  return null;
}

export const publicOnly: AddressPolicy = (address) => {
  const category = blockedCategory(address);
  return category && `a ${category} address`;
};
const anyAddress: AddressPolicy = () => null;

export function addressPolicy(allowPrivateNetworks: boolean): AddressPolicy {
  return allowPrivateNetworks ? anyAddress : publicOnly;
}

const MAX_URL_LENGTH = 2048;

/** Parses a URL Reel is asked to open: http(s), no credentials, a host. Throws REEL_URL_REFUSED. */
export function checkOutboundUrl(raw: string): URL {
  if (raw.length > MAX_URL_LENGTH) throw errors.urlRefused(`it is longer than ${MAX_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw errors.urlRefused('it is not a valid absolute URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw errors.urlRefused(`only http and https URLs are opened, not ${url.protocol.replace(/:$/, '')}.`);
  }
  if (url.username || url.password) {
    throw errors.urlRefused(
      'it carries a user name or password; put credentials in the path or query instead.',
    );
  }
  if (!url.hostname) throw errors.urlRefused('it has no host.');
  return url;
}

/** The host of a URL as an address or a name to resolve (brackets of IPv6 literals removed). */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

async function resolveAll(host: string): Promise<string[]> {
  if (net.isIP(host)) return [host];
  try {
    return (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    throw errors.urlRefused(`the host ${host} could not be resolved.`);
  }
}

function refusalOf(host: string, addresses: string[], policy: AddressPolicy): string | null {
  for (const address of addresses) {
    const why = policy(address);
    // The address itself is named only when it was given: a name's private addresses are not told back.
    if (why) return address === host ? `${host} is ${why}.` : `${host} resolves to ${why}.`;
  }
  return null;
}

/**
 * Resolves the URL's host and throws REEL_URL_REFUSED when any of its addresses is one the policy refuses
 * (for answering a request at once; the connection itself is checked again by outboundRequest).
 */
export async function assertPublicDestination(
  url: URL,
  opts: { allowPrivateNetworks: boolean; policy?: AddressPolicy },
): Promise<void> {
  const policy = opts.policy ?? addressPolicy(opts.allowPrivateNetworks);
  if (policy === anyAddress) return;
  const host = hostOf(url);
  const why = refusalOf(host, await resolveAll(host), policy);
  if (why) throw errors.urlRefused(why);
}

/** A DNS lookup for the socket that refuses names with a blocked address (checked when connecting). */
function guardedLookup(policy: AddressPolicy): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const why = refusalOf(
        hostname,
        list.map((a) => a.address),
        policy,
      );
      if (why) return callback(errors.urlRefused(why) as unknown as NodeJS.ErrnoException, '', 0);
      if (options.all) return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first)
        return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

export interface OutboundOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Bounds connecting and receiving the response's headers (each hop); the body is the caller's to bound. */
  timeoutMs: number;
  /** Redirects to follow (0: a 3xx is the answer). */
  maxRedirects: number;
  allowPrivateNetworks: boolean;
  /** Overrides the address policy that allowPrivateNetworks picks (tests). */
  policy?: AddressPolicy;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body: read it or destroy it. */
  body: Readable;
  /** The URL that answered (after redirects). */
  url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function requestOnce(url: URL, opts: OutboundOptions, policy: AddressPolicy): Promise<OutboundResponse> {
  return new Promise((resolve, reject) => {
    const host = hostOf(url);
    if (net.isIP(host)) {
      // A literal address is never looked up: judge it here.
      const why = refusalOf(host, [host], policy);
      if (why) return reject(errors.urlRefused(why));
    }
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      lookup: guardedLookup(policy),
      agent: false, // a fresh, checked connection each time: no pooled socket to another address
      signal: opts.signal,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${Math.round(opts.timeoutMs / 100) / 10} s`));
    }, opts.timeoutMs);
    req.once('response', (res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(describe(err, url));
    });
    req.end(opts.body);
  });
}

/** Connection errors as a sentence (refusals and aborts pass through). */
function describe(err: Error, url: URL): Error {
  if (err.name === 'ReelError' || err.name === 'AbortError') return err;
  const code = (err as NodeJS.ErrnoException).code;
  const where = url.host;
  if (code === 'ECONNREFUSED') return new Error(`${where} refused the connection`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new Error(`the host ${url.hostname} could not be resolved`);
  if (code === 'ECONNRESET') return new Error(`${where} closed the connection`);
  return new Error(`${where}: ${err.message}`);
}

/**
 * One HTTP request to a URL someone gave Reel, following at most `maxRedirects` redirects, each checked
 * again. Throws REEL_URL_REFUSED for a refused URL or address (also on a redirect), an Error with a readable
 * message for a timeout or a connection failure.
 */
export async function outboundRequest(raw: string | URL, opts: OutboundOptions): Promise<OutboundResponse> {
  const policy = opts.policy ?? addressPolicy(opts.allowPrivateNetworks);
  let url = checkOutboundUrl(String(raw));
  let method = opts.method ?? 'GET';
  let body = opts.body;
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(url, { ...opts, method, body }, policy);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || opts.maxRedirects === 0 || !location) return res;
    res.body.destroy();
    if (hop >= opts.maxRedirects) {
      throw errors.urlRefused(`it redirected more than ${opts.maxRedirects} times.`);
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new Error(`${url.host} redirected to an invalid URL`);
    }
    url = checkOutboundUrl(next.href);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
  }
}

/** The guard on URLs Reel is given: address classes, redirects re-checked, limits. Real sockets, local servers. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import {
  type AddressPolicy,
  assertPublicDestination,
  blockedCategory,
  checkOutboundUrl,
  outboundRequest,
  publicOnly,
} from '../../src/net/outbound.js';

const refused = { code: errors.urlRefused.code };

describe('address classes', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private (shared address space)'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'private (unique local)'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local (cloud metadata)'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['::7f00:1', 'loopback'],
    ['::a9fe:a9fe', 'link-local (cloud metadata)'],
    ['::1:2', 'unspecified'],
    ['::808:808', null],
    ['2002:7f00:1::', 'reserved (6to4)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved (Teredo)'],
    ['64:ff9b:1::a00:1', 'reserved (local NAT64)'],
  ])('%s is %s', (address, category) => {
    expect(blockedCategory(address)).toBe(category);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (a) => {
    expect(blockedCategory(a)).toBeNull();
  });
});

describe('checkOutboundUrl', () => {
  it.each([
    'ftp://example.com/a.mp4',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'gopher://example.com/',
    'http://user:pass@example.com/a.mp4',
    'not a url',
    `https://example.com/${'a'.repeat(2100)}`,
  ])('refuses %s', (raw) => {
    expect(() => checkOutboundUrl(raw)).toThrow(expect.objectContaining(refused));
  });

  it('takes http and https', () => {
    expect(checkOutboundUrl('https://example.com/v.mp4?x=1').hostname).toBe('example.com');
  });
});

describe('assertPublicDestination', () => {
  it.each([
    'http://127.0.0.1:9/',
    'http://localhost/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://0.0.0.0/',
    'http://10.0.0.1/',
    'http://2130706433/', // 127.0.0.1 as one decimal number: the URL parser turns it into 127.0.0.1
    'http://0x7f.1/',
    'http://[::127.0.0.1]/',
  ])('refuses %s unless private networks are allowed', async (raw) => {
    const url = checkOutboundUrl(raw);
    await expect(assertPublicDestination(url, { allowPrivateNetworks: false })).rejects.toMatchObject(
      refused,
    );
    await expect(assertPublicDestination(url, { allowPrivateNetworks: true })).resolves.toBeUndefined();
  });

  it("names a given address and its class; a name's addresses are not told back", async () => {
    const literal = await assertPublicDestination(checkOutboundUrl('http://10.1.2.3/'), {
      allowPrivateNetworks: false,
    }).catch((e: Error) => e);
    expect((literal as Error).message).toBe('Reel will not open this URL: 10.1.2.3 is a private address.');
    const unknown = await assertPublicDestination(checkOutboundUrl('http://no-such-host.invalid/'), {
      allowPrivateNetworks: false,
    }).catch((e: Error) => e);
    expect(unknown).toMatchObject({ ...refused, statusCode: 400 });
    expect((unknown as Error).message).toMatch(/no-such-host\.invalid could not be resolved/);

    const err = await assertPublicDestination(checkOutboundUrl('http://localhost:8080/'), {
      allowPrivateNetworks: false,
    }).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(
      /^Reel will not open this URL: localhost resolves to a loopback address\.$/,
    );
  });
});

describe('outboundRequest', () => {
  let server: http.Server;
  let base: string;
  /** Only the test server's own address is allowed; everything else follows the public-only rule. */
  const testPolicy: AddressPolicy = (a) => (a === '127.0.0.1' ? null : publicOnly(a));

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const hops = Number(u.searchParams.get('hops') ?? 0);
      if (u.pathname === '/chain') {
        if (hops === 0) return res.end('arrived');
        res.writeHead(302, { location: `/chain?hops=${hops - 1}` });
        return res.end();
      }
      if (u.pathname === '/to') {
        res.writeHead(307, { location: u.searchParams.get('url') ?? '/' });
        return res.end();
      }
      if (u.pathname === '/slow') return; // never answers
      if (u.pathname === '/echo') {
        let body = '';
        req.on('data', (c) => {
          body += c;
        });
        req.on('end', () => res.end(`${req.method} ${body}`));
        return;
      }
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const text = async (res: { body: NodeJS.ReadableStream }) => {
    let s = '';
    for await (const c of res.body) s += c;
    return s;
  };

  it('refuses the local server without the setting, even by name', async () => {
    await expect(
      outboundRequest(`${base}/`, { timeoutMs: 2000, maxRedirects: 0, allowPrivateNetworks: false }),
    ).rejects.toMatchObject(refused);
    const port = new URL(base).port;
    await expect(
      outboundRequest(`http://localhost:${port}/`, {
        timeoutMs: 2000,
        maxRedirects: 0,
        allowPrivateNetworks: false,
      }),
    ).rejects.toMatchObject(refused);
  });

  it('reaches it with the setting, and posts a body', async () => {
    const res = await outboundRequest(`${base}/echo`, {
      method: 'POST',
      body: 'hello',
      timeoutMs: 2000,
      maxRedirects: 0,
      allowPrivateNetworks: true,
    });
    expect(res.status).toBe(200);
    expect(await text(res)).toBe('POST hello');
  });

  it('follows up to maxRedirects and refuses one more', async () => {
    const opts = { timeoutMs: 2000, maxRedirects: 5, allowPrivateNetworks: true };
    const ok = await outboundRequest(`${base}/chain?hops=5`, opts);
    expect(await text(ok)).toBe('arrived');
    expect(ok.url.search).toBe('?hops=0');
    await expect(outboundRequest(`${base}/chain?hops=6`, opts)).rejects.toMatchObject(refused);
  });

  it('answers a 3xx as is when redirects are not followed', async () => {
    const res = await outboundRequest(`${base}/chain?hops=1`, {
      timeoutMs: 2000,
      maxRedirects: 0,
      allowPrivateNetworks: false,
      policy: testPolicy,
    });
    expect(res.status).toBe(302);
    res.body.destroy();
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://[::1]/',
    'http://127.0.0.2/',
    'file:///etc/passwd',
  ])('checks every redirect again: to %s is refused', async (target) => {
    const started = Date.now();
    await expect(
      outboundRequest(`${base}/to?url=${encodeURIComponent(target)}`, {
        timeoutMs: 5000,
        maxRedirects: 5,
        allowPrivateNetworks: false,
        policy: testPolicy,
      }),
    ).rejects.toMatchObject(refused);
    // Refused before any connection is tried (a connection to 10.0.0.1 would hang until the timeout).
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gives up on a server that does not answer, with a sentence', async () => {
    await expect(
      outboundRequest(`${base}/slow`, { timeoutMs: 300, maxRedirects: 0, allowPrivateNetworks: true }),
    ).rejects.toThrow(/no answer within 0.3 s/);
  });

  it('says so when nothing listens', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(
      outboundRequest(`http://127.0.0.1:${port}/`, {
        timeoutMs: 2000,
        maxRedirects: 0,
        allowPrivateNetworks: true,
      }),
    ).rejects.toThrow(/refused the connection/);
  });
});

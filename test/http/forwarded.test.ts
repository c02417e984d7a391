/**
 * Forwarded headers and public URLs (issue 9, point 11): X-Forwarded-* and Forwarded headers change the
 * URLs Reel hands out (the playback URL, the tus Location) only when REEL_TRUST_PROXY names the proxy
 * the request came through; REEL_PUBLIC_URL, when set, is the base of every such URL whatever the request says.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';
import { tusHeaders } from '../helpers/tus.js';

const forged = {
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Proto': 'https',
  Forwarded: 'host=evil.example;proto=https',
};

/** The tus Location and the playback URL Reel answers a request carrying `headers`. */
async function urlsFor(t: TestReel, headers: Record<string, string>) {
  const created = await rawRequest(
    t.url,
    '/v1/uploads',
    'POST',
    tusHeaders.create(10, undefined, { ...t.auth, ...headers }),
  );
  expect(created.status).toBe(201);
  const location = String(created.headers.location);
  const id = location.split('/').pop()!;
  const playback = await rawRequest(t.url, `/v1/videos/${id}/playback`, 'GET', { ...t.auth, ...headers });
  expect(playback.status).toBe(200);
  return { id, location, playback: JSON.parse(playback.body).url as string };
}

describe('forwarded headers and public URLs', () => {
  const reels: TestReel[] = [];
  const start = async (flags: Record<string, string>) => {
    const t = await startTestReel({ roles: 'upload,play', ...flags });
    reels.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of reels) await t.close();
  });

  describe('by default (no proxy named)', () => {
    let t: TestReel;
    beforeAll(async () => {
      t = await start({});
    });

    it('forged X-Forwarded-Host/Proto and Forwarded headers are ignored', async () => {
      const { id, location, playback } = await urlsFor(t, forged);
      expect(location).toBe(`${t.url}/v1/uploads/${id}`);
      expect(playback.startsWith(`${t.url}/play/${id}/`)).toBe(true);
    });

    it('a Host header that is not a host name is refused, never put into a URL', async () => {
      const { id } = await urlsFor(t, {});
      for (const host of ['evil.example/x#', 'evil.example?', 'a b', 'evil.example:80@x']) {
        const res = await rawRequest(t.url, `/v1/videos/${id}/playback`, 'GET', { ...t.auth, Host: host });
        expect(res.status, host).toBe(400);
        expect(JSON.parse(res.body).message, host).toMatch(/Host header/);
      }
    });
  });

  it('honoured when REEL_TRUST_PROXY names the proxy the request came through', async () => {
    const t = await start({ 'trust-proxy': '10.1.2.3, 127.0.0.1/32' });
    const headers = { 'X-Forwarded-Host': 'video.example', 'X-Forwarded-Proto': 'https' };
    const { id, location, playback } = await urlsFor(t, headers);
    expect(location).toBe(`https://video.example/v1/uploads/${id}`);
    expect(playback.startsWith(`https://video.example/play/${id}/`)).toBe(true);
    // A proxy that is not the one the request came through is not trusted.
    const other = await start({ 'trust-proxy': '10.1.2.3' });
    const direct = await urlsFor(other, headers);
    expect(direct.location).toBe(`${other.url}/v1/uploads/${direct.id}`);
    expect(direct.playback.startsWith(`${other.url}/play/`)).toBe(true);
  });

  it('REEL_PUBLIC_URL wins over the request and over a trusted proxy', async () => {
    const t = await start({ 'public-url': 'https://media.example/reel/', 'trust-proxy': 'true' });
    const { id, location, playback } = await urlsFor(t, forged);
    expect(location).toBe(`https://media.example/reel/v1/uploads/${id}`);
    expect(playback.startsWith(`https://media.example/reel/play/${id}/`)).toBe(true);
  });
});

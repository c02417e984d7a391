/**
 * Upload links (issue 12): a URL made with an API key, used by a tus client with no credentials. One
 * upload per link, resumable from anywhere, refused after expiry and beyond maxBytes, CORS for its one
 * origin, and nothing else granted by its secret.
 */
import fs from 'node:fs';
import http from 'node:http';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { createApiKey } from '../../src/db/apiKeys.js';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusFetch, tusHeaders } from '../helpers/tus.js';

const MAX_UPLOAD = 5_000_000;
const ORIGIN = 'https://app.example.com';

interface Link {
  videoId: string;
  url: string;
  expiresAt: string;
}

describe('upload links', () => {
  let t: TestReel;
  let clip: Buffer<ArrayBuffer>;

  beforeAll(async () => {
    let file: string;
    [t, file] = await Promise.all([
      startTestReel({ 'max-upload-bytes': String(MAX_UPLOAD) }),
      makeClip('link-240p', { width: 320, height: 240, seconds: 2 }),
    ]);
    clip = fs.readFileSync(file);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function createLink(body: Record<string, unknown> = {}, key = t.apiKey): Promise<Response> {
    return fetch(`${t.url}/v1/uploads/links`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
  async function link(body: Record<string, unknown> = {}): Promise<Link> {
    const res = await createLink(body);
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as Link;
  }
  const video = async (id: string) =>
    (await t.api(`/v1/videos/${id}`)).json() as Promise<{
      status: string;
      title: string;
      playbackPolicy: string;
    }>;
  const codeOf = async (res: Response) => ((await res.json()) as { code: string }).code;
  async function source(id: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await t.reel.store.get(`sources/${id}/original`)) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }
  /** tus-js-client as a browser with no credentials would use it. */
  function clientUpload(opts: Partial<tus.UploadOptions> & { endpoint: string }, data = clip) {
    return new Promise<tus.Upload>((resolve, reject) => {
      const upload: tus.Upload = new tus.Upload(data, {
        metadata: { filename: 'holiday.mp4' },
        retryDelays: [],
        ...opts,
        onError: reject,
        onSuccess: () => resolve(upload),
      });
      upload.start();
    });
  }

  it('tus-js-client with no credentials uploads one file into the link’s video, which becomes ready; a second file is refused', async () => {
    const before = Date.now();
    const l = await link({ title: 'From a link', playbackPolicy: 'public', externalId: 'user-77/clip-1' });
    expect(l.url).toMatch(new RegExp(`^${t.url}/v1/upload-links/ul_[A-Za-z0-9_-]{43}$`));
    const expires = Date.parse(l.expiresAt) - before;
    expect(expires).toBeGreaterThan(3590_000);
    expect(expires).toBeLessThan(3610_000);
    // The video exists at once, waiting for its file.
    expect(await video(l.videoId)).toMatchObject({
      status: 'uploading',
      title: 'From a link',
      externalId: 'user-77/clip-1',
    });

    const upload = await clientUpload({ endpoint: l.url });
    expect(upload.url).toBe(`${l.url}/${l.videoId}`);
    await waitFor('ready', async () => (await video(l.videoId)).status === 'ready', 60_000);
    expect(await video(l.videoId)).toMatchObject({ title: 'From a link', playbackPolicy: 'public' });
    expect((await source(l.videoId)).equals(clip)).toBe(true);

    // The link took its one upload: another file, another client, is refused.
    const second = await clientUpload({ endpoint: l.url }, clip.subarray(0, 1000)).catch((e) => e);
    expect(second).toBeInstanceOf(Error);
    const res = (second as { originalResponse: tus.HttpResponse }).originalResponse;
    expect(res.getStatus()).toBe(410);
    expect(JSON.parse(res.getBody()).code).toBe(errors.uploadLinkUsed.code);
  });

  it('an interrupted upload resumes from another client at its URL, byte-exact; the title falls back to the file’s name', async () => {
    const l = await link();
    const half = Math.floor(clip.length / 2);
    // A creation whose connection dies mid-body gave nobody the upload's URL: the link stays usable.
    await new Promise<void>((resolve) => {
      const { pathname } = new URL(l.url);
      const req = http.request(`${t.url}${pathname}`, {
        method: 'POST',
        headers: {
          ...tusHeaders.patch(0),
          'Upload-Length': String(clip.length),
          'Content-Length': String(clip.length),
        },
      });
      req.on('error', () => resolve());
      req.write(clip.subarray(0, 1000), () => setTimeout(() => req.destroy(), 200));
    });
    await waitFor(
      'the link given back',
      async () => {
        const [row] = await t.reel.db.query<{ free: boolean }>(
          'SELECT upload_created_at IS NULL AS free FROM upload_links WHERE video_id = $1',
          [l.videoId],
        );
        return row?.free;
      },
      5000,
    );
    const created = await tusFetch.create(l.url, {
      length: clip.length,
      metadata: { filename: 'beach day.mp4' },
      body: clip.subarray(0, half),
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    expect(location).toBe(`${l.url}/${l.videoId}`);
    expect(created.headers.get('upload-expires')).toBeTruthy();
    // Another "browser": no stored fingerprint, only the upload URL.
    const head = await tusFetch.head(location);
    expect(head.headers.get('upload-offset')).toBe(String(half));
    let firstOffset = -1;
    await clientUpload({
      endpoint: l.url,
      uploadUrl: location,
      onProgress: (sent) => {
        if (firstOffset < 0) firstOffset = sent;
      },
    });
    expect(firstOffset).toBeGreaterThanOrEqual(half);
    await waitFor('queued', async () => (await video(l.videoId)).status !== 'uploading');
    expect((await source(l.videoId)).equals(clip)).toBe(true);
    expect((await video(l.videoId)).title).toBe('beach day');
  });

  it('refuses a creation after expiry, but an upload begun before it finishes', async () => {
    const expired = await link({ expiresInSeconds: 60 });
    await t.reel.db.query(
      `UPDATE upload_links SET expires_at = now() - interval '1 second' WHERE video_id = $1`,
      [expired.videoId],
    );
    const refused = await tusFetch.create(expired.url, { length: clip.length });
    expect(refused.status).toBe(410);
    expect(await codeOf(refused)).toBe(errors.uploadLinkExpired.code);

    const begun = await link({ expiresInSeconds: 60 });
    const created = await tusFetch.create(begun.url, { length: clip.length, body: clip.subarray(0, 1000) });
    expect(created.status).toBe(201);
    await t.reel.db.query(
      `UPDATE upload_links SET expires_at = now() - interval '1 second' WHERE video_id = $1`,
      [begun.videoId],
    );
    const rest = await tusFetch.patch(created.headers.get('location')!, 1000, clip.subarray(1000));
    expect(rest.status).toBe(204);
    await waitFor('queued', async () => (await video(begun.videoId)).status !== 'uploading');

    // Housekeeping removes the video of a link that expired unused, and keeps a link still valid however
    // old its video (it counts from the link, not from the row).
    const fresh = await link();
    await t.reel.db.query(`UPDATE videos SET created_at = now() - interval '3 days' WHERE id = $1`, [
      fresh.videoId,
    ]);
    await t.reel.uploads!.cleanUpExpired();
    expect((await t.api(`/v1/videos/${expired.videoId}`)).status).toBe(404);
    expect((await t.api(`/v1/videos/${fresh.videoId}`)).status).toBe(200);
    expect((await tusFetch.create(expired.url, { length: 10 })).status).toBe(404);
  });

  it('enforces maxBytes: 413 at creation, Tus-Max-Size, no deferred length; refuses bad link options', async () => {
    const l = await link({ maxBytes: 1000 });
    const options = await fetch(l.url, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('tus-max-size')).toBe('1000');
    const big = await tusFetch.create(l.url, { length: 1001 });
    expect(big.status).toBe(413);
    expect(await codeOf(big)).toBe(errors.uploadLinkTooLarge.code);
    const deferred = await fetch(l.url, {
      method: 'POST',
      headers: tusHeaders.base({ 'Upload-Defer-Length': '1' }),
    });
    expect(deferred.status).toBe(400);
    // None of these used the link.
    const ok = await tusFetch.create(l.url, { length: 1000 });
    expect(ok.status).toBe(201);
    // Bytes beyond the declared length are refused by tus itself.
    const over = await tusFetch.patch(ok.headers.get('location')!, 0, Buffer.alloc(1001));
    expect(over.status).toBeGreaterThanOrEqual(400);

    for (const [body, why] of [
      [{ maxBytes: MAX_UPLOAD + 1 }, 'maxBytes above REEL_MAX_UPLOAD_BYTES'],
      [{ maxBytes: 0 }, 'maxBytes 0'],
      [{ expiresInSeconds: 59 }, 'expiry too short'],
      [{ expiresInSeconds: 8 * 24 * 3600 }, 'expiry too long'],
      [{ corsOrigin: 'https://app.example.com/path' }, 'origin with a path'],
      [{ corsOrigin: 'app.example.com' }, 'origin without a scheme'],
      [{ corsOrigin: 'ftp://app.example.com' }, 'origin with another scheme'],
      [{ corsOrigin: 'https://user@app.example.com' }, 'origin with a user'],
      [{ title: 'a\u0000b' }, 'title with NUL'],
      [{ playbackPolicy: 'everyone' }, 'unknown policy'],
    ] as const) {
      const res = await createLink(body);
      expect(res.status, why).toBe(400);
    }
  });

  it('answers CORS for its corsOrigin only', async () => {
    const l = await link({ corsOrigin: `${ORIGIN}/` });
    const preflight = (origin: string, url = l.url) =>
      fetch(url, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'tus-resumable, upload-length, upload-metadata',
        },
      });
    const right = await preflight(ORIGIN);
    expect(right.status).toBe(204);
    expect(right.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(right.headers.get('access-control-allow-methods')).toMatch(/POST.*HEAD.*PATCH.*DELETE|PATCH/);
    for (const m of ['POST', 'HEAD', 'PATCH', 'DELETE'])
      expect(right.headers.get('access-control-allow-methods')).toContain(m);
    for (const h of ['Tus-Resumable', 'Upload-Length', 'Upload-Metadata', 'Upload-Offset', 'Content-Type'])
      expect(right.headers.get('access-control-allow-headers')).toContain(h);
    expect(Number(right.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    const wrong = await preflight('https://evil.example.com');
    expect(wrong.headers.get('access-control-allow-origin')).toBeNull();

    const created = await tusFetch.create(l.url, { length: clip.length, headers: { Origin: ORIGIN } });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const exposed = created.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['Location', 'Upload-Offset', 'Upload-Length', 'Tus-Resumable', 'Upload-Expires'])
      expect(exposed).toContain(h);
    const location = created.headers.get('location')!;
    expect((await preflight(ORIGIN, location)).headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const head = await tusFetch.head(location, { Origin: 'https://evil.example.com' });
    expect(head.status).toBe(200);
    expect(head.headers.get('access-control-allow-origin')).toBeNull();
    // The page can read a refusal too (the link is used now).
    const again = await tusFetch.create(l.url, { length: 10, headers: { Origin: ORIGIN } });
    expect(again.status).toBe(410);
    expect(again.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    // A link made without corsOrigin answers no browser origin.
    const plain = await link();
    expect((await preflight(ORIGIN, plain.url)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('is in the API reference: the link routes need no API key, making a link does', async () => {
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    expect(doc.paths['/v1/uploads/links']!.post!.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(doc.paths['/v1/upload-links/{secret}']!).sort()).toEqual(['options', 'post']);
    expect(Object.keys(doc.paths['/v1/upload-links/{secret}/{id}']!).sort()).toEqual([
      'delete',
      'head',
      'options',
      'patch',
    ]);
    expect(doc.paths['/v1/upload-links/{secret}']!.post!.security).toEqual([]);
  });

  it('grants nothing else: other uploads, other videos, the API, smuggled ids, guessed secrets, read keys', async () => {
    const l = await link();
    const mine = await tusFetch.create(l.url, { length: clip.length });
    const location = mine.headers.get('location')!;
    // Another upload, begun with the API key.
    const other = await tusFetch.create(`${t.url}/v1/uploads`, { length: clip.length, headers: t.auth });
    expect(other.status).toBe(201);
    const otherId = other.headers.get('location')!.split('/').pop()!;
    const notFound = errors.uploadLinkNotFound.code;

    // The link's secret with another upload's id.
    expect((await tusFetch.head(`${l.url}/${otherId}`)).status).toBe(404);
    for (const res of [
      await tusFetch.patch(`${l.url}/${otherId}`, 0, clip.subarray(0, 100)),
      await tusFetch.delete(`${l.url}/${otherId}`),
    ]) {
      expect(res.status).toBe(404);
      expect(await codeOf(res)).toBe(notFound);
    }
    expect((await tusFetch.head(`${t.url}/v1/uploads/${otherId}`, t.auth)).headers.get('upload-offset')).toBe(
      '0',
    );

    // Ids smuggled in query strings reach only the link's own upload.
    const smuggled = await tusFetch.patch(`${location}?/${otherId}`, 0, clip.subarray(0, 100));
    expect(smuggled.status).toBe(204);
    expect((await tusFetch.head(location)).headers.get('upload-offset')).toBe('100');
    expect((await tusFetch.head(`${t.url}/v1/uploads/${otherId}`, t.auth)).headers.get('upload-offset')).toBe(
      '0',
    );
    expect((await tusFetch.head(`${l.url}?/${otherId}`)).status).toBe(404);

    // A wrong or malformed secret: the same 404, whether or not the video exists.
    const guessed = `${t.url}/v1/upload-links/ul_${'A'.repeat(43)}`;
    for (const url of [
      `${guessed}/${l.videoId}`,
      `${guessed}/nope`,
      `${t.url}/v1/upload-links/x/${l.videoId}`,
    ]) {
      const res = await tusFetch.head(url);
      expect(res.status).toBe(404);
    }
    const bodies = await Promise.all(
      [`${guessed}/${l.videoId}`, `${guessed}/nope`].map(async (u) =>
        (await tusFetch.patch(u, 0, Buffer.alloc(1))).text(),
      ),
    );
    expect(bodies[0]).toBe(bodies[1]);
    expect((await tusFetch.create(guessed, { length: 10 })).status).toBe(404);

    // The secret is no API key: no video, list, upload or playback URL.
    const secret = l.url.split('/').pop()!;
    const asKey = { Authorization: `Bearer ${secret}` };
    for (const path of ['/v1/videos', `/v1/videos/${l.videoId}`, `/v1/videos/${l.videoId}/playback`]) {
      expect((await fetch(`${t.url}${path}`, { headers: asKey })).status).toBe(401);
    }
    expect((await tusFetch.create(`${t.url}/v1/uploads`, { length: 10, headers: asKey })).status).toBe(401);
    expect((await tusFetch.head(`${t.url}/v1/uploads/${l.videoId}`, asKey)).status).toBe(401);
    expect((await fetch(l.url)).status).toBe(404);
    expect((await fetch(location)).status).toBe(404);

    // Making links: a write key may, a read key may not, no key may not; /v1/uploads/links is no tus id.
    const read = await createApiKey(t.reel.db, 'reader', ['read']);
    const write = await createApiKey(t.reel.db, 'writer', ['write']);
    const denied = await createLink({}, read.secret);
    expect(denied.status).toBe(403);
    expect(await codeOf(denied)).toBe(errors.scopeDenied.code);
    expect((await createLink({}, write.secret)).status).toBe(201);
    const noKey = await tusFetch.create(`${t.url}/v1/uploads/links`, { length: 10 });
    expect(noKey.status).toBe(401);

    // Deleting the video revokes its link.
    expect((await t.api(`/v1/videos/${l.videoId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await tusFetch.head(location)).status).toBe(404);

    // The secret never reaches the request log.
    expect(fs.readFileSync(t.logFile, 'utf8')).not.toContain(secret);
  });
});

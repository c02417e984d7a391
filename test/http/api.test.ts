import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusFetch, tusHeaders } from '../helpers/tus.js';
import { tusUpload } from '../helpers/upload.js';

describe('management API and tus uploads (no worker)', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play', 'max-upload-bytes': '1000000' });
  });
  afterAll(() => t.close());

  const expectError = async (res: Response, status: number, code?: string) => {
    expect(res.status).toBe(status);
    const body = await res.json();
    expect(body.statusCode).toBe(status);
    expect(body.code).toMatch(/^REEL_/);
    if (code) expect(body.code).toBe(code);
    expect(body.message.length).toBeGreaterThan(5);
  };

  it('refuses calls without an API key, or with a wrong or revoked one', async () => {
    await expectError(await fetch(`${t.url}/v1/videos`), 401, 'REEL_MISSING_API_KEY');
    await expectError(
      await fetch(`${t.url}/v1/videos`, { headers: { Authorization: 'Bearer nope' } }),
      401,
      'REEL_BAD_API_KEY',
    );
    await expectError(
      await fetch(`${t.url}/v1/videos`, { headers: { Authorization: 'Basic abc' } }),
      401,
      'REEL_BAD_API_KEY',
    );
    await expectError(
      await tusFetch.create(`${t.url}/v1/uploads`, { length: 10 }),
      401,
      'REEL_MISSING_API_KEY',
    );
    const created = await t.api('/v1/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'ci' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const { id, key } = await created.json();
    expect(key).toMatch(/^reel_/);
    expect((await fetch(`${t.url}/v1/videos`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(
      200,
    );
    const stored = await t.reel.db.query<{ hash: string }>('SELECT hash FROM api_keys WHERE id = $1', [id]);
    expect(stored[0]!.hash).not.toContain(key.slice(5)); // hashed, not stored in the clear
    expect((await t.api(`/v1/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await expectError(
      await fetch(`${t.url}/v1/videos`, { headers: { Authorization: `Bearer ${key}` } }),
      401,
      'REEL_BAD_API_KEY',
    );
    const list = await (await t.api('/v1/keys')).json();
    expect(list.data.find((k: { id: string }) => k.id === id).revokedAt).toBeTruthy();
  });

  it('a tus upload creates a queued video whose id is the upload id, with its bytes intact', async () => {
    const data = Buffer.alloc(300_000, 7);
    const id = await tusUpload(t, data, { title: 'Holiday', playback_policy: 'public' });
    const res = await t.api(`/v1/videos/${id}`);
    expect(res.status).toBe(200);
    const video = await res.json();
    expect(video).toMatchObject({
      id,
      title: 'Holiday',
      status: 'queued',
      playbackPolicy: 'public',
      progress: 0,
      error: null,
      playable: false,
      playableAt: null,
    });
    expect(Object.keys(video).sort()).toEqual(
      [
        'createdAt',
        'downloads',
        'durationMs',
        'error',
        'externalId',
        'height',
        'id',
        'mp4',
        'playable',
        'playableAt',
        'playbackPolicy',
        'posterTime',
        'progress',
        'readyAt',
        'renditions',
        'sourceSize',
        'status',
        'title',
        'width',
      ].sort(),
    );
    const stored = fs.readFileSync(path.join(t.dataDir, 'objects', 'sources', id, 'original'));
    expect(stored.equals(data)).toBe(true);
    const jobs = await t.reel.db.query('SELECT state FROM jobs WHERE video_id = $1', [id]);
    expect(jobs).toEqual([{ state: 'queued' }]);
    const list = await (await t.api('/v1/videos')).json();
    expect(list.data.map((v: { id: string }) => v.id)).toContain(id);
  });

  it('creation-with-upload in one request, default policy signed, title from the file name', async () => {
    const body = Buffer.alloc(1000, 1);
    const res = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(
        body.length,
        { filename: 'beach day.mov' },
        {
          'Content-Type': 'application/offset+octet-stream',
        },
      ),
      body,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('upload-offset')).toBe('1000');
    const id = res.headers.get('location')!.split('/').pop()!;
    const video = await (await t.api(`/v1/videos/${id}`)).json();
    expect(video).toMatchObject({ title: 'beach day', playbackPolicy: 'signed', status: 'queued' });
  });

  it('refuses an upload larger than the maximum before storing its bytes', async () => {
    const before = fs.readdirSync(path.join(t.dataDir, 'uploads'));
    const res = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(1000001),
    });
    await expectError(res, 413, 'REEL_UPLOAD_TOO_LARGE');
    expect(fs.readdirSync(path.join(t.dataDir, 'uploads')).filter((f) => !before.includes(f))).toEqual([]);
    await expect(tusUpload(t, Buffer.alloc(1_000_001))).rejects.toThrow(/413/);
  });

  it('termination removes an unfinished upload and its video', async () => {
    const res = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(5000, { filename: 'a.mp4' }),
    });
    const location = res.headers.get('location')!;
    const id = location.split('/').pop()!;
    expect((await (await t.api(`/v1/videos/${id}`)).json()).status).toBe('uploading');
    const del = await tusFetch.delete(location, t.auth);
    expect(del.status).toBe(204);
    await waitFor('the video to go', async () => (await t.api(`/v1/videos/${id}`)).status === 404, 5000, 20);
    expect((await t.api(`/v1/videos/${id}`)).status).toBe(404);
  });

  it('hostile and malformed requests get a 4xx with the error body, never a 500', async () => {
    const withTus = tusHeaders.base(t.auth);
    const cases: [string, RequestInit][] = [
      ['/v1/uploads', { method: 'POST', headers: withTus }], // no Upload-Length
      ['/v1/uploads', { method: 'POST', headers: tusHeaders.create('-5', undefined, t.auth) }],
      ['/v1/uploads', { method: 'POST', headers: tusHeaders.create('abc', undefined, t.auth) }],
      [
        '/v1/uploads',
        {
          method: 'POST',
          headers: tusHeaders.create(10, 'filename %%%', t.auth),
        },
      ],
      [
        '/v1/uploads',
        {
          method: 'POST',
          headers: tusHeaders.create(10, { title: 'x'.repeat(5000) }, t.auth),
        },
      ],
      [
        '/v1/uploads',
        {
          method: 'POST',
          headers: tusHeaders.create(10, { title: 'x'.repeat(300) }, t.auth),
        },
      ],
      [
        '/v1/uploads',
        {
          method: 'POST',
          headers: tusHeaders.create(10, { playback_policy: 'everyone' }, t.auth),
        },
      ],
      ['/v1/uploads/doesnotexist', { method: 'HEAD', headers: withTus }],
      [
        '/v1/uploads/doesnotexist',
        {
          method: 'PATCH',
          headers: tusHeaders.patch(0, t.auth),
          body: 'abc',
        },
      ],
      [
        '/v1/uploads/..%2F..%2Freel.lock',
        {
          method: 'PATCH',
          headers: tusHeaders.patch(0, t.auth),
          body: 'abc',
        },
      ],
      ['/v1/uploads/..%2F..%2Freel.lock', { method: 'DELETE', headers: withTus }],
      ['/v1/videos/..%2F..%2Fetc', { headers: t.auth }],
      ['/v1/videos/does-not-exist', { headers: t.auth }],
      ['/v1/videos/does-not-exist', { method: 'DELETE', headers: t.auth }],
      ['/v1/videos/does-not-exist/playback', { headers: t.auth }],
      ['/v1/videos/does-not-exist/retry', { method: 'POST', headers: t.auth }],
      ['/v1/videos?limit=100000', { headers: t.auth }],
      [
        '/v1/keys',
        { method: 'POST', headers: { ...t.auth, 'content-type': 'application/json' }, body: '{not json' },
      ],
      ['/v1/nothing-here', { headers: t.auth }],
    ];
    for (const [p, init] of cases) {
      const res = await fetch(t.url + p, init);
      const label = `${init.method ?? 'GET'} ${p}`;
      expect(res.status, label).toBeGreaterThanOrEqual(400);
      expect(res.status, label).toBeLessThan(500);
      if (init.method !== 'HEAD') {
        const body = await res.json();
        expect(body, label).toMatchObject({ statusCode: res.status });
        expect(body.code, label).toMatch(/^REEL_/);
      }
    }
    // The traversal attempts touched nothing outside the store.
    expect(fs.existsSync(path.join(t.dataDir, 'reel.lock'))).toBe(true);
    expect(fs.readFileSync(path.join(t.dataDir, 'reel.lock'), 'utf8')).toBe(String(process.pid));
  });

  it('a file name with a path keeps only its base name', async () => {
    const res = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(10, { filename: '../../x/evil.mp4' }),
    });
    expect(res.status).toBe(201);
    const id = res.headers.get('location')!.split('/').pop()!;
    const rows = await t.reel.db.query<{ filename: string; title: string }>(
      'SELECT filename, title FROM videos WHERE id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ filename: 'evil.mp4', title: '../../x/evil' });
  });

  it('deleting a video removes its row and objects', async () => {
    const id = await tusUpload(t, Buffer.alloc(2000, 3));
    const dir = path.join(t.dataDir, 'objects', 'sources', id);
    expect(fs.existsSync(dir)).toBe(true);
    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(fs.existsSync(dir)).toBe(false);
    expect((await t.api(`/v1/videos/${id}`)).status).toBe(404);
  });
});

describe('tus expiration', () => {
  let t: TestReel;
  beforeAll(async () => {
    // 0.001 h = 3.6 s
    t = await startTestReel({ roles: 'upload,play', 'upload-expiry-hours': '0.001' });
  });
  afterAll(() => t.close());

  it('an unfinished upload expires: its bytes and its video are removed; a finished one is kept', async () => {
    const res = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(5000),
    });
    expect(res.status).toBe(201);
    expect(new Date(res.headers.get('upload-expires')!).getTime()).toBeGreaterThan(Date.now());
    const location = res.headers.get('location')!;
    const id = location.split('/').pop()!;
    const patch = await tusFetch.patch(location, 0, Buffer.alloc(1000), t.auth);
    expect(patch.status).toBe(204);
    const done = await tusUpload(t, Buffer.alloc(2000, 9));
    await new Promise((r) => setTimeout(r, 4000));
    await t.reel.uploads!.cleanUpExpired();
    expect((await t.api(`/v1/videos/${id}`)).status).toBe(404);
    const head = await tusFetch.head(location, t.auth);
    expect([404, 410]).toContain(head.status);
    expect(fs.existsSync(path.join(t.dataDir, 'uploads', id))).toBe(false);
    expect((await (await t.api(`/v1/videos/${done}`)).json()).status).toBe('queued');
  });
});

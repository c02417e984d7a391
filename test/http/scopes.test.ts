/**
 * Scoped API keys (admin ⊇ write ⊇ read) on every authenticated route: each route group answers a key
 * holding its scope and refuses a narrower one with 403 REEL_SCOPE_DENIED (changing nothing); the keys API
 * creates keys with scopes but never wider than the creator's; /docs names each operation's scope; a
 * revoked key is refused at its next request and its open live feed ends at once, in this process and
 * (NOTIFY on Postgres) in another one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { errors } from '../../src/core/errors.js';
import type { MultipartStorage } from '../../src/core/ports.js';
import { createApiKey, grants, type Scope } from '../../src/db/apiKeys.js';
import { getVideo } from '../../src/db/videos.js';
import { createHttpApp } from '../../src/http/app.js';
import { apiKeyAuth } from '../../src/http/auth.js';
import { KeyRevocations } from '../../src/http/keyRevocations.js';
import { registerMultipart } from '../../src/http/multipart.js';
import { createFsStore } from '../../src/storage/fs.js';
import { pgliteDb, postgresDb, type TestDb } from '../helpers/db.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusHeaders } from '../helpers/tus.js';

const DENIED = errors.scopeDenied.code;
const json = { 'content-type': 'application/json' };
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

interface Key {
  id: string;
  key: string;
  scopes: Scope[];
}

/** POST /v1/keys with the given key; the created key. */
async function createKey(url: string, by: string, body: object): Promise<Key> {
  const res = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { ...bearer(by), ...json },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Key;
}

/** Opens GET /v1/events; resolves when the stream has ended, with everything it sent. */
async function openFeed(url: string, key: string) {
  const res = await fetch(`${url}/v1/events`, { headers: bearer(key) });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return text;
      text += value;
    }
  })();
  // The stream is open on the server once its first bytes arrived.
  await waitFor('the first bytes of the feed', async () => text.length > 0, 5000, 20);
  return { ended, cancel: () => reader.cancel().catch(() => undefined) };
}

/** Resolves with how long `p` took to settle, or rejects after `ms`. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('scopes on every route (one server, PGlite)', () => {
  let t: TestReel;
  const keys = {} as Record<Scope, Key>;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
    keys.admin = { id: 'first', key: t.apiKey, scopes: ['admin'] };
    keys.write = await createKey(t.url, t.apiKey, { name: 'uploader', scopes: ['write'] });
    keys.read = await createKey(t.url, t.apiKey, { name: 'dashboard', scopes: ['read'] });
    await publishFake(t, 'vid_scoped', 'public');
  });
  afterAll(() => t.close());

  it('POST /v1/keys answers the new key with its scopes; GET lists them; admin when none are given', async () => {
    expect(keys.write).toMatchObject({
      id: expect.stringMatching(/^key_/),
      name: 'uploader',
      key: expect.stringMatching(/^reel_/),
      scopes: ['write'],
      createdAt: expect.any(String),
    });
    const both = await createKey(t.url, t.apiKey, { name: 'ci', scopes: ['read', 'write', 'read'] });
    expect(both.scopes).toEqual(['write', 'read']);
    const plain = await createKey(t.url, t.apiKey, { name: 'old-style client' });
    expect(plain.scopes).toEqual(['admin']);
    const list = (await (await t.api('/v1/keys')).json()) as { data: { id: string; scopes: Scope[] }[] };
    const byId = new Map(list.data.map((k) => [k.id, k.scopes]));
    expect(byId.get(keys.read.id)).toEqual(['read']);
    expect(byId.get(both.id)).toEqual(['write', 'read']);
    expect(byId.get(plain.id)).toEqual(['admin']);
    // The key made at first start is an admin.
    expect(list.data.find((k) => k.id !== plain.id && k.scopes.includes('admin'))).toBeDefined();
  });

  it.each([
    [{ scopes: ['superuser'] }],
    [{ scopes: [] }],
    [{ scopes: 'everything' }],
    [{ scopes: ['read', 'write', 'admin', 'read'] }],
    [{ scopes: [null] }],
  ])('POST /v1/keys %j: 400, no key made', async (body) => {
    const before = ((await (await t.api('/v1/keys')).json()) as { data: unknown[] }).data.length;
    const res = await t.api('/v1/keys', { method: 'POST', headers: json, body: JSON.stringify(body) });
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe(errors.invalidRequest.code);
    const after = ((await (await t.api('/v1/keys')).json()) as { data: unknown[] }).data.length;
    expect(after).toBe(before);
  });

  it('a key cannot make a key wider than itself (nor any key below admin): 403, none made', async () => {
    for (const [by, scopes] of [
      ['write', ['admin']],
      ['write', ['write']],
      ['read', ['write']],
      ['read', ['read']],
    ] as const) {
      const res = await fetch(`${t.url}/v1/keys`, {
        method: 'POST',
        headers: { ...bearer(keys[by].key), ...json },
        body: JSON.stringify({ name: `minted by ${by}`, scopes }),
      });
      expect(res.status, `${by} → ${scopes}`).toBe(403);
      expect((await res.json()).code).toBe(DENIED);
    }
    const list = (await (await t.api('/v1/keys')).json()) as { data: { name: string }[] };
    expect(list.data.filter((k) => k.name.startsWith('minted by'))).toEqual([]);
  });

  /** [what, needed scope, the request (with the key's headers), the status a key with the scope gets]. */
  const routes: [string, Scope, (h: Record<string, string>) => Promise<Response>, number][] = [
    ['GET /v1/videos', 'read', (h) => fetch(`${t.url}/v1/videos`, { headers: h }), 200],
    ['GET /v1/videos/{id}', 'read', (h) => fetch(`${t.url}/v1/videos/vid_scoped`, { headers: h }), 200],
    [
      'GET /v1/videos/{id}/playback',
      'read',
      (h) => fetch(`${t.url}/v1/videos/vid_scoped/playback`, { headers: h }),
      200,
    ],
    [
      'PATCH /v1/videos/{id}',
      'write',
      (h) =>
        fetch(`${t.url}/v1/videos/vid_scoped`, {
          method: 'PATCH',
          headers: { ...h, ...json },
          body: JSON.stringify({ externalId: `set-by-${h['x-scope']}` }),
        }),
      200,
    ],
    [
      'DELETE /v1/videos/{id}',
      'write',
      (h) => fetch(`${t.url}/v1/videos/no_such_video`, { method: 'DELETE', headers: h }),
      404,
    ],
    [
      'POST /v1/videos/{id}/retry',
      'write',
      (h) => fetch(`${t.url}/v1/videos/no_such_video/retry`, { method: 'POST', headers: h }),
      404,
    ],
    [
      'tus POST /v1/uploads',
      'write',
      (h) =>
        fetch(`${t.url}/v1/uploads`, {
          method: 'POST',
          headers: tusHeaders.create(10, { filename: 'a.mp4', title: `by ${h['x-scope']}` }, h),
        }),
      201,
    ],
    [
      'tus HEAD /v1/uploads/{id}',
      'write',
      (h) => fetch(`${t.url}/v1/uploads/no_such_upload`, { method: 'HEAD', headers: tusHeaders.base(h) }),
      404,
    ],
    [
      'tus PATCH /v1/uploads/{id}',
      'write',
      (h) =>
        fetch(`${t.url}/v1/uploads/no_such_upload`, {
          method: 'PATCH',
          headers: tusHeaders.patch(0, h),
          body: Buffer.alloc(4),
        }),
      404,
    ],
    [
      'tus DELETE /v1/uploads/{id}',
      'write',
      (h) => fetch(`${t.url}/v1/uploads/no_such_upload`, { method: 'DELETE', headers: tusHeaders.base(h) }),
      404,
    ],
    ['GET /v1/keys', 'admin', (h) => fetch(`${t.url}/v1/keys`, { headers: h }), 200],
    [
      'POST /v1/keys',
      'admin',
      (h) =>
        fetch(`${t.url}/v1/keys`, {
          method: 'POST',
          headers: { ...h, ...json },
          body: JSON.stringify({ name: `matrix ${h['x-scope']}`, scopes: ['read'] }),
        }),
      201,
    ],
    [
      'DELETE /v1/keys/{id}',
      'admin',
      (h) => fetch(`${t.url}/v1/keys/key_missing`, { method: 'DELETE', headers: h }),
      404,
    ],
    ['GET /metrics', 'admin', (h) => fetch(`${t.url}/metrics`, { headers: h }), 200],
  ];

  it.each(routes)('%s needs %s', async (_what, needed, send, okStatus) => {
    for (const held of ['read', 'write', 'admin'] as const) {
      const res = await send({ ...bearer(keys[held].key), 'x-scope': held });
      const text = await res.text();
      if (grants([held], needed)) {
        expect(res.status, `${held} key: ${text}`).toBe(okStatus);
      } else {
        expect(res.status, `${held} key`).toBe(403);
        // (HEAD answers no body.)
        if (text) expect((JSON.parse(text) as { code: string }).code).toBe(DENIED);
      }
    }
  });

  it('a refused key changes nothing: no upload, no update, no key', async () => {
    const video = (await (await t.api('/v1/videos/vid_scoped')).json()) as { externalId: string };
    expect(video.externalId).toBe('set-by-admin'); // the last allowed PATCH, never "set-by-read"
    const list = (await (await t.api('/v1/videos?limit=100')).json()) as { data: { title: string }[] };
    expect(list.data.map((v) => v.title)).not.toContain('by read');
    expect(list.data.map((v) => v.title)).toContain('by write');
    const keyList = (await (await t.api('/v1/keys')).json()) as { data: { name: string }[] };
    expect(keyList.data.map((k) => k.name).filter((n) => n.startsWith('matrix'))).toEqual(['matrix admin']);
  });

  it('GET /v1/events (the live feed) is open to every scope', async () => {
    for (const held of ['read', 'write', 'admin'] as const) {
      const feed = await openFeed(t.url, keys[held].key);
      await feed.cancel();
    }
  });

  it('/docs names the scope of every authenticated operation', async () => {
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { description?: string; security?: unknown[] }>>;
    };
    const unscoped: string[] = [];
    let scoped = 0;
    for (const [url, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!op.security?.length) continue;
        if (/Scope: (admin|write|read)\./.test(op.description ?? '')) scoped++;
        else unscoped.push(`${method.toUpperCase()} ${url}`);
      }
    }
    expect(unscoped).toEqual([]);
    expect(scoped).toBeGreaterThanOrEqual(13);
  });

  it('a revoked key is refused at its next request, and its open live feed ends at once', async () => {
    const dash = await createKey(t.url, t.apiKey, { name: 'revoked dashboard', scopes: ['read'] });
    const feed = await openFeed(t.url, dash.key);
    const other = await openFeed(t.url, keys.read.key);
    const started = Date.now();
    const res = await t.api(`/v1/keys/${dash.id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    // The feed checks its keys only every second as a fallback: "at once" is well under that.
    const sent = await within(700, feed.ended);
    expect(Date.now() - started).toBeLessThan(700);
    expect(sent).toMatch(new RegExp(`event: closed\\ndata: .*${errors.badApiKey.code}`));
    const next = await fetch(`${t.url}/v1/videos`, { headers: bearer(dash.key) });
    expect(next.status).toBe(401);
    expect((await next.json()).code).toBe(errors.badApiKey.code);
    // Another key's feed stays open.
    const still = await Promise.race([other.ended.then(() => 'ended'), sleep(300).then(() => 'open')]);
    expect(still).toBe('open');
    await other.cancel();
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scopes on the direct-upload routes (S3 multipart; storage faked)', () => {
  let db: TestDb;
  let app: FastifyInstance;
  let dir: string;
  const key = {} as Record<Scope, string>;
  // Only starting an upload reaches storage here; anything else would be a failure of the test.
  const multipart = new Proxy({} as MultipartStorage, {
    get: (_t, name) =>
      name === 'create'
        ? async () => 'fake-upload-id'
        : () => Promise.reject(new Error(`storage was asked: ${String(name)}`)),
  });
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-scopes-'));
    db = await pgliteDb();
    const config = loadConfig({ 'data-dir': dir }, {});
    const log = pino({ level: 'silent' });
    app = createHttpApp(log, config);
    registerMultipart(app, {
      db: db.db,
      store: createFsStore(path.join(dir, 'objects')),
      multipart,
      config,
      log,
      requireApiKey: apiKeyAuth(db.db, undefined),
      onQueued: () => {},
    });
    await app.ready();
    for (const s of ['admin', 'write', 'read'] as const) key[s] = (await createApiKey(db.db, s, [s])).secret;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = (scope: Scope, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key[scope]}` },
      ...(payload ? { payload } : {}),
    });

  it.each([
    ['POST', '/v1/uploads/multipart', { size: 10, externalId: 'cms-42' }, 201],
    ['POST', '/v1/uploads/multipart/no_such/parts', { partNumbers: [1] }, 404],
    ['PUT', '/v1/uploads/multipart/no_such/parts/1', { etag: 'e', size: 1 }, 404],
    ['GET', '/v1/uploads/multipart/no_such/parts', undefined, 404],
    ['POST', '/v1/uploads/multipart/no_such/complete', { parts: [{ partNumber: 1, etag: 'e' }] }, 404],
    ['DELETE', '/v1/uploads/multipart/no_such', undefined, 404],
  ] as const)('%s %s needs write', async (method, url, payload, okStatus) => {
    const read = await call('read', method, url, payload);
    expect(read.statusCode).toBe(403);
    expect(read.json().code).toBe(DENIED);
    for (const scope of ['write', 'admin'] as const)
      expect((await call(scope, method, url, payload)).statusCode, scope).toBe(okStatus);
  });

  it('starting a direct upload takes externalId: stored on the video; too long or with a control character (in any text field), 400', async () => {
    const res = await call('write', 'POST', '/v1/uploads/multipart', { size: 10, externalId: 'row-7' });
    expect(res.statusCode).toBe(201);
    const video = await getVideo(db.db, res.json().videoId);
    expect(video?.external_id).toBe('row-7');
    for (const externalId of ['x'.repeat(256), 'a\u0000b', 'tab\there', '']) {
      const bad = await call('write', 'POST', '/v1/uploads/multipart', { size: 10, externalId });
      expect(bad.statusCode, JSON.stringify(externalId)).toBe(400);
      expect(bad.json().code).toBe(errors.invalidRequest.code);
    }
    // The title and file name too, as in tus metadata (Postgres text cannot hold a NUL).
    for (const body of [{ title: 'a\u0000b' }, { filename: 'a\u0007.mp4' }]) {
      const bad = await call('write', 'POST', '/v1/uploads/multipart', { size: 10, ...body });
      expect(bad.statusCode, JSON.stringify(body)).toBe(400);
    }
    // 255 characters (emoji count as one each) is the longest.
    const longest = { size: 10, externalId: '🎬'.repeat(255) };
    expect((await call('write', 'POST', '/v1/uploads/multipart', longest)).statusCode).toBe(201);
  });
});

describe('revocations reach every process (Postgres, LISTEN/NOTIFY)', () => {
  let pg: TestDb;
  let a: TestReel;
  let b: TestReel;
  beforeAll(async () => {
    pg = await postgresDb();
    a = await startTestReel({ roles: 'upload,play', 'database-url': pg.url! });
    b = await startTestReel({ roles: 'upload,play', 'database-url': pg.url! });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.drop();
  });

  it('revoking a key in one process is heard by every other (the NOTIFY of revokeApiKey)', async () => {
    const heard: string[] = [];
    const revocations = new KeyRevocations();
    revocations.on((id) => heard.push(id));
    let connected = false;
    const listener = revocations.listen(pg.url!, pino({ level: 'silent' }));
    try {
      // LISTEN is in place once a notification gets through: revoke keys until one is heard.
      const k = await createKey(a.url, a.apiKey, { name: 'heard', scopes: ['read'] });
      await waitFor('the listener to connect', async () => {
        const probe = await createKey(a.url, a.apiKey, { name: 'probe', scopes: ['read'] });
        await a.api(`/v1/keys/${probe.id}`, { method: 'DELETE' });
        await sleep(100);
        connected = heard.includes(probe.id);
        return connected;
      });
      expect((await a.api(`/v1/keys/${k.id}`, { method: 'DELETE' })).status).toBe(204);
      await waitFor('the revocation to be heard', async () => heard.includes(k.id), 2000, 10);
    } finally {
      await listener.close();
    }
  });

  it("a key revoked through one process: the other process's open feed of it ends at once", async () => {
    const dash = await createKey(a.url, a.apiKey, { name: 'dashboard', scopes: ['read'] });
    const feed = await openFeed(b.url, dash.key);
    const started = Date.now();
    expect((await a.api(`/v1/keys/${dash.id}`, { method: 'DELETE' })).status).toBe(204);
    const sent = await within(700, feed.ended);
    expect(Date.now() - started).toBeLessThan(700);
    expect(sent).toContain('event: closed');
    expect((await fetch(`${b.url}/v1/videos`, { headers: bearer(dash.key) })).status).toBe(401);
  });
});

/**
 * Route validation through app.inject (no socket): ids, query strings and bodies that the route schemas
 * (http/schemas.ts) refuse before a handler runs, the API key checked before anything else, and the one
 * playback rule (authorisePlayback) as /play and the watch page's info both apply it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { insertUploadingVideo } from '../../src/db/videos.js';
import { createHttpApp } from '../../src/http/app.js';
import { apiKeyAuth } from '../../src/http/auth.js';
import { registerPlayback } from '../../src/http/playback.js';
import { openTokenKeys } from '../../src/http/tokenKeyRing.js';
import { registerVideos } from '../../src/http/videos.js';
import { registerWeb } from '../../src/http/web.js';
import { createFsStore } from '../../src/storage/fs.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';

const KEY = 'validation-test-key';
const auth = { authorization: `Bearer ${KEY}` };

let t: TestDb;
let app: FastifyInstance;
let stopKeys: () => void;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-validation-'));
  t = await pgliteDb();
  const config = loadConfig({ 'data-dir': dir }, { REEL_API_KEY: KEY });
  const log = pino({ level: 'silent' });
  const tokenKeys = await openTokenKeys(t.db, config, log);
  stopKeys = () => tokenKeys.stop();
  const store = createFsStore(path.join(dir, 'objects'));
  const requireApiKey = apiKeyAuth(t.db, config.apiKey);
  app = createHttpApp(log, config);
  await registerWeb(app, { db: t.db, config, tokenKeys, requireApiKey });
  registerVideos(app, { db: t.db, store, config, log, tokenKeys, requireApiKey, onQueued: () => {} });
  registerPlayback(app, { db: t.db, store, tokenKeys, config });
  await app.ready();
  await insertUploadingVideo(t.db, {
    id: 'signed_video',
    title: 'Signed',
    filename: 's.mp4',
    playbackPolicy: 'signed',
  });
  await insertUploadingVideo(t.db, {
    id: 'public_video',
    title: 'Public',
    filename: 'p.mp4',
    playbackPolicy: 'public',
  });
});

afterAll(async () => {
  await app?.close();
  stopKeys?.();
  await t?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function call(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  payload?: object,
  headers: Record<string, string> = auth,
) {
  const res = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : {} };
}

describe('ids in paths', () => {
  const tooLong = 'a'.repeat(65);
  it.each([
    ['GET', '/v1/videos/bad.id'],
    ['GET', `/v1/videos/${tooLong}`],
    ['GET', '/v1/videos/b%20d/playback'],
    ['POST', '/v1/videos/x%24y/retry'],
    ['DELETE', '/v1/videos/%C3%A9t%C3%A9'],
    ['DELETE', '/v1/keys/no!pe'],
    ['GET', '/watch/bad.id/public/info'],
  ] as const)('%s %s is refused with 400 REEL_INVALID_REQUEST', async (method, url) => {
    const { status, body } = await call(method, url);
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'REEL_INVALID_REQUEST', statusCode: 400, error: 'Bad Request' });
    expect(body['message']).toMatch(/id/);
  });

  it('is checked by /play too (REEL_INVALID_ID: the wildcard route validates in its handler)', async () => {
    const { status, body } = await call('GET', '/play/bad.id/public/master.m3u8', undefined, {});
    expect(status).toBe(400);
    expect(body['code']).toBe('REEL_INVALID_ID');
  });

  it('a well-formed id that names nothing is 404', async () => {
    expect((await call('GET', '/v1/videos/nothing_here')).body['code']).toBe('REEL_VIDEO_NOT_FOUND');
    expect((await call('DELETE', '/v1/keys/nothing_here')).status).toBe(404);
  });

  it('the API key is checked before the id: no key, 401 whatever the id', async () => {
    const { status, body } = await call('GET', '/v1/videos/bad.id', undefined, {});
    expect(status).toBe(401);
    expect(body['code']).toBe('REEL_MISSING_API_KEY');
  });
});

describe('query strings', () => {
  it.each(['limit=0', 'limit=101', 'limit=ten', `cursor=${'x'.repeat(1601)}`, 'before=yesterday'])(
    'GET /v1/videos?%s is refused with 400 REEL_INVALID_REQUEST',
    async (query) => {
      const { status, body } = await call('GET', `/v1/videos?${query}`);
      expect(status).toBe(400);
      expect(body['code']).toBe('REEL_INVALID_REQUEST');
    },
  );

  it('a cursor this server did not give, or a cursor with before, is REEL_INVALID_CURSOR', async () => {
    expect((await call('GET', '/v1/videos?cursor=abc')).body['code']).toBe('REEL_INVALID_CURSOR');
    const both = await call('GET', '/v1/videos?cursor=abc&before=2026-01-01T00:00:00Z');
    expect(both.body['code']).toBe('REEL_INVALID_CURSOR');
  });

  it('a valid query lists, with the default limit applied', async () => {
    const { status, body } = await call('GET', '/v1/videos?limit=1');
    expect(status).toBe(200);
    expect((body['data'] as unknown[]).length).toBe(1);
    expect(typeof body['nextCursor']).toBe('string');
    const all = await call('GET', '/v1/videos');
    expect((all.body['data'] as { status: string }[]).map((v) => v.status)).toEqual([
      'uploading',
      'uploading',
    ]);
  });
});

describe('bodies', () => {
  it.each([
    ['a name too long', { name: 'n'.repeat(101) }],
    ['a name that is not a string', { name: { first: 'x' } }],
    ['not an object', [1, 2]],
  ])('POST /v1/keys with %s is refused with 400 REEL_INVALID_REQUEST', async (_what, payload) => {
    const { status, body } = await call('POST', '/v1/keys', payload);
    expect(status).toBe(400);
    expect(body['code']).toBe('REEL_INVALID_REQUEST');
  });

  it('a body that is not JSON is refused with a 400 and the error format', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: expect.stringMatching(/^REEL_/) });
  });

  it('a valid body creates a key; an empty one too, with no name', async () => {
    const named = await call('POST', '/v1/keys', { name: 'ci' });
    expect(named.status).toBe(201);
    expect(named.body).toMatchObject({ name: 'ci', key: expect.any(String) });
    const unnamed = await call('POST', '/v1/keys', {});
    expect(unnamed.status).toBe(201);
    expect(unnamed.body['name']).toBe('');
  });

  it('a property the schema does not name is dropped, not refused (Fastify removes additional properties)', async () => {
    const { status, body } = await call('POST', '/v1/keys', { name: 'extra', admin: true });
    expect(status).toBe(201);
    expect(body).toMatchObject({ name: 'extra' });
  });
});

describe('one playback rule for /play and the watch info', () => {
  it('public access to a signed video: 401 REEL_MISSING_TOKEN on both', async () => {
    const play = await call('GET', '/play/signed_video/public/master.m3u8', undefined, {});
    const info = await call('GET', '/watch/signed_video/public/info', undefined, {});
    expect([play.status, play.body['code']]).toEqual([401, 'REEL_MISSING_TOKEN']);
    expect([info.status, info.body['code']]).toEqual([401, 'REEL_MISSING_TOKEN']);
  });

  it('a token that is not one: the same refusal on both', async () => {
    const play = await call('GET', '/play/signed_video/not-a-token/master.m3u8', undefined, {});
    const info = await call('GET', '/watch/signed_video/not-a-token/info', undefined, {});
    expect(play.status).toBe(401);
    expect(info.status).toBe(play.status);
    expect(info.body['code']).toBe(play.body['code']);
  });

  it('public access to a public video: the info answers, /play says not ready yet', async () => {
    const info = await call('GET', '/watch/public_video/public/info', undefined, {});
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({
      id: 'public_video',
      status: 'uploading',
      masterUrl: '/play/public_video/public/master.m3u8',
      posterUrl: null,
      expiresAt: null,
    });
    const play = await call('GET', '/play/public_video/public/master.m3u8', undefined, {});
    expect([play.status, play.body['code']]).toEqual([404, 'REEL_VIDEO_NOT_READY']);
  });
});

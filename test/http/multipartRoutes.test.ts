/**
 * The direct-upload routes' validation through app.inject: ids and bodies the shared schemas
 * (http/schemas.ts) refuse before a handler runs, so storage is never asked (its calls here throw).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { MultipartStorage } from '../../src/core/ports.js';
import { createHttpApp } from '../../src/http/app.js';
import { apiKeyAuth } from '../../src/http/auth.js';
import { registerMultipart } from '../../src/http/multipart.js';
import { createFsStore } from '../../src/storage/fs.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';

const KEY = 'multipart-routes-key';
const headers = { authorization: `Bearer ${KEY}` };
const untouched = new Proxy({} as MultipartStorage, {
  get: (_t, name) => () => Promise.reject(new Error(`storage was asked: ${String(name)}`)),
});

let t: TestDb;
let app: FastifyInstance;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-multipart-routes-'));
  t = await pgliteDb();
  const config = loadConfig({ 'data-dir': dir }, { REEL_API_KEY: KEY });
  const log = pino({ level: 'silent' });
  app = createHttpApp(log, config);
  registerMultipart(app, {
    db: t.db,
    store: createFsStore(path.join(dir, 'objects')),
    multipart: untouched,
    config,
    log,
    requireApiKey: apiKeyAuth(t.db, config.apiKey),
    onQueued: () => {},
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await t?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('direct-upload routes refuse what their schemas do not allow, with 400 REEL_INVALID_REQUEST', () => {
  it.each([
    ['POST', '/v1/uploads/multipart', { size: 10, playbackPolicy: 'everyone' }],
    ['POST', '/v1/uploads/multipart/bad.id/parts', { partNumbers: [1] }],
    ['PUT', '/v1/uploads/multipart/bad.id/parts/1', { etag: 'e', size: 1 }],
    ['GET', '/v1/uploads/multipart/bad.id/parts', undefined],
    ['POST', '/v1/uploads/multipart/bad.id/complete', { parts: [{ partNumber: 1, etag: 'e' }] }],
    ['DELETE', '/v1/uploads/multipart/bad.id', undefined],
  ] as const)('%s %s', async (method, url, payload) => {
    const res = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'REEL_INVALID_REQUEST', statusCode: 400 });
  });

  it('a well-formed id that names no upload of this key is 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/uploads/multipart/nothing_here/parts', headers });
    expect(res.statusCode).toBe(404);
  });
});

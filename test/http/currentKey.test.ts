/**
 * GET /v1/keys/current: every key learns its own id, name and scopes (never a secret, never another key's),
 * whatever id a caller smuggles in; no key, a wrong or a revoked one is refused; the REEL_API_KEY key is
 * "env"; "current" is no key id that DELETE /v1/keys/{id} could revoke. The keys routes on PGlite, by inject.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { errors } from '../../src/core/errors.js';
import { createApiKey } from '../../src/db/apiKeys.js';
import { createHttpApp } from '../../src/http/app.js';
import { apiKeyAuth } from '../../src/http/auth.js';
import { ENV_KEY_NAME, registerCurrentKey } from '../../src/http/currentKey.js';
import { registerKeys } from '../../src/http/keys.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';

const ENV_KEY = 'reel_from_the_environment';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('GET /v1/keys/current', () => {
  let tdb: TestDb;
  let app: FastifyInstance;
  let admin: { id: string; secret: string };
  let reader: { id: string; secret: string };
  let writer: { id: string; secret: string };
  beforeAll(async () => {
    tdb = await pgliteDb();
    const log = pino({ level: 'silent' });
    app = createHttpApp(log, loadConfig({}, {}));
    const requireApiKey = apiKeyAuth(tdb.db, ENV_KEY);
    registerKeys(app, { db: tdb.db, log, requireApiKey });
    registerCurrentKey(app, { db: tdb.db, requireApiKey });
    await app.ready();
    admin = await createApiKey(tdb.db, 'first key', ['admin']);
    reader = await createApiKey(tdb.db, 'dashboard', ['read']);
    writer = await createApiKey(tdb.db, 'ci uploads', ['write', 'read']);
  });
  afterAll(async () => {
    await app?.close();
    await tdb?.drop();
  });

  const current = async (key: string | undefined, query = '') => {
    const res = await app.inject({ url: `/v1/keys/current${query}`, headers: key ? bearer(key) : {} });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  it('answers each key its own id, name and scopes, and nothing secret', async () => {
    for (const [key, expected] of [
      [admin.secret, { id: admin.id, name: 'first key', scopes: ['admin'] }],
      [reader.secret, { id: reader.id, name: 'dashboard', scopes: ['read'] }],
      [writer.secret, { id: writer.id, name: 'ci uploads', scopes: ['write', 'read'] }],
    ] as const) {
      expect(await current(key)).toEqual({ status: 200, body: expected });
    }
  });

  it('another key’s id smuggled in the query string changes nothing', async () => {
    for (const query of [`?id=${writer.id}`, `?keyId=${admin.id}&id[]=x`]) {
      const res = await current(reader.secret, query);
      if (res.status === 200) expect(res.body.id).toBe(reader.id);
      else expect(res.status).toBe(400);
    }
  });

  it('refuses no key, a wrong key, and a revoked key (401)', async () => {
    expect((await current(undefined)).status).toBe(401);
    const wrong = await current('reel_not_a_key');
    expect(wrong).toMatchObject({ status: 401, body: { code: errors.badApiKey.code } });
    const gone = await createApiKey(tdb.db, 'gone', ['read']);
    expect((await current(gone.secret)).status).toBe(200);
    const revoke = await app.inject({
      method: 'DELETE',
      url: `/v1/keys/${gone.id}`,
      headers: bearer(admin.secret),
    });
    expect(revoke.statusCode).toBe(204);
    expect((await current(gone.secret)).status).toBe(401);
  });

  it('"current" is not a key id: DELETE /v1/keys/current revokes nothing', async () => {
    const res = await app.inject({
      method: 'DELETE',
      url: '/v1/keys/current',
      headers: bearer(admin.secret),
    });
    expect(res.statusCode).toBe(404);
    expect((await current(admin.secret)).status).toBe(200);
    expect((await current(reader.secret)).status).toBe(200);
  });

  it('the key from REEL_API_KEY is "env", an admin', async () => {
    expect(await current(ENV_KEY)).toEqual({
      status: 200,
      body: { id: 'env', name: ENV_KEY_NAME, scopes: ['admin'] },
    });
  });
});

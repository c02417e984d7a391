/**
 * GET /v1/keys/current: every key learns its own id, name and scopes (never a secret, never another key's),
 * whatever id a caller smuggles in; no key, a wrong or a revoked one is refused; the REEL_API_KEY key is
 * "env"; "current" is no key id that DELETE /v1/keys/{id} could revoke.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { createApiKey } from '../../src/db/apiKeys.js';
import { createHttpApp } from '../../src/http/app.js';
import { apiKeyAuth } from '../../src/http/auth.js';
import { ENV_KEY_NAME, registerCurrentKey } from '../../src/http/currentKey.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

describe('GET /v1/keys/current', () => {
  let t: TestReel;
  let reader: { id: string; secret: string };
  let writer: { id: string; secret: string };
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload' });
    reader = await createApiKey(t.reel.db, 'dashboard', ['read']);
    writer = await createApiKey(t.reel.db, 'ci uploads', ['write', 'read']);
  });
  afterAll(() => t?.close());

  const current = (key: string, query = '') =>
    fetch(`${t.url}/v1/keys/current${query}`, { headers: bearer(key) });

  it('answers each key its own id, name and scopes, and nothing secret', async () => {
    for (const [key, expected] of [
      [reader.secret, { id: reader.id, name: 'dashboard', scopes: ['read'] }],
      [writer.secret, { id: writer.id, name: 'ci uploads', scopes: ['write', 'read'] }],
    ] as const) {
      const res = await current(key);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toEqual(expected);
    }
    const admin = (await (await t.api('/v1/keys/current')).json()) as { id: string; scopes: string[] };
    expect(admin.scopes).toEqual(['admin']);
    expect(admin.id).toMatch(/^key_/);
  });

  it('another key’s id smuggled in the query string changes nothing', async () => {
    for (const query of [`?id=${writer.id}`, `?keyId=${writer.id}&id[]=x`]) {
      const res = await current(reader.secret, query);
      if (res.status === 200) expect(((await res.json()) as { id: string }).id).toBe(reader.id);
      else expect(res.status).toBe(400);
    }
  });

  it('refuses no key, a wrong key, and a revoked key (401)', async () => {
    expect((await fetch(`${t.url}/v1/keys/current`)).status).toBe(401);
    const wrong = await current('reel_not_a_key');
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { code: string }).code).toBe(errors.badApiKey.code);
    const gone = await createApiKey(t.reel.db, 'gone', ['read']);
    expect((await current(gone.secret)).status).toBe(200);
    expect((await t.api(`/v1/keys/${gone.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await current(gone.secret)).status).toBe(401);
  });

  it('"current" is not a key id: DELETE /v1/keys/current revokes nothing', async () => {
    const res = await fetch(`${t.url}/v1/keys/current`, { method: 'DELETE', headers: bearer(t.apiKey) });
    expect(res.status).toBe(404);
    expect((await current(t.apiKey)).status).toBe(200);
    expect((await current(reader.secret)).status).toBe(200);
  });

  it('the key from REEL_API_KEY is "env", an admin', async () => {
    const app = createHttpApp(pino({ level: 'silent' }), t.reel.config);
    registerCurrentKey(app, {
      db: t.reel.db,
      requireApiKey: apiKeyAuth(t.reel.db, 'reel_from_the_environment'),
    });
    try {
      const res = await app.inject({ url: '/v1/keys/current', headers: bearer('reel_from_the_environment') });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ id: 'env', name: ENV_KEY_NAME, scopes: ['admin'] });
    } finally {
      await app.close();
    }
  });
});

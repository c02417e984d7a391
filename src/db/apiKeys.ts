/** API keys: random secrets shown once, stored as SHA-256 hashes. */
import crypto from 'node:crypto';
import type { Queryable } from '../core/ports.js';

export interface ApiKeyRow {
  id: string;
  name: string;
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

export const hashKey = (secret: string) => crypto.createHash('sha256').update(secret).digest('hex');

export async function createApiKey(db: Queryable, name: string): Promise<{ id: string; secret: string }> {
  const id = `key_${crypto.randomBytes(6).toString('hex')}`;
  const secret = `reel_${crypto.randomBytes(24).toString('base64url')}`;
  await db.query('INSERT INTO api_keys (id, name, hash) VALUES ($1, $2, $3)', [id, name, hashKey(secret)]);
  return { id, secret };
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRow[]> {
  return db.query<ApiKeyRow>(
    'SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id',
  );
}

export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(
    'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
    [id],
  );
  return rows.length > 0;
}

export async function countActiveApiKeys(db: Queryable): Promise<number> {
  const rows = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL',
  );
  return rows[0]?.n ?? 0;
}

/** The id of the active key with this secret, or null. */
export async function findApiKey(db: Queryable, secret: string): Promise<string | null> {
  const rows = await db.query<{ id: string }>(
    'UPDATE api_keys SET last_used_at = now() WHERE hash = $1 AND revoked_at IS NULL RETURNING id',
    [hashKey(secret)],
  );
  return rows[0]?.id ?? null;
}

/** Which of these key ids are still active (neither revoked nor removed). */
export async function activeApiKeyIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  const rows = await db.query<{ id: string }>(
    'SELECT id FROM api_keys WHERE id = ANY($1::text[]) AND revoked_at IS NULL',
    [ids],
  );
  return new Set(rows.map((r) => r.id));
}

/** API keys: random secrets shown once, stored as SHA-256 hashes. */
import crypto from 'node:crypto';
import type { Queryable } from '../core/ports.js';

/** What a key may do. admin ⊇ write ⊇ read: a key holding a wider scope holds the narrower ones. */
export const SCOPES = ['admin', 'write', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** Whether keys with `held` scopes may do what needs `needed`. */
export function grants(held: readonly Scope[], needed: Scope): boolean {
  return held.some((s) => RANK[s] >= RANK[needed]);
}

/** The widest of these scopes (what a key with them can do), or undefined for none. */
export function widest(held: readonly Scope[]): Scope | undefined {
  return [...held].sort((a, b) => RANK[b] - RANK[a])[0];
}

export interface ApiKeyRow {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

export const hashKey = (secret: string) => crypto.createHash('sha256').update(secret).digest('hex');

export async function createApiKey(
  db: Queryable,
  name: string,
  scopes: readonly Scope[] = ['admin'],
): Promise<{ id: string; secret: string; scopes: Scope[]; createdAt: Date }> {
  const id = `key_${crypto.randomBytes(6).toString('hex')}`;
  const secret = `reel_${crypto.randomBytes(24).toString('base64url')}`;
  // Widest first, each once: ['admin'], ['write', 'read'], …
  const unique = SCOPES.filter((s) => scopes.includes(s));
  if (unique.length === 0) throw new Error('an API key needs at least one scope');
  const rows = await db.query<{ created_at: Date | string }>(
    'INSERT INTO api_keys (id, name, hash, scopes) VALUES ($1, $2, $3, $4::text[]) RETURNING created_at',
    [id, name, hashKey(secret), unique],
  );
  return { id, secret, scopes: unique, createdAt: new Date(rows[0]!.created_at) };
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRow[]> {
  return db.query<ApiKeyRow>(
    'SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id',
  );
}

/** The channel revokeApiKey notifies with the key's id (http/keyRevocations.ts listens). */
export const API_KEYS_CHANNEL = 'reel_api_keys';

/** Revokes an active key and, on commit, notifies API_KEYS_CHANNEL; false when none is active with this id. */
export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(
    `WITH revoked AS (
       UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id)
     SELECT id, pg_notify($2, id) FROM revoked`,
    [id, API_KEYS_CHANNEL],
  );
  return rows.length > 0;
}

export async function countActiveApiKeys(db: Queryable): Promise<number> {
  const rows = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL',
  );
  return rows[0]?.n ?? 0;
}

/** The active key with this secret (its id and scopes), or null. */
export async function findApiKey(
  db: Queryable,
  secret: string,
): Promise<{ id: string; scopes: Scope[] } | null> {
  const rows = await db.query<{ id: string; scopes: Scope[] }>(
    'UPDATE api_keys SET last_used_at = now() WHERE hash = $1 AND revoked_at IS NULL RETURNING id, scopes',
    [hashKey(secret)],
  );
  return rows[0] ?? null;
}

/** Which of these key ids are still active (neither revoked nor removed). */
export async function activeApiKeyIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  const rows = await db.query<{ id: string }>(
    'SELECT id FROM api_keys WHERE id = ANY($1::text[]) AND revoked_at IS NULL',
    [ids],
  );
  return new Set(rows.map((r) => r.id));
}

/** One key by id (revoked ones too), never its secret; null when there is none. */
export async function getApiKey(db: Queryable, id: string): Promise<ApiKeyRow | null> {
  const rows = await db.query<ApiKeyRow>(
    'SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_keys WHERE id = $1',
    [id],
  );
  return rows[0] ?? null;
}

/**
 * HMAC keys that sign playback tokens; each token names its key (kid), so keys can rotate. The newest active
 * key signs; older active keys only verify the tokens they signed. A retired key verifies nothing: its
 * secret is erased and only its kid and dates are kept.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../core/ports.js';

export interface SigningKey {
  kid: string;
  secret: Buffer;
}

interface Row {
  kid: string;
  secret: string;
  retired_at: Date | string | null;
}

const ACTIVE =
  'SELECT kid, secret, retired_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC';

/** All usable keys, newest first; creates the first one when there is none. */
export async function loadSigningKeys(db: Queryable): Promise<SigningKey[]> {
  let rows = await db.query<Row>(ACTIVE);
  if (rows.length === 0) {
    await rotateSigningKey(db);
    rows = await db.query<Row>(ACTIVE);
  }
  return rows.map((r) => ({ kid: r.kid, secret: Buffer.from(r.secret, 'base64url') }));
}

/** Adds a new newest key; older keys keep verifying the tokens they signed until retired. */
export async function rotateSigningKey(db: Queryable): Promise<string> {
  const kid = `k${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
  await db.query('INSERT INTO signing_keys (kid, secret) VALUES ($1, $2)', [
    kid,
    crypto.randomBytes(32).toString('base64url'),
  ]);
  return kid;
}

export interface SigningKeyInfo {
  kid: string;
  createdAt: Date;
  retiredAt: Date | null;
  /** When a newer key was created (this one stopped signing then); null for the newest key. */
  supersededAt: Date | null;
}

/** Every key, retired ones too, newest first; never a secret. */
export async function listSigningKeys(db: Queryable): Promise<SigningKeyInfo[]> {
  const rows = await db.query<{
    kid: string;
    created_at: Date | string;
    retired_at: Date | string | null;
    superseded_at: Date | string | null;
  }>(
    `SELECT k.kid, k.created_at, k.retired_at,
            (SELECT min(n.created_at) FROM signing_keys n WHERE n.created_at > k.created_at) AS superseded_at
       FROM signing_keys k ORDER BY k.created_at DESC, k.kid DESC`,
  );
  const date = (d: Date | string | null) => (d === null ? null : new Date(d));
  return rows.map((r) => ({
    kid: r.kid,
    createdAt: new Date(r.created_at),
    retiredAt: date(r.retired_at),
    supersededAt: date(r.superseded_at),
  }));
}

/**
 * Retires one key now (its tokens stop verifying once processes reload their keys). Never the newest key:
 * something must sign. False when there is no such active, superseded key.
 */
export async function retireSigningKey(db: Queryable, kid: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE signing_keys k SET retired_at = now(), secret = ''
      WHERE k.kid = $1 AND k.retired_at IS NULL
        AND EXISTS (SELECT 1 FROM signing_keys n WHERE n.created_at > k.created_at)
      RETURNING k.kid`,
    [kid],
  );
  return rows.length > 0;
}

/** Retires every key superseded more than `afterSeconds` ago (no token it signed can still be valid). */
export async function retireSupersededSigningKeys(db: Queryable, afterSeconds: number): Promise<string[]> {
  const rows = await db.query<{ kid: string }>(
    `UPDATE signing_keys k SET retired_at = now(), secret = ''
      WHERE k.retired_at IS NULL
        AND EXISTS (SELECT 1 FROM signing_keys n
                     WHERE n.created_at > k.created_at AND n.created_at < now() - make_interval(secs => $1))
      RETURNING k.kid`,
    [afterSeconds],
  );
  return rows.map((r) => r.kid);
}

/** The longest video's duration (ms): a session token lasts up to a multiple of it (playbackSession.ts). */
export async function longestVideoMs(db: Queryable): Promise<number> {
  const rows = await db.query<{ ms: number | string | null }>('SELECT max(duration_ms) AS ms FROM videos');
  return Number(rows[0]?.ms ?? 0);
}

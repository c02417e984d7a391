/** HMAC keys that sign playback tokens; each token names its key (kid), so keys can rotate. */
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

/** All usable keys, newest first; creates the first one when there is none. */
export async function loadSigningKeys(db: Queryable): Promise<SigningKey[]> {
  let rows = await db.query<Row>(
    'SELECT kid, secret, retired_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC',
  );
  if (rows.length === 0) {
    await rotateSigningKey(db);
    rows = await db.query<Row>(
      'SELECT kid, secret, retired_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC',
    );
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

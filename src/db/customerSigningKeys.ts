/**
 * Customer signing keys (POST /v1/signing-keys): RS256 key pairs whose private half only the API user
 * holds; they sign their own playback tokens with it (header `kid` = the key's id). Reel stores the public
 * key (SPKI PEM) and never the private one. Not Reel's own HS256 token keys (signingKeys.ts).
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type { Db, Queryable } from '../core/ports.js';

/** Live keys at once, across every API key: enough for rotation and a few environments. */
export const MAX_CUSTOMER_SIGNING_KEYS = 50;

/** Every customer key id starts so; Reel's own kids never do (they are `k…`). */
export const CUSTOMER_KEY_PREFIX = 'pk_';

export interface CustomerSigningKey {
  id: string;
  /** SPKI PEM. */
  publicKey: string;
  createdAt: Date;
  /** The API key that created it ("env" for REEL_API_KEY); null if unknown. */
  createdBy: string | null;
}

interface Row {
  id: string;
  public_key: string;
  created_at: Date | string;
  created_by: string | null;
}

const toKey = (r: Row): CustomerSigningKey => ({
  id: r.id,
  publicKey: r.public_key,
  createdAt: new Date(r.created_at),
  createdBy: r.created_by,
});

const generateKeyPair = promisify(crypto.generateKeyPair);

/**
 * Makes an RSA 2048 key pair and stores its public half, unless MAX_CUSTOMER_SIGNING_KEYS are live
 * already (then null). The private key (PKCS#8 PEM) is in the answer only.
 */
export async function createCustomerSigningKey(
  db: Db,
  createdBy: string | undefined,
): Promise<(CustomerSigningKey & { privateKey: string }) | null> {
  const { publicKey, privateKey } = await generateKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const id = `${CUSTOMER_KEY_PREFIX}${crypto.randomBytes(12).toString('hex')}`;
  const row = await db.transaction(async (tx) => {
    // Writers one at a time, so that two creations at once cannot both pass the bound; readers go on.
    await tx.query('LOCK TABLE customer_signing_keys IN EXCLUSIVE MODE');
    const rows = await tx.query<Row>(
      `INSERT INTO customer_signing_keys (id, public_key, created_by)
       SELECT $1, $2, $3
        WHERE (SELECT count(*) FROM customer_signing_keys WHERE deleted_at IS NULL) < $4
       RETURNING id, public_key, created_at, created_by`,
      [id, publicKey, createdBy ?? null, MAX_CUSTOMER_SIGNING_KEYS],
    );
    return rows[0];
  });
  return row ? { ...toKey(row), privateKey } : null;
}

/** The live keys, newest first. */
export async function listCustomerSigningKeys(db: Queryable): Promise<CustomerSigningKey[]> {
  const rows = await db.query<Row>(
    `SELECT id, public_key, created_at, created_by FROM customer_signing_keys
      WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC`,
  );
  return rows.map(toKey);
}

/** Whether this key is live (not deleted) now. */
export async function isCustomerSigningKeyLive(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM customer_signing_keys WHERE id = $1 AND deleted_at IS NULL', [
    id,
  ]);
  return rows.length > 0;
}

/** Deletes a live key (its tokens stop verifying); false when there is no such live key. */
export async function deleteCustomerSigningKey(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE customer_signing_keys SET deleted_at = now(), public_key = ''
      WHERE id = $1 AND deleted_at IS NULL RETURNING id`,
    [id],
  );
  return rows.length > 0;
}

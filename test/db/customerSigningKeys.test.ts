/**
 * The bound on live customer signing keys holds when creations race, on the real Postgres and on PGlite;
 * a deleted key keeps its id but not its public key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCustomerSigningKey,
  deleteCustomerSigningKey,
  isCustomerSigningKeyLive,
  listCustomerSigningKeys,
  MAX_CUSTOMER_SIGNING_KEYS,
} from '../../src/db/customerSigningKeys.js';
import { pgliteDb, postgresDb, type TestDb } from '../helpers/db.js';

describe.each([
  ['Postgres', postgresDb],
  ['PGlite', pgliteDb],
])('customer signing keys on %s', (_name, open) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await open();
  });
  afterAll(() => t?.drop());

  it('creations racing for the last slots never pass the bound; a deleted key is gone from use', async () => {
    for (let i = 0; i < MAX_CUSTOMER_SIGNING_KEYS - 2; i++) {
      await t.db.query(`INSERT INTO customer_signing_keys (id, public_key) VALUES ($1, 'x')`, [`pk_f${i}`]);
    }
    const made = await Promise.all([1, 2, 3, 4].map(() => createCustomerSigningKey(t.db, 'key_test')));
    expect(made.filter((k) => k !== null)).toHaveLength(2);
    const live = await listCustomerSigningKeys(t.db);
    expect(live).toHaveLength(MAX_CUSTOMER_SIGNING_KEYS);

    const key = made.find((k) => k !== null)!;
    expect(live.find((k) => k.id === key.id)).toMatchObject({
      createdBy: 'key_test',
      publicKey: key.publicKey,
    });
    expect(await isCustomerSigningKeyLive(t.db, key.id)).toBe(true);
    expect(await deleteCustomerSigningKey(t.db, key.id)).toBe(true);
    expect(await deleteCustomerSigningKey(t.db, key.id)).toBe(false);
    expect(await isCustomerSigningKeyLive(t.db, key.id)).toBe(false);
    const [row] = await t.db.query<{ public_key: string; deleted_at: Date | null }>(
      'SELECT public_key, deleted_at FROM customer_signing_keys WHERE id = $1',
      [key.id],
    );
    expect(row).toMatchObject({ public_key: '', deleted_at: expect.any(Date) });
    expect(await createCustomerSigningKey(t.db, undefined)).not.toBeNull(); // the slot is free again
  });
});

/** `reel keys create|list|revoke`: manage API keys in the configured database. */
import type { Config } from '../config.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../db/apiKeys.js';
import { openStorage } from '../server.js';

export async function keysCommand(config: Config, args: string[], name: string | undefined): Promise<string> {
  const [sub, id] = args;
  const { db, unlock } = await openStorage(config);
  try {
    switch (sub) {
      case 'create': {
        const key = await createApiKey(db, name ?? '');
        return `${key.secret}\n(id ${key.id}; this key is shown once: store it now)`;
      }
      case 'list': {
        const rows = await listApiKeys(db);
        if (rows.length === 0) return 'no API keys';
        return rows
          .map((k) =>
            [
              k.id,
              k.revoked_at ? 'revoked' : 'active ',
              new Date(k.created_at).toISOString(),
              k.last_used_at ? `last used ${new Date(k.last_used_at).toISOString()}` : 'never used',
              k.name,
            ].join('  '),
          )
          .join('\n');
      }
      case 'revoke': {
        if (!id) throw new Error('usage: reel keys revoke KEY_ID');
        if (!(await revokeApiKey(db, id))) throw new Error(`no active API key with id ${id}`);
        return `revoked ${id}`;
      }
      default:
        throw new Error('usage: reel keys create [--name NAME] | list | revoke KEY_ID');
    }
  } finally {
    await db.close();
    unlock();
  }
}

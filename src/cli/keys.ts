/**
 * `reel keys create|list|revoke`: manage API keys in the configured database.
 * `reel keys rotate-signing|list-signing|retire-signing`: the keys that sign playback tokens.
 */
import type { Config } from '../config.js';
import { errors } from '../core/errors.js';
import { createApiKey, listApiKeys, revokeApiKey, SCOPES, type Scope } from '../db/apiKeys.js';
import {
  listSigningKeys,
  longestVideoMs,
  retireSigningKey,
  rotateSigningKey,
  type SigningKeyInfo,
} from '../db/signingKeys.js';
import { signingKeyRetireAfterSeconds } from '../http/playbackSession.js';
import { openStorage } from '../server.js';

export interface KeysOptions {
  name?: string;
  /** create: a comma list of scopes (admin, write, read); admin when left out. */
  scopes?: string;
  /** retire-signing: retire even though tokens the key signed may still be valid. */
  force?: boolean;
}

const USAGE =
  'usage: reel keys create [--name NAME] [--scopes admin|write|read,…] | list | revoke KEY_ID | rotate-signing | list-signing | retire-signing KID [--force]';

export async function keysCommand(
  config: Config,
  args: string[],
  options: KeysOptions = {},
): Promise<string> {
  const [sub, id] = args;
  const { name } = options;
  // Checked before the database is opened.
  const scopes = sub === 'create' ? parseScopes(options.scopes) : undefined;
  const { db, unlock } = await openStorage(config);
  try {
    switch (sub) {
      case 'create': {
        const key = await createApiKey(db, name ?? '', scopes);
        return `${key.secret}\n(id ${key.id}, scopes ${key.scopes.join(',')}; this key is shown once: store it now)`;
      }
      case 'list': {
        const rows = await listApiKeys(db);
        if (rows.length === 0) return 'no API keys';
        return rows
          .map((k) =>
            [
              k.id,
              k.revoked_at ? 'revoked' : 'active ',
              k.scopes.join(',').padEnd(16),
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
      case 'rotate-signing': {
        const before = (await listSigningKeys(db)).filter((k) => !k.retiredAt);
        const kid = await rotateSigningKey(db);
        const after = await retirementTimes(db, config);
        const lines = [
          `new signing key ${kid}: running processes sign with it within ${config.signingKeyRefreshSeconds} s (REEL_SIGNING_KEY_REFRESH_SECONDS)`,
        ];
        for (const k of before) {
          lines.push(
            `${k.kid} still verifies the tokens it signed; it is retired by itself after ${iso(after(k))}, when none of them can still be valid`,
          );
        }
        return lines.join('\n');
      }
      case 'list-signing': {
        const keys = await listSigningKeys(db);
        const after = await retirementTimes(db, config);
        return keys
          .map((k, i) =>
            [
              k.kid,
              k.retiredAt ? 'retired  ' : i === 0 ? 'signing  ' : 'verifying',
              `created ${iso(k.createdAt)}`,
              k.retiredAt
                ? `retired ${iso(k.retiredAt)}`
                : k.supersededAt
                  ? `retired by itself after ${iso(after(k))}`
                  : '',
            ]
              .join('  ')
              .trimEnd(),
          )
          .join('\n');
      }
      case 'retire-signing': {
        if (!id) throw new Error('usage: reel keys retire-signing KID [--force]');
        const key = (await listSigningKeys(db)).find((k) => k.kid === id && !k.retiredAt);
        if (!key) throw errors.signingKeyNotFound(id);
        if (!key.supersededAt) throw errors.signingKeyInUse(id);
        const until = (await retirementTimes(db, config))(key);
        if (until.getTime() > Date.now() && !options.force)
          throw errors.signingKeyStillVerifying(id, iso(until));
        if (!(await retireSigningKey(db, id))) throw errors.signingKeyNotFound(id);
        return `retired ${id}: its secret is erased; running processes refuse its tokens within ${config.signingKeyRefreshSeconds} s`;
      }
      default:
        throw new Error(USAGE);
    }
  } finally {
    await db.close();
    unlock();
  }
}

/** `--scopes read,write` → ['read', 'write']; admin when left out; anything else is refused. */
function parseScopes(list: string | undefined): Scope[] {
  if (list === undefined) return ['admin'];
  const scopes = list.split(',').map((s) => s.trim());
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0 || scopes.length === 0)
    throw new Error(`--scopes takes a comma list of ${SCOPES.join(', ')}; got "${list}"`);
  return scopes as Scope[];
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** When each superseded key can no longer have signed a valid token (the database's longest video decides). */
async function retirementTimes(
  db: Parameters<typeof longestVideoMs>[0],
  config: Config,
): Promise<(k: SigningKeyInfo) => Date> {
  const seconds = signingKeyRetireAfterSeconds(await longestVideoMs(db), config);
  return (k) => new Date((k.supersededAt ?? new Date()).getTime() + seconds * 1000);
}

/**
 * The signing keys one process holds: loaded from the database (the signing_keys table), reloaded every
 * REEL_SIGNING_KEY_REFRESH_SECONDS so that a process signs with the newest key soon after another process
 * rotated and stops accepting a retired key's tokens; and on each reload, keys superseded long enough ago
 * that no token they signed can still be valid are retired (their secrets erased).
 */
import type { Logger } from 'pino';
import type { AccessConfig } from '../config.js';
import type { Db } from '../core/ports.js';
import {
  loadSigningKeys,
  longestVideoMs,
  retireSupersededSigningKeys,
  type SigningKey,
} from '../db/signingKeys.js';
import { openCustomerKeys } from './customerKeyRing.js';
import { signingKeyRetireAfterSeconds } from './playbackSession.js';
import type { TokenKeys } from './tokens.js';

type Settings = AccessConfig;

/** Retires the keys no valid token can name any more; returns their kids. */
export async function retireOutlivedSigningKeys(db: Db, settings: Settings): Promise<string[]> {
  return retireSupersededSigningKeys(db, signingKeyRetireAfterSeconds(await longestVideoMs(db), settings));
}

export async function openTokenKeys(
  db: Db,
  settings: Settings,
  log: Logger,
): Promise<TokenKeys & { stop(): void }> {
  let keys: SigningKey[] = [];
  const refresh = async () => {
    keys = await loadSigningKeys(db);
  };
  const reload = async () => {
    const retired = await retireOutlivedSigningKeys(db, settings);
    if (retired.length > 0) {
      log.info({ kids: retired }, 'retired signing keys: no token they signed can still be valid');
    }
    await refresh();
  };
  await reload();
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reload()
      .catch((err) => log.warn({ err }, 'reloading the signing keys failed; the ones loaded stay in use'))
      .finally(() => {
        running = false;
      });
  }, settings.signingKeyRefreshSeconds * 1000);
  timer.unref();
  const customer = await openCustomerKeys(db, settings, log);
  return {
    current: () => keys,
    refresh,
    customer,
    stop: () => {
      clearInterval(timer);
      customer.stop();
    },
  };
}

/**
 * The customer signing keys one process knows (POST /v1/signing-keys), for verifying the playback tokens
 * API users sign themselves. The live public keys are cached and reloaded every
 * REEL_SIGNING_KEY_REFRESH_SECONDS; a token naming a key this process does not know waits for a reload,
 * and there is at most one reload a second, so a flood of made-up kids costs the database one query a
 * second. Starting a playback (a master playlist, the watch page's info) also asks the database whether
 * the key is still live, so a DELETE stops new playbacks on every process at once.
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Queryable } from '../core/ports.js';
import { isCustomerSigningKeyLive, listCustomerSigningKeys } from '../db/customerSigningKeys.js';

export interface CustomerKeys {
  /** The public key of a live customer key, or undefined (after at most one reload, ≤ 1 s away). */
  find(kid: string): Promise<KeyObject | undefined>;
  /** Asks the database: is this key live now? */
  isLive(kid: string): Promise<boolean>;
  /** Adds a key to this process's cache at once (it was created here). */
  remember(kid: string, publicKeyPem: string): void;
  /** Drops a key from this process's cache at once (it was deleted here). */
  forget(kid: string): void;
}

/** Reloads triggered by unknown kids happen at most this often. */
export const UNKNOWN_KID_RELOAD_MS = 1000;

export interface CustomerKeySettings {
  signingKeyRefreshSeconds: number;
}

export async function openCustomerKeys(
  db: Queryable,
  settings: CustomerKeySettings,
  log: Logger,
): Promise<CustomerKeys & { stop(): void }> {
  let keys = new Map<string, KeyObject>();
  let loadedAt = 0;
  let loading: Promise<void> | undefined;

  const load = async () => {
    const rows = await listCustomerSigningKeys(db);
    const next = new Map<string, KeyObject>();
    for (const r of rows) {
      const known = keys.get(r.id);
      try {
        next.set(r.id, known ?? crypto.createPublicKey(r.publicKey));
      } catch (err) {
        log.warn({ err, kid: r.id }, 'a customer signing key does not parse; its tokens are refused');
      }
    }
    keys = next;
  };
  /** One reload at a time; one starts no sooner than UNKNOWN_KID_RELOAD_MS after the last one started. */
  const reload = (): Promise<void> => {
    if (loading) return loading;
    const wait = Math.max(0, loadedAt + UNKNOWN_KID_RELOAD_MS - Date.now());
    loading = (async () => {
      try {
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        loadedAt = Date.now();
        await load();
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };

  await reload();
  const timer = setInterval(() => {
    reload().catch((err) =>
      log.warn({ err }, 'reloading the customer signing keys failed; the ones loaded stay in use'),
    );
  }, settings.signingKeyRefreshSeconds * 1000);
  timer.unref();

  return {
    async find(kid) {
      const known = keys.get(kid);
      if (known) return known;
      await reload();
      return keys.get(kid);
    },
    isLive: (kid) => isCustomerSigningKeyLive(db, kid),
    remember(kid, publicKeyPem) {
      keys.set(kid, crypto.createPublicKey(publicKeyPem));
    },
    forget(kid) {
      keys.delete(kid);
    },
    stop: () => clearInterval(timer),
  };
}

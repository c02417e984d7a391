/**
 * Revocations of API keys, told at once to what holds something open for a key: the live feed closes the
 * key's streams (events.ts). The revoke route tells this process's listeners directly; revokeApiKey also
 * sends a NOTIFY on API_KEYS_CHANNEL, so that on Postgres every other process (and `reel keys revoke`)
 * reaches its listeners through `listen`. A notification lost while a connection was down is caught up
 * by the live feed's own look at its keys every tick.
 */
import type { Logger } from 'pino';
import { API_KEYS_CHANNEL } from '../db/apiKeys.js';
import { type ChannelListener, listenOnChannel } from '../db/listen.js';

export type RevocationListener = (keyId: string) => void;

export class KeyRevocations {
  private readonly listeners = new Set<RevocationListener>();

  /** Calls `fn` with the id of each key revoked from now on; returns the unsubscribe function. */
  on(fn: RevocationListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** This key was revoked: tell every listener (one that throws does not keep the others from hearing). */
  revoked(keyId: string): void {
    for (const fn of this.listeners) {
      try {
        fn(keyId);
      } catch {
        // The live feed's look at its keys every tick still closes what this listener held.
      }
    }
  }

  /** Postgres: hear the revocations of every process (LISTEN on API_KEYS_CHANNEL). */
  listen(url: string, log: Logger): ChannelListener {
    return listenOnChannel(
      url,
      API_KEYS_CHANNEL,
      { onNotify: (keyId) => keyId && this.revoked(keyId), label: 'API key revocations' },
      log,
    );
  }
}

/**
 * Verified playback tokens, remembered (bounded), so that a viewer's hundreds of requests for one playback
 * cost one signature check. Only tokens that passed verifyPlaybackToken are kept, under the whole token
 * string; a hit re-applies every rule that can change with time or with the request:
 *
 * - the token names this video (else 403, as a miss would answer);
 * - it has not expired (customer tokens: with the same clock tolerance as jose);
 * - a session token does not start a playback; a customer token that starts one is checked live in the
 *   database as before (tokens.ts), so a deleted customer key stops new playbacks at once;
 * - the key that signed it is still one this process verifies with (a retired Reel key, a deleted customer
 *   key as this process knows it): else the token is verified again from scratch.
 *
 * An entry is also dropped after MAX_AGE_MS whatever happens, as a bound on anything this list missed.
 */
import { errors } from '../core/errors.js';
import {
  CUSTOMER_CLOCK_TOLERANCE_SECONDS,
  type PlaybackGrant,
  type TokenKeys,
  verifyPlaybackToken,
} from './tokens.js';

interface Entry {
  videoId: string;
  grant: PlaybackGrant;
  /** The signing key's id (Reel's `kid`, or the customer key). */
  kid: string;
  /** Unix ms after which the token no longer verifies. */
  expiresAtMs: number;
  /** Unix ms after which the entry is dropped anyway. */
  dropAtMs: number;
}

/** How many tokens are remembered (a few hundred bytes each). */
export const TOKENS_KEPT = 20_000;
const MAX_AGE_MS = 60_000;

export class VerifiedTokens {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly keys: TokenKeys,
    private readonly max = TOKENS_KEPT,
  ) {}

  /** As verifyPlaybackToken (same answers, same errors), with the signature checked once per token. */
  async verify(token: string, videoId: string, purpose: 'start' | 'media'): Promise<PlaybackGrant> {
    const now = Date.now();
    const hit = this.entries.get(token);
    if (hit && now < hit.dropAtMs && (await this.keyStillHeld(hit))) {
      // In jose's order: expiry before the subject.
      if (now >= hit.expiresAtMs) {
        this.entries.delete(token);
        throw errors.expiredToken();
      }
      if (hit.videoId !== videoId) throw errors.tokenForOtherVideo();
      if (purpose === 'start') {
        if (hit.grant.kind === 'session') throw errors.sessionTokenCannotStart();
        const customer = hit.grant.customerKeyId;
        if (customer && !(await this.keys.customer!.isLive(customer))) {
          this.keys.customer!.forget(customer);
          this.entries.delete(token);
          throw errors.invalidToken();
        }
      }
      return hit.grant;
    }
    if (hit) this.entries.delete(token);
    const grant = await verifyPlaybackToken(this.keys, token, videoId, purpose);
    this.remember(token, videoId, grant, now);
    return grant;
  }

  /**
   * The grant of a kept token for a request of a playback under way (not a master), when everything can
   * be told without waiting: kept, for this video, not expired, its Reel key still held. Anything else
   * (customer tokens included) is undefined, and `verify` decides.
   */
  peekMedia(token: string, videoId: string): PlaybackGrant | undefined {
    const e = this.entries.get(token);
    const now = Date.now();
    if (!e || e.videoId !== videoId || now >= e.expiresAtMs || now >= e.dropAtMs) return undefined;
    if (e.grant.customerKeyId || !this.keys.current().some((k) => k.kid === e.kid)) return undefined;
    return e.grant;
  }

  /** Forgets every token (the signing keys changed). */
  clear(): void {
    this.entries.clear();
  }

  private async keyStillHeld(e: Entry): Promise<boolean> {
    if (e.grant.customerKeyId) return (await this.keys.customer?.find(e.kid)) !== undefined;
    return this.keys.current().some((k) => k.kid === e.kid);
  }

  private remember(token: string, videoId: string, grant: PlaybackGrant, now: number): void {
    const kid = grant.customerKeyId ?? kidOf(token);
    if (!kid) return;
    const tolerance = grant.customerKeyId ? CUSTOMER_CLOCK_TOLERANCE_SECONDS : 0;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, {
      videoId,
      grant,
      kid,
      expiresAtMs: (grant.exp + tolerance) * 1000,
      dropAtMs: now + MAX_AGE_MS,
    });
  }
}

/** The `kid` of a token that verified (its header is well-formed JSON by then). */
function kidOf(token: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString());
    return typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

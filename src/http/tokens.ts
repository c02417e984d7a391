/**
 * Playback tokens: HS256 JWTs with `sub` = video id, `exp`, and `kid` naming the signing key. They travel
 * in the path (/play/{videoId}/{token}/master.m3u8), so every relative URI in the playlists inherits them.
 *
 * Two kinds: a playback token (from GET /v1/videos/{id}/playback) may START playback until it expires; a
 * session token (claim `scope: "session"`, minted when a master playlist is served, see playbackSession.ts)
 * carries that playback to its end but cannot fetch a master playlist, so it cannot start one.
 *
 * A third kind is signed by API users themselves (customer signing keys, POST /v1/signing-keys): RS256,
 * header `kid` = the key's id (`pk_…`), claims `sub` and `exp`. It is a playback token (it starts
 * playbacks; any `scope` claim is ignored) and obeys the same 401/403 rules.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { errors } from '../core/errors.js';
import { CUSTOMER_KEY_PREFIX } from '../db/customerSigningKeys.js';
import type { SigningKey } from '../db/signingKeys.js';
import type { CustomerKeys } from './customerKeyRing.js';

export interface TokenKeys {
  /** Newest first: the first key signs. */
  current(): SigningKey[];
  /** Called when a token names a key this process does not know yet (another process rotated). */
  refresh(): Promise<void>;
  /** The customer signing keys, for the tokens API users sign (absent: such tokens are refused). */
  customer?: CustomerKeys;
}

const SESSION_SCOPE = 'session';

async function sign(
  keys: TokenKeys,
  videoId: string,
  exp: number,
  claims: Record<string, string>,
): Promise<string> {
  const key = keys.current()[0];
  if (!key) throw errors.noSigningKey();
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: key.kid })
    .setSubject(videoId)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(key.secret);
}

export async function signPlaybackToken(
  keys: TokenKeys,
  videoId: string,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: Date }> {
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  return { token: await sign(keys, videoId, exp, {}), expiresAt: new Date(exp * 1000) };
}

/** A session token for one playback of `videoId`, valid until `exp` (Unix seconds). */
export function signSessionToken(keys: TokenKeys, videoId: string, exp: number): Promise<string> {
  return sign(keys, videoId, exp, { scope: SESSION_SCOPE });
}

export interface PlaybackGrant {
  /** "start": a playback token; "session": a playback under way. */
  kind: 'start' | 'session';
  /** Expiry, Unix seconds. */
  exp: number;
  /**
   * Set when the token was signed with a customer signing key: the session a master starts then is not
   * widened to the token's own expiry beyond Reel's token lifetime (a customer token may be valid for
   * years; its sessions must not outlive the key's deletion by more than a playback needs).
   */
  customerKeyId?: string;
}

/** Customer tokens are signed on other machines: their clocks may be a little off ours (exp, nbf). */
export const CUSTOMER_CLOCK_TOLERANCE_SECONDS = 30;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Throws the catalogue's 401/403 errors unless the token is valid for this video now, and, when `purpose`
 * is "start" (a master playlist, the watch page), unless it is a playback token rather than a session's.
 */
export async function verifyPlaybackToken(
  keys: TokenKeys,
  token: string,
  videoId: string,
  purpose: 'start' | 'media',
): Promise<PlaybackGrant> {
  if (!JWT_SHAPE.test(token) || token.length > 2048) throw errors.malformedToken();
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw errors.malformedToken();
  }
  if (typeof kid === 'string' && kid.startsWith(CUSTOMER_KEY_PREFIX)) {
    return verifyCustomerToken(keys.customer, token, kid, videoId, purpose);
  }
  const find = (kid: unknown) => keys.current().find((k) => k.kid === kid);
  let payload: { sub?: string; exp?: number; scope?: unknown };
  try {
    const res = await jwtVerify(
      token,
      async (header) => {
        let key = find(header.kid);
        if (!key) {
          await keys.refresh();
          key = find(header.kid);
        }
        if (!key) throw errors.invalidToken();
        return key.secret;
      },
      { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] },
    );
    payload = res.payload;
  } catch (err) {
    throw refusal(err);
  }
  if (payload.sub !== videoId) throw errors.tokenForOtherVideo();
  const kind = payload.scope === SESSION_SCOPE ? 'session' : 'start';
  if (kind === 'session' && purpose === 'start') throw errors.sessionTokenCannotStart();
  return { kind, exp: payload.exp! };
}

/**
 * A token signed with a customer key: RS256 only, against that key's public key (so neither HS256 keyed
 * with the public PEM nor `none` passes); when it starts a playback, the key must still be live in the
 * database (a deletion on any process counts at once).
 */
async function verifyCustomerToken(
  customer: CustomerKeys | undefined,
  token: string,
  kid: string,
  videoId: string,
  purpose: 'start' | 'media',
): Promise<PlaybackGrant> {
  let payload: { sub?: string; exp?: number };
  try {
    const key = await customer?.find(kid);
    if (!key) throw errors.invalidToken();
    const res = await jwtVerify(token, key, {
      algorithms: ['RS256'],
      requiredClaims: ['sub', 'exp'],
      clockTolerance: CUSTOMER_CLOCK_TOLERANCE_SECONDS,
    });
    payload = res.payload;
  } catch (err) {
    throw refusal(err);
  }
  if (payload.sub !== videoId) throw errors.tokenForOtherVideo();
  if (purpose === 'start' && !(await customer!.isLive(kid))) {
    customer!.forget(kid);
    throw errors.invalidToken();
  }
  return { kind: 'start', exp: payload.exp!, customerKeyId: kid };
}

/** jose's (and the key lookup's) failures as the catalogue's 401/403. */
function refusal(err: unknown): Error {
  if (err instanceof joseErrors.JWTExpired) return errors.expiredToken();
  if (
    err instanceof joseErrors.JWSSignatureVerificationFailed ||
    err instanceof joseErrors.JOSEAlgNotAllowed ||
    (err as { code?: string }).code === errors.invalidToken.code
  ) {
    return errors.invalidToken();
  }
  if (
    err instanceof joseErrors.JWTClaimValidationFailed &&
    err.reason === 'missing' &&
    (err.claim === 'exp' || err.claim === 'sub')
  ) {
    return errors.tokenClaimMissing(err.claim);
  }
  return errors.malformedToken();
}

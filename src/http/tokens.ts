/**
 * Playback tokens: HS256 JWTs with `sub` = video id, `exp`, and `kid` naming the signing key. They travel
 * in the path (/play/{videoId}/{token}/master.m3u8), so every relative URI in the playlists inherits them.
 *
 * Two kinds: a playback token (from GET /v1/videos/{id}/playback) may START playback until it expires; a
 * session token (claim `scope: "session"`, minted when a master playlist is served, see playbackSession.ts)
 * carries that playback to its end but cannot fetch a master playlist, so it cannot start one.
 */
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { errors } from '../core/errors.js';
import type { SigningKey } from '../db/signingKeys.js';

export interface TokenKeys {
  /** Newest first: the first key signs. */
  current(): SigningKey[];
  /** Called when a token names a key this process does not know yet (another process rotated). */
  refresh(): Promise<void>;
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
}

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
    if (err instanceof joseErrors.JWTExpired) throw errors.expiredToken();
    if (
      err instanceof joseErrors.JWSSignatureVerificationFailed ||
      err instanceof joseErrors.JOSEAlgNotAllowed ||
      (err as { code?: string }).code === errors.invalidToken.code
    ) {
      throw errors.invalidToken();
    }
    throw errors.malformedToken();
  }
  if (payload.sub !== videoId) throw errors.tokenForOtherVideo();
  const kind = payload.scope === SESSION_SCOPE ? 'session' : 'start';
  if (kind === 'session' && purpose === 'start') throw errors.sessionTokenCannotStart();
  return { kind, exp: payload.exp! };
}

/**
 * Playback tokens: HS256 JWTs with `sub` = video id, `exp`, and `kid` naming the signing key. They travel
 * in the path (/play/{videoId}/{token}/master.m3u8), so every relative URI in the playlists inherits them.
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

export async function signPlaybackToken(
  keys: TokenKeys,
  videoId: string,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: Date }> {
  const key = keys.current()[0];
  if (!key) throw new Error('no signing key loaded');
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', kid: key.kid })
    .setSubject(videoId)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(key.secret);
  return { token, expiresAt: new Date(exp * 1000) };
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Throws the catalogue's 401/403 errors unless the token is valid for this video now. */
export async function verifyPlaybackToken(keys: TokenKeys, token: string, videoId: string): Promise<void> {
  if (!JWT_SHAPE.test(token) || token.length > 2048) throw errors.malformedToken();
  const find = (kid: unknown) => keys.current().find((k) => k.kid === kid);
  let payload: { sub?: string };
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
      { algorithms: ['HS256'] },
    );
    payload = res.payload;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw errors.expiredToken();
    if (
      err instanceof joseErrors.JWSSignatureVerificationFailed ||
      err instanceof joseErrors.JOSEAlgNotAllowed ||
      (err as { code?: string }).code === 'REEL_INVALID_TOKEN'
    ) {
      throw errors.invalidToken();
    }
    throw errors.malformedToken();
  }
  if (payload.sub !== videoId) throw errors.tokenForOtherVideo();
}

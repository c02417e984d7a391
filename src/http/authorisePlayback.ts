/**
 * Who may play a video: the one rule behind /play and the watch page's info. `access` is the path segment
 * of a playback URL: the word `public` (a public video only) or a token for this video (see tokens.ts).
 */
import { errors } from '../core/errors.js';
import type { VideoRow } from '../db/videos.js';
import type { VerifiedTokens } from './tokenCache.js';
import { type PlaybackGrant, type TokenKeys, verifyPlaybackToken } from './tokens.js';

/** What a playback URL grants: undefined for `public`, else the verified token's grant. */
export async function authorisePlayback(
  keys: TokenKeys,
  video: Pick<VideoRow, 'id' | 'playback_policy'>,
  access: string,
  /** 'start': a master playlist (a playback begins); 'media': anything a playback under way fetches. */
  purpose: 'start' | 'media',
  /** Tokens already verified by this process (the play role's, http/tokenCache.ts). */
  verified?: VerifiedTokens,
): Promise<PlaybackGrant | undefined> {
  if (access === 'public') {
    if (video.playback_policy !== 'public') throw errors.missingToken();
    return undefined;
  }
  if (verified) return verified.verify(access, video.id, purpose);
  return verifyPlaybackToken(keys, access, video.id, purpose);
}

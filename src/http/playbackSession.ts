/**
 * Playback sessions, pure planning. A playback token's expiry limits when playback may START: the master
 * playlist served for a valid token points its renditions at a session token (`../{session}/720p/…`), and
 * every child playlist and segment of that playback inherits the session by relative URI. The session
 * lasts long enough to finish the video, pauses included; it cannot fetch a master, so it cannot start
 * (or extend) anything.
 */

/** A session may last this many times the video's duration (seeking back, slow networks, rebuffering)… */
export const SESSION_DURATION_MULTIPLE = 3;

export interface SessionSettings {
  /** …plus this allowance for pauses (REEL_SESSION_ALLOWANCE_SECONDS). */
  sessionAllowanceSeconds: number;
}

/** Expiry (Unix seconds) of a session started at `nowSec` with a token that expires at `startExpSec`. */
export function sessionExpiry(
  nowSec: number,
  durationMs: number | null,
  startExpSec: number,
  settings: SessionSettings,
): number {
  const needed = nowSec + longestSessionSeconds(durationMs ?? 0, settings);
  // Never shorter than the token that started it: a session is a widening, not a narrowing.
  return Math.max(needed, startExpSec);
}

/** The longest a session of a video this long can last, in seconds. */
export function longestSessionSeconds(durationMs: number, settings: SessionSettings): number {
  return (
    Math.ceil((SESSION_DURATION_MULTIPLE * Math.max(0, durationMs)) / 1000) + settings.sessionAllowanceSeconds
  );
}

export interface KeyRetirementSettings extends SessionSettings {
  tokenTtlSeconds: number;
  signingKeyRefreshSeconds: number;
}

/**
 * How long after a newer signing key was created an older one can no longer have signed a token that is
 * still valid: processes sign with the old key until their next reload (refresh interval), and the last
 * thing it signed is either a playback token (TTL) or a session of the longest video (its session length).
 */
export function signingKeyRetireAfterSeconds(
  longestVideoMs: number,
  settings: KeyRetirementSettings,
): number {
  return (
    settings.signingKeyRefreshSeconds +
    Math.max(settings.tokenTtlSeconds, longestSessionSeconds(longestVideoMs, settings))
  );
}

const ABSOLUTE = /^(?:[a-z][a-z0-9+.-]*:|\/)/i;

/**
 * The master playlist as served for one playback: every relative URI (variant lines and URI="…"
 * attributes: audio groups, I-frame playlists, subtitles) goes through the session's access segment.
 * The master sits at /play/{video}/{token}/master.m3u8, so `../{session}/x` resolves to
 * /play/{video}/{session}/x. Absolute URIs are left alone.
 */
export function masterForSession(text: string, session: string): string {
  const via = (uri: string) => (ABSOLUTE.test(uri) ? uri : `../${session}/${uri}`);
  return text
    .split('\n')
    .map((line) => {
      const trimmed = line.trim();
      if (trimmed === '') return line;
      if (trimmed.startsWith('#'))
        return line.replace(/URI="([^"]*)"/g, (_m, uri: string) => `URI="${via(uri)}"`);
      return via(trimmed);
    })
    .join('\n');
}

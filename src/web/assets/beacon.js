// @ts-check
// Viewing analytics: what the player reports about this view, batched into one beacon every 10 s and when
// the page is left (navigator.sendBeacon, to POST /v1/beacons on the playback origin). No cookies, no
// storage, no identifier that outlives the page: view start (with the startup time and the referring page's
// origin, never its path), time played at each rendition's bit rate, stalls (rebuffering) and their length,
// rendition switches, fatal errors, and the 5 % points of the video played through (for the retention
// curve). The server turns these into per-day numbers (src/analytics/).
import Hls from '/assets/vendor/hls.mjs';

const EVERY_MS = 10_000;
/** The server takes at most 64 events a beacon; a long batch is sent at once. */
const MAX_EVENTS = 60;
const POINTS = 20;
/** /play/{videoId}/{access}/…: the access is `public`, a playback token or a session token. */
const PLAY_PATH = /\/play\/([^/]+)\/([^/]+)\//;

/** The origin of the page that linked or embedded this one, when it is another site's. */
function referrerOrigin() {
  try {
    const origin = document.referrer ? new URL(document.referrer).origin : null;
    return origin && origin !== 'null' && origin !== location.origin ? origin : null;
  } catch {
    return null;
  }
}

/**
 * Reports the playback of `masterUrl` in `video` (with hls.js when `hls` is given). Returns stop(), which
 * sends what is left.
 * @param {HTMLVideoElement} video
 * @param {string} masterUrl
 * @param {Hls | null} hls
 */
export function startBeacon(video, masterUrl, hls) {
  const master = new URL(masterUrl, location.href);
  const match = PLAY_PATH.exec(master.pathname);
  if (!match) return { stop() {} };
  const videoId = decodeURIComponent(match[1] ?? '');
  let access = match[2] ?? '';
  const endpoint = new URL('/v1/beacons', master).href;

  /** @type {Record<string, unknown>[]} */
  let events = [];
  let requestedAt = performance.now();
  let started = false;
  /** performance.now() since when it has been playing (0: not playing). */
  let playingSince = 0;
  /** performance.now() since when it has been stalled (0: not stalled). */
  let stalledSince = 0;
  let bitrate = 0;
  /** @type {Set<number>} */
  const reached = new Set();
  /** @type {number[]} */
  let newPoints = [];
  let lastTime = 0;

  /** @param {Record<string, unknown>} e */
  const push = (e) => {
    events.push(e);
    if (events.length >= MAX_EVENTS) send();
  };
  /** Time played since the last count, at the bit rate playing (merged into the last play event). */
  const countPlaying = () => {
    if (!playingSince) return;
    const now = performance.now();
    const ms = Math.round(now - playingSince);
    playingSince = now;
    if (ms <= 0) return;
    // Playing before hls.js reported its first LEVEL_SWITCHED: the level it is loading is the one playing.
    if (!bitrate && hls)
      bitrate = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel]?.bitrate ?? 0;
    const last = events[events.length - 1];
    if (last?.type === 'play' && (last.bitrate ?? 0) === bitrate) last.ms = Number(last.ms) + ms;
    else push(bitrate ? { type: 'play', ms, bitrate } : { type: 'play', ms });
  };
  const stopPlaying = () => {
    countPlaying();
    playingSince = 0;
  };
  const endStall = () => {
    if (!stalledSince) return;
    push({ type: 'rebuffer', ms: Math.round(performance.now() - stalledSince) });
    stalledSince = 0;
  };
  /** @param {number} k */
  const mark = (k) => {
    if (reached.has(k)) return;
    reached.add(k);
    newPoints.push(k);
  };

  function send() {
    countPlaying();
    if (newPoints.length) {
      events.push({ type: 'reach', points: newPoints });
      newPoints = [];
    }
    while (events.length) {
      const batch = events.slice(0, 64);
      events = events.slice(64);
      const body = JSON.stringify({ videoId, access, events: batch });
      // text/plain: no CORS preflight when playback is on another origin. The answer is never read.
      const blob = new Blob([body], { type: 'text/plain' });
      let queued = false;
      try {
        queued = navigator.sendBeacon?.(endpoint, blob) ?? false;
      } catch {
        queued = false;
      }
      if (!queued)
        void fetch(endpoint, { method: 'POST', body: blob, keepalive: true, credentials: 'omit' }).catch(
          () => undefined,
        );
    }
  }

  /** @type {[EventTarget, string, EventListener][]} */
  const listeners = [];
  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {EventListener} fn
   */
  const on = (target, type, fn) => {
    target.addEventListener(type, fn);
    listeners.push([target, type, fn]);
  };

  on(video, 'play', () => {
    // Autoplay was refused and the viewer pressed play: startup counts from now.
    if (!started && video.readyState >= 3) requestedAt = performance.now();
  });
  on(video, 'playing', () => {
    const now = performance.now();
    if (!started) {
      started = true;
      push({ type: 'start', startupMs: Math.round(now - requestedAt), referrer: referrerOrigin() });
      lastTime = video.currentTime;
      const d = video.duration;
      if (!(Number.isFinite(d) && d > 0) || lastTime < d / POINTS) mark(0);
    }
    endStall();
    playingSince = now;
  });
  on(video, 'waiting', () => {
    stopPlaying();
    // Waiting after a seek is the seek's, not a stall.
    if (started && !video.seeking && !stalledSince) stalledSince = performance.now();
  });
  for (const type of ['pause', 'seeking', 'emptied'])
    on(video, type, () => {
      stopPlaying();
      endStall();
    });
  on(video, 'seeked', () => {
    lastTime = video.currentTime;
  });
  on(video, 'ended', () => {
    stopPlaying();
    endStall();
    mark(POINTS);
    send();
  });
  on(video, 'timeupdate', () => {
    const t = video.currentTime;
    const d = video.duration;
    // Played through (not jumped over): the points between the last time and this one.
    if (Number.isFinite(d) && d > 0 && !video.seeking && t >= lastTime && t - lastTime < 3) {
      for (let k = 0; k <= POINTS; k++) {
        const p = (k * d) / POINTS;
        if (p >= lastTime - 0.001 && p <= t) mark(k);
      }
    }
    lastTime = t;
  });
  on(video, 'error', () => push({ type: 'error', kind: 'media' }));

  if (hls) {
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      const next = hls.levels[data.level]?.bitrate ?? 0;
      if (!next || next === bitrate) return;
      countPlaying();
      if (bitrate) push({ type: 'switch', bitrate: next });
      bitrate = next;
    });
    // A signed video's renditions play through a session token that outlives the playback token: use it.
    hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
      const m = PLAY_PATH.exec(new URL(data.details.url, master).pathname);
      if (m?.[2] && decodeURIComponent(m[1] ?? '') === videoId) access = m[2];
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (data.fatal) push({ type: 'error', kind: String(data.type).slice(0, 40) });
    });
  }

  const timer = setInterval(send, EVERY_MS);
  const onHide = () => {
    if (document.visibilityState === 'hidden') send();
  };
  on(window, 'pagehide', send);
  on(document, 'visibilitychange', onHide);

  return {
    stop() {
      stopPlaying();
      endStall();
      send();
      clearInterval(timer);
      for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    },
  };
}

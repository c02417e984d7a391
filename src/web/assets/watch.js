// @ts-check
// The page a link opens (/watch/{id}/{access}) and the embed (/embed/{id}/{access}): no API key, only the
// playback access in the link. Share links (/s/{shareId}, /s/{shareId}/embed, issue 14) carry no token:
// the page asks the server for a fresh one (GET /s/{shareId}/playback) at each load and whenever a playback
// is refused, so the link works for as long as the share lives. When the link cannot play, the page says why.
// Embed options in the query: autoplay, muted, loop, start (seconds); no autoplay by default.

import { $, fmtDate, fmtFromNow } from './common.js';
import { createPlayer } from './player.js';

const parts = location.pathname.split('/');
const query = new URLSearchParams(location.search);
/** The share id of a /s/ link, else ''. */
const shareId = parts[1] === 's' ? decodeURIComponent(parts[2] ?? '') : '';
const [, kind, rawId, access] = parts;
const id = shareId ? '' : decodeURIComponent(rawId ?? '');
const embed = shareId ? parts[3] === 'embed' || query.has('embed') : kind === 'embed';
if (embed) document.body.classList.add('embed');

/**
 * A yes/no option of the query: `autoplay`, `autoplay=1` and `autoplay=true` are yes; `=0`, `=false`, no.
 * @param {string} name
 * @returns {boolean | undefined} undefined when absent
 */
function flag(name) {
  const v = query.get(name);
  if (v === null) return undefined;
  return !/^(0|false|no|off)$/i.test(v);
}
const startAt = Number(query.get('start') ?? query.get('t') ?? 0);
/** What the link asks of the player. Embeds do not play by themselves unless asked; autoplay implies muted
 * (browsers refuse autoplay with sound) unless muted=0 is explicit. */
const playOptions = (() => {
  const autoplay = flag('autoplay') ?? !embed;
  const muted = flag('muted') ?? (flag('autoplay') ? true : undefined);
  return {
    autoplay,
    ...(muted === undefined ? {} : { muted }),
    loop: flag('loop') ?? false,
    start: Number.isFinite(startAt) && startAt > 0 ? startAt : 0,
    exclusive: embed,
  };
})();

/** What each refusal means for the person holding the link. @type {Record<string, string>} */
const REASONS = {
  REEL_INVALID_TOKEN:
    'This link does not work: its token does not match its signature. The link was changed (or cut short when it was copied), or it was not made by this server. Ask whoever shared it for a new link.',
  REEL_EXPIRED_TOKEN:
    'This link has expired. Links to signed videos work for a limited time: ask whoever shared it for a new link.',
  REEL_MALFORMED_TOKEN:
    'This link is damaged: its token cannot be read. Check that you copied the whole link, or ask for a new one.',
  REEL_MISSING_TOKEN:
    'This video is not public: it plays only through a link with a token. Ask for such a link.',
  REEL_TOKEN_WRONG_VIDEO: 'This link’s token was made for a different video. Ask for the right link.',
  REEL_SESSION_TOKEN:
    'This link was copied from a playback already under way: it cannot start the video. Ask whoever shared it for the video’s own link.',
  REEL_VIDEO_NOT_FOUND: 'This video does not exist. It may have been deleted.',
  REEL_INVALID_ID: 'This link is damaged: the video id is not valid.',
  REEL_SHARE_NOT_FOUND:
    'This link does not exist: it may have been mistyped or cut short, or its video was deleted. Ask whoever shared it for a new link.',
  REEL_SHARE_REVOKED: 'This link was turned off by the person who shared it. Ask them for a new link.',
  REEL_SHARE_EXPIRED:
    'This link has expired: it worked for a time its owner chose. Ask whoever shared it for a new link.',
};

/**
 * @param {string} text
 * @param {string} [detail]
 */
function problem(text, detail = '') {
  $('#problem-text').textContent = text;
  $('#problem-detail').textContent = detail;
  $('#problem').hidden = false;
  $('#player').hidden = true;
  if (!embed) {
    $('#title').textContent = 'This video cannot be played';
    document.title = 'Cannot play · Reel';
  }
}

let asked = false;

/** Fetches the link's info (a share link's: with a fresh playback URL); on a refusal, shows why, returns null. */
async function info() {
  let res;
  try {
    if (shareId) {
      // The first request of this page load counts one view; later ones (renewals, polls) do not.
      const renew = asked ? '?renew=1' : '';
      asked = true;
      res = await fetch(`/s/${encodeURIComponent(shareId)}/playback${renew}`, { cache: 'no-store' });
      const body = res.ok ? await res.json() : null;
      if (body) return { ...body, masterUrl: body.url, linkExpiresAt: body.shareExpiresAt };
    } else res = await fetch(`/watch/${encodeURIComponent(id)}/${access}/info`, { cache: 'no-store' });
  } catch {
    problem('The server cannot be reached. Check your connection and reload.');
    return null;
  }
  const body = await res.json().catch(() => null);
  if (res.ok) return body;
  problem(
    REASONS[body?.code] ?? body?.message ?? `The server refused this link (HTTP ${res.status}).`,
    body?.code ? `Error code: ${body.code}` : '',
  );
  return null;
}

async function main() {
  if (!shareId && (!id || !access)) {
    problem('This link is incomplete: it needs a video and an access part (/watch/{video}/{access}).');
    return;
  }
  const v = await info();
  if (!v) return;
  if (!embed) {
    $('#title').textContent = v.title || 'Untitled';
    document.title = `${v.title || 'Video'} · Reel`;
  }
  // A video still processing plays as soon as its first seconds are published (the rest follows).
  if (!v.playable) {
    problem(
      v.status === 'failed'
        ? 'This video could not be processed, so it cannot be played.'
        : 'This video is still being processed. This page tries again every few seconds.',
    );
    if (v.status !== 'failed') setTimeout(main, 5000);
    return;
  }
  $('#problem').hidden = true;
  $('#player').hidden = false;
  // A share link's own expiry (its tokens are renewed behind it); a token link's is its token's.
  const until = shareId ? v.linkExpiresAt : v.expiresAt;
  if (until && !embed) {
    $('#expiry').textContent = `This link works until ${fmtDate(until)} (${fmtFromNow(until)}).`;
  }
  play(v, playOptions);
}

/** @type {ReturnType<typeof createPlayer> | null} */
let player = null;
let renewedAt = 0;

/**
 * @param {{masterUrl: string, title?: string, posterUrl?: string | null, downloads?: import('./player.js').Download[]}} v
 * @param {typeof playOptions} options
 */
function play(v, options) {
  player?.destroy();
  $('#player').replaceChildren();
  player = createPlayer($('#player'), v.masterUrl, {
    title: v.title || 'Video',
    poster: v.posterUrl ?? undefined,
    compact: embed,
    downloads: v.downloads ?? [],
    ...options,
    onFatal: async (kind) => {
      // A share link: the playback's token or session ran out (a page left open for hours): a fresh one
      // carries on where it was, at most once a minute; a revoked or expired link is told by info().
      if (kind === 'network' && shareId && Date.now() - renewedAt > 60_000) {
        const v = player?.video;
        const where = v?.currentTime ?? 0;
        // Refused before it ever played: as the link asked; else it goes on only if it was playing.
        const autoplay = !v || v.played.length === 0 ? options.autoplay : !v.paused;
        renewedAt = Date.now();
        const fresh = await info();
        if (fresh) play(fresh, { ...options, start: where, autoplay });
        return;
      }
      // A playback that started runs on its session to the end; if a part is refused, ask the server why.
      if (kind === 'network' && (await info()))
        problem('Playback stopped: the server refused a part of the video.');
      else if (kind === 'unsupported') problem('This browser cannot play HLS video.');
      else if (kind === 'media') problem('Playback stopped: the browser could not decode the video.');
    },
  });
}

void main();

// @ts-check
// The page a share link opens (/watch/{id}/{access}) and the embed (/embed/{id}/{access}): no API key, only
// the playback access in the link. When the link cannot play, the page says why.

import { $, fmtDate, fmtFromNow } from './common.js';
import { createPlayer } from './player.js';

const [, kind, rawId, access] = location.pathname.split('/');
const id = decodeURIComponent(rawId ?? '');
const embed = kind === 'embed';
if (embed) document.body.classList.add('embed');

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

/** Fetches the link's info; on a refusal, shows the reason and returns null. */
async function info() {
  let res;
  try {
    res = await fetch(`/watch/${encodeURIComponent(id)}/${access}/info`, { cache: 'no-store' });
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
  if (!id || !access) {
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
  if (v.expiresAt && !embed) {
    $('#expiry').textContent = `This link works until ${fmtDate(v.expiresAt)} (${fmtFromNow(v.expiresAt)}).`;
  }
  createPlayer($('#player'), v.masterUrl, {
    title: v.title || 'Video',
    poster: v.posterUrl ?? undefined,
    compact: embed,
    downloads: v.downloads ?? [],
    onFatal: async (kind) => {
      // A playback that started runs on its session to the end; if a part is refused, ask the server why.
      if (kind === 'network' && (await info()))
        problem('Playback stopped: the server refused a part of the video.');
      else if (kind === 'unsupported') problem('This browser cannot play HLS video.');
      else if (kind === 'media') problem('Playback stopped: the browser could not decode the video.');
    },
  });
}

void main();

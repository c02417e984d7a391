// @ts-check
// One video, for its owner: the player with quality menu and stats, the Share panel (share.js: share links
// that last as long as the owner chooses, and the embed code builder), retry and delete. While the video is
// processing its progress moves live, and the player appears as soon as it is playable (its first seconds
// are published): it plays what is there while the rest is encoded.

import { mountVideoAnalytics } from './analytics.js';
import {
  $,
  ApiError,
  announce,
  api,
  fmtDuration,
  followEvents,
  requireKey,
  STATUS_LABEL,
  setUpHeader,
} from './common.js';
import { createPlayer } from './player.js';
import { setUpShare } from './share.js';
import { createEditPanel } from './videoEdit.js';

const id = decodeURIComponent(location.pathname.split('/')[2] ?? '');
/** @typedef {import('./common.js').Video} Video */

/** @type {Video | null} */
let video = null;
/** @type {ReturnType<typeof createPlayer> | null} */
let player = null;
/** @type {(() => void) | null} */
let stopEvents = null;
/** @type {import('./videoEdit.js').EditPanel | null} */
let edit = null;

/** @param {Video} v */
function showFacts(v) {
  const facts = [];
  if (v.durationMs) facts.push(fmtDuration(v.durationMs / 1000));
  if (v.width && v.height) facts.push(`${v.width}×${v.height} source`);
  if (v.renditions.length)
    facts.push(`${v.renditions.length} renditions (${v.renditions.map((r) => r.name).join(', ')})`);
  facts.push(v.playbackPolicy === 'public' ? 'Public' : 'Signed: plays only through share links');
  $('#facts').textContent = facts.join(' · ');
}

/** @param {Video} v */
function showPending(v) {
  const pending = $('#pending');
  // A failed video says so once, in #error (with the reason), not in this panel too.
  pending.hidden = v.status === 'ready' || v.status === 'failed';
  const wait = v.playable
    ? 'You can watch it already: the rest plays as it is encoded.'
    : 'The player appears when the first seconds are ready.';
  $('#retry').hidden = v.status !== 'failed';
  $('#error').textContent = v.status === 'failed' ? (v.error ?? 'Processing failed.') : '';
  const progress = $('#pending-progress');
  progress.hidden = v.status === 'failed';
  if (v.status === 'processing') progress.value = Math.round(v.progress * 100);
  else progress.removeAttribute('value');
  $('#pending-text').textContent =
    v.status === 'processing'
      ? `Processing: ${Math.round(v.progress * 100)}%. ${wait}`
      : v.status === 'failed'
        ? 'Processing failed.'
        : `${STATUS_LABEL[v.status]}. ${wait}`;
}

async function showPlayer() {
  // The owner's own playback (a one-hour token is fine here: this page asks for a new one when loaded).
  // Links for others are share links (share.js), never this token.
  const { url } = await api(`/v1/videos/${id}/playback`);
  if (player) return;
  player = createPlayer($('#player'), url, {
    title: /** @type {Video} */ (video).title,
    poster: new URL('poster.jpg', url).href,
    downloads: downloadsOf(/** @type {Video} */ (video)),
    onFatal: (kind, detail) => {
      $('#error').textContent =
        kind === 'network'
          ? `Playback stopped: the server answered ${detail.status}. Reload the page for a new playback link.`
          : kind === 'unsupported'
            ? 'This browser cannot play HLS video.'
            : 'Playback stopped: the browser could not decode the video.';
    },
  });
}

/**
 * The MP4 downloads of a video made with `mp4: true` (its `downloads`, once made).
 * @param {Video} v
 * @returns {import('./player.js').Download[]}
 */
const downloadsOf = (v) =>
  /** @type {{downloads?: import('./player.js').Download[] | null}} */ (v).downloads ?? [];

/** @param {Video} v */
function update(v) {
  const was = video?.status;
  const wasPlayable = video?.playable;
  video = v;
  document.title = `${v.title || 'Untitled'} · Reel`;
  $('#title').textContent = v.title || 'Untitled';
  showFacts(v);
  showPending(v);
  if (edit) edit.update(v);
  // Share links (share.js) mint their own tokens: a new privacy needs no new link.
  else edit = createEditPanel($('#edit'), v, (saved) => update(saved));
  player?.setDownloads(downloadsOf(v));
  if (v.playable && !player) {
    void showPlayer().catch((err) => {
      $('#error').textContent = /** @type {Error} */ (err).message;
    });
    if (was && wasPlayable === false && v.status !== 'ready')
      announce('The video can be watched now; the rest is still being processed.');
  }
  if (v.status === 'ready' && was && was !== 'ready') announce('The video is ready to play.');
}

setUpHeader();
/** @typedef {MouseEvent & {currentTarget: HTMLElement}} Click */
$('#retry').addEventListener('click', async () => {
  try {
    update(await api(`/v1/videos/${id}/retry`, { method: 'POST' }));
    announce('Queued again.');
  } catch (err) {
    $('#error').textContent = /** @type {Error} */ (err).message;
  }
});
$('#delete').addEventListener('click', async () => {
  if (!confirm(`Delete “${video?.title || 'this video'}”? Its files are removed and its links stop working.`))
    return;
  try {
    await api(`/v1/videos/${id}`, { method: 'DELETE' });
    location.assign('/');
  } catch (err) {
    $('#error').textContent = /** @type {Error} */ (err).message;
  }
});

await requireKey();
try {
  /** @type {Video} */
  const first = await api(`/v1/videos/${encodeURIComponent(id)}`);
  update(first);
  mountVideoAnalytics($('#analytics'), first.id);
  setUpShare(id, () => video?.title ?? '');
  if (first.status !== 'ready') {
    stopEvents = followEvents('/v1/events', {
      onEvent(event, data) {
        if (event === 'video' && data.id === id) {
          update(data);
          if (data.status === 'ready') stopEvents?.();
        } else if (event === 'deleted' && data.id === id) {
          $('#error').textContent = 'This video was deleted.';
        }
      },
      onState(state) {
        // Reconnected: what changed meanwhile.
        if (state === 'open') void api(`/v1/videos/${encodeURIComponent(id)}`).then(update, () => undefined);
      },
    });
  }
} catch (err) {
  const missing = err instanceof ApiError && err.status === 404;
  $('#title').textContent = missing ? 'No such video' : 'Video';
  // Nothing to delete or retry: the page offers only the way back.
  if (missing) $('#manage').hidden = true;
  $('#error').textContent = /** @type {Error} */ (err).message;
}

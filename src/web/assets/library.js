// @ts-check
// The library: every video with its poster, title, duration and status; progress moves live (server-sent
// events from /v1/events); failed videos show their error and a retry button; delete asks first.
import {
  $,
  ApiError,
  announce,
  api,
  fmtDuration,
  followEvents,
  h,
  requireKey,
  STATUS_LABEL,
  setUpHeader,
} from './common.js';
import { uploadingCardPart } from './uploadCard.js';

const list = $('#videos');
const live = $('#live');
/** @typedef {import('./common.js').Video} Video */

/** id → { video, el, changedAt } @type {Map<string, {video: Video, el: HTMLElement, changedAt: number}>} */
const cards = new Map();
/** Poster URLs of signed videos need a token: id → { url, expiresAt }. @type {Map<string, {url: string, expiresAt: string}>} */
const posters = new Map();
/** @type {string | null} */
let nextCursor = null;

/** @param {'open' | 'reconnecting' | 'closed'} state */
function setLive(state) {
  live.dataset.state = state;
  live.textContent =
    state === 'open' ? 'Live' : state === 'reconnecting' ? 'Reconnecting…' : 'Live updates stopped';
}

/** @param {Video} video */
async function posterUrl(video) {
  if (video.status !== 'ready') return null;
  if (video.playbackPolicy === 'public') return `/play/${video.id}/public/poster.jpg`;
  const cached = posters.get(video.id);
  if (cached && new Date(cached.expiresAt).getTime() > Date.now() + 60_000) return cached.url;
  const { url, expiresAt } = await api(`/v1/videos/${video.id}/playback`);
  const poster = { url: new URL('poster.jpg', url).href, expiresAt };
  posters.set(video.id, poster);
  return poster.url;
}

/** @param {Video} video */
function render(video) {
  const entry = cards.get(video.id);
  const el = entry?.el ?? h('li', { class: 'card', 'data-id': video.id });
  const href = `/videos/${encodeURIComponent(video.id)}`;
  const title = video.title || 'Untitled';
  el.dataset.status = video.status;

  const thumb = h('a', { class: 'thumb', href, tabindex: '-1', 'aria-hidden': 'true' });
  if (video.status === 'ready') {
    const img = h('img', { alt: '', loading: 'lazy', width: 320, height: 180 });
    posterUrl(video)
      .then((src) => {
        if (src) img.src = src;
      })
      .catch(() => undefined);
    thumb.append(img);
  } else {
    thumb.append(h('span', { class: 'thumb-status', text: STATUS_LABEL[video.status] }));
  }
  if (video.durationMs)
    thumb.append(h('span', { class: 'duration', text: fmtDuration(video.durationMs / 1000) }));

  const pct = Math.round(video.progress * 100);
  const statusLine = h(
    'p',
    { class: 'status' },
    h('span', { class: `badge ${video.status}`, text: STATUS_LABEL[video.status] }),
    // A chunked video plays while the rest is encoded.
    video.status === 'processing' ? ` ${pct}%${video.playable ? ', can be watched' : ''}` : '',
    video.durationMs
      ? h('span', { class: 'visually-hidden', text: `, ${fmtDuration(video.durationMs / 1000)} long` })
      : '',
    video.playbackPolicy === 'public' ? h('span', { class: 'policy', text: 'Public' }) : '',
  );
  const progress =
    video.status === 'processing' || video.status === 'queued'
      ? h('progress', {
          max: 100,
          value: video.status === 'processing' ? pct : undefined,
          'aria-label': `Processing ${title}`,
        })
      : null;

  const actions = h('div', { class: 'actions' });
  if (video.status === 'failed') {
    actions.append(
      h('button', {
        type: 'button',
        class: 'retry',
        text: 'Retry',
        'aria-label': `Retry ${title}`,
        onclick: () => retry(video),
      }),
    );
  }
  actions.append(
    h('button', {
      type: 'button',
      class: 'delete destructive quiet',
      text: 'Delete',
      'aria-label': `Delete ${title}`,
      onclick: () => remove(video),
    }),
  );

  el.replaceChildren(
    thumb,
    h(
      'div',
      { class: 'meta' },
      h('h2', { class: 'title' }, h('a', { href, text: title })),
      statusLine,
      progress,
      // How far the upload got, and how to resume or discard it (uploadCard.js).
      video.status === 'uploading' ? uploadingCardPart(video) : null,
      video.status === 'failed' && video.error ? h('p', { class: 'error', text: video.error }) : null,
      actions,
    ),
  );
  return el;
}

/**
 * Adds or updates a card; new videos go first (newest first).
 * @param {Video} video
 */
function upsert(video, { fromEvent = false, append = false } = {}) {
  const entry = cards.get(video.id);
  if (entry && JSON.stringify(entry.video) === JSON.stringify(video)) return;
  const before = entry?.video.status;
  const el = render(video);
  cards.set(video.id, { video, el, changedAt: fromEvent ? Date.now() : (entry?.changedAt ?? 0) });
  if (!entry) {
    if (append) list.append(el);
    else list.prepend(el);
  }
  $('#empty').hidden = cards.size > 0;
  if (
    fromEvent &&
    before &&
    before !== video.status &&
    (video.status === 'ready' || video.status === 'failed')
  ) {
    announce(`${video.title || 'A video'} is ${video.status === 'ready' ? 'ready to play' : 'failed'}.`);
  }
}

/** @param {string} id */
function drop(id) {
  cards.get(id)?.el.remove();
  cards.delete(id);
  $('#empty').hidden = cards.size > 0;
}

async function load({ older = false } = {}) {
  const startedAt = Date.now();
  const params = new URLSearchParams({ limit: '24' });
  if (older && nextCursor) params.set('cursor', nextCursor);
  try {
    const page = await api(`/v1/videos?${params}`);
    $('#list-error').textContent = '';
    for (const video of page.data) {
      // An event newer than this list wins.
      if ((cards.get(video.id)?.changedAt ?? 0) > startedAt) continue;
      upsert(video, { append: true });
    }
    if (!older) {
      // Reorder to newest first (events may have inserted cards before the list came).
      const ordered = [...cards.values()].sort((a, b) => b.video.createdAt.localeCompare(a.video.createdAt));
      for (const c of ordered) list.append(c.el);
    }
    nextCursor = page.nextCursor;
    $('#more').hidden = !nextCursor;
    $('#empty').hidden = cards.size > 0;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401))
      $('#list-error').textContent = /** @type {Error} */ (err).message;
  }
}

/** @param {Video} video */
async function retry(video) {
  try {
    upsert(await api(`/v1/videos/${video.id}/retry`, { method: 'POST' }), { fromEvent: true });
    announce(`${video.title} queued again.`);
  } catch (err) {
    $('#list-error').textContent = /** @type {Error} */ (err).message;
  }
}

/** @param {Video} video */
async function remove(video) {
  if (!confirm(`Delete “${video.title || 'Untitled'}”? Its files are removed and its links stop working.`))
    return;
  try {
    await api(`/v1/videos/${video.id}`, { method: 'DELETE' });
    drop(video.id);
    announce(`${video.title} deleted.`);
    $('#videos a, #main h1')?.focus?.();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) drop(video.id);
    else $('#list-error').textContent = /** @type {Error} */ (err).message;
  }
}

setUpHeader();
$('#more').addEventListener('click', () => load({ older: true }));
await requireKey();
followEvents('/v1/events', {
  onEvent(event, data) {
    if (event === 'video') upsert(data, { fromEvent: true });
    else if (event === 'deleted') drop(data.id);
  },
  onState(state) {
    setLive(state);
    // (Re)load the list once the feed is open: what changed before it opened is in the list.
    if (state === 'open') void load();
  },
});

// @ts-check
// The library: every video with its poster, title, date, duration, size, privacy and status; progress
// moves live (server-sent events from /v1/events) with an estimate of the time left; failed videos show
// their error and a retry button; delete asks first. Search by title, filter by status and privacy, sort
// (the API does it: GET /v1/videos?q=&status=&policy=&sort=), and more pages load as the list is scrolled
// (its cursor). Several videos can be selected to delete or retry them at once. The choices are kept in
// the page's address, so a reload or a shared link shows the same list.
import {
  $,
  ApiError,
  announce,
  api,
  fmtBytes,
  fmtDuration,
  fmtEta,
  followEvents,
  h,
  requireKey,
  STATUS_LABEL,
  setUpHeader,
} from './common.js';
import { uploadingCardPart } from './uploadCard.js';

const list = $('#videos');
const live = $('#live');
const PAGE = 24;
/** @typedef {import('./common.js').Video & {sourceSize?: number | null, posterTime?: number | null}} Video */

/** id → { video, el, changedAt } @type {Map<string, {video: Video, el: HTMLElement, changedAt: number}>} */
const cards = new Map();
/** Poster URLs of signed videos need a token: id → { url, expiresAt }. @type {Map<string, {url: string, expiresAt: string}>} */
const posters = new Map();
/** The ids ticked for a bulk action. @type {Set<string>} */
const selected = new Set();
/**
 * Time left while processing: the first progress this page saw of a video, and when. The estimate is the
 * time taken so far for the progress made since, stretched to what is left: elapsed × (1 − p) / (p − p₀).
 * @type {Map<string, {at: number, progress: number}>}
 */
const progressSeen = new Map();
/** @type {string | null} */
let nextCursor = null;
/** Bumped by every new list (a filter changed): an older page that answers late is dropped. */
let generation = 0;
let loading = false;

/** What the list shows: the search, filters and order, as in the address. */
const filters = {
  q: '',
  status: '',
  policy: '',
  sort: 'newest',
};

function readFilters() {
  const params = new URLSearchParams(location.search);
  filters.q = (params.get('q') ?? '').slice(0, 200);
  filters.status = STATUS_LABEL[params.get('status') ?? '']
    ? /** @type {string} */ (params.get('status'))
    : '';
  filters.policy = ['public', 'signed'].includes(params.get('policy') ?? '')
    ? String(params.get('policy'))
    : '';
  filters.sort = ['oldest', 'title'].includes(params.get('sort') ?? '')
    ? String(params.get('sort'))
    : 'newest';
  $('#search').value = filters.q;
  $('#filter-status').value = filters.status;
  $('#filter-policy').value = filters.policy;
  $('#sort').value = filters.sort;
}

function writeFilters() {
  const params = new URLSearchParams();
  if (filters.q) params.set('q', filters.q);
  if (filters.status) params.set('status', filters.status);
  if (filters.policy) params.set('policy', filters.policy);
  if (filters.sort !== 'newest') params.set('sort', filters.sort);
  const query = params.toString();
  history.replaceState(null, '', query ? `/?${query}` : '/');
}

const filtered = () => Boolean(filters.q || filters.status || filters.policy);

/**
 * Whether a video belongs in the list as filtered (a live event about one that does not is not shown).
 * @param {Video} video
 */
function matches(video) {
  if (filters.status && video.status !== filters.status) return false;
  if (filters.policy && video.playbackPolicy !== filters.policy) return false;
  if (filters.q && !(video.title ?? '').toLowerCase().includes(filters.q.toLowerCase())) return false;
  return true;
}

/** @param {'open' | 'reconnecting' | 'closed'} state */
function setLive(state) {
  live.dataset.state = state;
  live.textContent =
    state === 'open' ? 'Live' : state === 'reconnecting' ? 'Reconnecting…' : 'Live updates stopped';
}

/** @param {Video} video */
async function posterUrl(video) {
  if (video.status !== 'ready') return null;
  // A poster chosen again has a new address, past any copy cached of the old one.
  const version = video.posterTime === null || video.posterTime === undefined ? '' : `?t=${video.posterTime}`;
  if (video.playbackPolicy === 'public') return `/play/${video.id}/public/poster.jpg${version}`;
  const cached = posters.get(video.id);
  if (cached && new Date(cached.expiresAt).getTime() > Date.now() + 60_000) return cached.url + version;
  const { url, expiresAt } = await api(`/v1/videos/${video.id}/playback`);
  const poster = { url: new URL('poster.jpg', url).href, expiresAt };
  posters.set(video.id, poster);
  return poster.url + version;
}

/** @param {string} iso */
const fmtDay = (iso) => new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' });

/**
 * "3 min left", or '' until the progress seen moved enough to say.
 * @param {Video} video
 */
function timeLeft(video) {
  if (video.status !== 'processing') {
    progressSeen.delete(video.id);
    return '';
  }
  const seen = progressSeen.get(video.id);
  if (!seen || video.progress < seen.progress) {
    progressSeen.set(video.id, { at: Date.now(), progress: video.progress });
    return '';
  }
  const elapsed = (Date.now() - seen.at) / 1000;
  const made = video.progress - seen.progress;
  if (elapsed < 3 || made < 0.01) return '';
  return `about ${fmtEta((elapsed * (1 - video.progress)) / made)} left`;
}

/** @param {Video} video */
function render(video) {
  const entry = cards.get(video.id);
  const el = entry?.el ?? h('li', { class: 'card', 'data-id': video.id });
  const href = `/videos/${encodeURIComponent(video.id)}`;
  const title = video.title || 'Untitled';
  el.dataset.status = video.status;
  el.classList.toggle('selected', selected.has(video.id));

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
  const left = timeLeft(video);
  const statusLine = h(
    'p',
    { class: 'status' },
    h('span', { class: `badge ${video.status}`, text: STATUS_LABEL[video.status] }),
    h('span', {
      class: `badge policy ${video.playbackPolicy}`,
      text: video.playbackPolicy === 'public' ? 'Public' : 'Signed',
      title:
        video.playbackPolicy === 'public'
          ? 'Anyone with the address can play it'
          : 'Plays only through links with a token',
    }),
    // A chunked video plays while the rest is encoded.
    video.status === 'processing'
      ? h('span', {
          class: 'pct',
          text: `${pct}%${left ? `, ${left}` : ''}${video.playable ? ', can be watched' : ''}`,
        })
      : '',
  );
  const facts = [fmtDay(video.createdAt)];
  if (video.durationMs) facts.push(fmtDuration(video.durationMs / 1000));
  if (video.sourceSize) facts.push(fmtBytes(video.sourceSize));
  const factsLine = h('p', { class: 'facts', text: facts.join(' · ') });
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

  const pick = h('input', {
    type: 'checkbox',
    class: 'pick',
    'aria-label': `Select ${title}`,
    onchange: (/** @type {Event & {currentTarget: HTMLInputElement}} */ e) => {
      if (e.currentTarget.checked) selected.add(video.id);
      else selected.delete(video.id);
      el.classList.toggle('selected', e.currentTarget.checked);
      showSelection();
    },
  });
  pick.checked = selected.has(video.id);

  el.replaceChildren(
    thumb,
    h(
      'div',
      { class: 'meta' },
      h(
        'div',
        { class: 'title-row' },
        h('h2', { class: 'title', title }, h('a', { href, text: title })),
        pick,
      ),
      factsLine,
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
 * Adds or updates a card. A live event adds a new video first (newest first) when it matches the filters;
 * in another order its place is not known until the list is loaded again.
 * @param {Video} video
 */
function upsert(video, { fromEvent = false, append = false } = {}) {
  const entry = cards.get(video.id);
  if (fromEvent && !matches(video)) {
    if (entry) drop(video.id);
    return;
  }
  if (!entry && fromEvent && filters.sort !== 'newest') return;
  if (entry && JSON.stringify(entry.video) === JSON.stringify(video) && video.status !== 'processing') return;
  const before = entry?.video.status;
  const el = render(video);
  cards.set(video.id, { video, el, changedAt: fromEvent ? Date.now() : (entry?.changedAt ?? 0) });
  if (!entry) {
    if (append) list.append(el);
    else list.prepend(el);
  }
  showEmpty();
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
  if (selected.delete(id)) showSelection();
  showEmpty();
}

/** The empty library shows how to add videos; an empty search says so and offers to clear it. */
function showEmpty() {
  const none = cards.size === 0 && !loading;
  $('#empty').hidden = !none || filtered();
  $('#no-match').hidden = !none || !filtered();
  // Nothing to search, sort or select in an empty library.
  $('#filters').closest('search').hidden = none && !filtered();
  $('.list-head').hidden = none;
}

async function load({ older = false } = {}) {
  if (older && (!nextCursor || loading)) return;
  const mine = generation;
  const startedAt = Date.now();
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (older && nextCursor) params.set('cursor', nextCursor);
  if (filters.q) params.set('q', filters.q);
  if (filters.status) params.set('status', filters.status);
  if (filters.policy) params.set('policy', filters.policy);
  if (filters.sort !== 'newest') params.set('sort', filters.sort);
  loading = true;
  list.setAttribute('aria-busy', 'true');
  try {
    const page = await api(`/v1/videos?${params}`);
    if (mine !== generation) return;
    $('#list-error').textContent = '';
    for (const video of page.data) {
      // An event newer than this list wins.
      if ((cards.get(video.id)?.changedAt ?? 0) > startedAt) continue;
      upsert(video, { append: true });
    }
    if (!older && filters.sort === 'newest') {
      // Reorder to newest first (events may have inserted cards before the list came).
      const ordered = [...cards.values()].sort((a, b) => b.video.createdAt.localeCompare(a.video.createdAt));
      for (const c of ordered) list.append(c.el);
    }
    nextCursor = page.nextCursor;
    $('#more').hidden = !nextCursor;
  } catch (err) {
    if (mine === generation && !(err instanceof ApiError && err.status === 401))
      $('#list-error').textContent = /** @type {Error} */ (err).message;
  } finally {
    if (mine === generation) {
      loading = false;
      list.removeAttribute('aria-busy');
      showEmpty();
      $('#count').textContent = listCount();
    }
  }
  // A tall screen may show the end of the list already: fill it.
  if (mine === generation && nextCursor && sentinelVisible()) void load({ older: true });
}

const listCount = () =>
  `${cards.size}${nextCursor ? '+' : ''} ${cards.size === 1 && !nextCursor ? 'video' : 'videos'}${filtered() ? ' found' : ''}`;

function sentinelVisible() {
  const rect = $('#more').getBoundingClientRect();
  return rect.top < innerHeight + 400;
}

/** A new list: the filters or the order changed. */
function reload() {
  generation++;
  loading = false;
  nextCursor = null;
  cards.clear();
  selected.clear();
  list.replaceChildren();
  showSelection();
  writeFilters();
  void load();
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

/**
 * Where keyboard focus goes when cards go: the card after the first one removed, else the one before,
 * else the heading.
 * @param {string[]} ids
 */
function focusAfterRemoving(ids) {
  const els = [...list.children];
  const gone = new Set(ids);
  const first = els.findIndex((el) => gone.has(/** @type {HTMLElement} */ (el).dataset.id ?? ''));
  const rest = els.filter((el) => !gone.has(/** @type {HTMLElement} */ (el).dataset.id ?? ''));
  const after = els.slice(first + 1).find((el) => rest.includes(el)) ?? rest[rest.length - 1];
  return () => {
    const link = after?.isConnected ? $('.title a', after) : null;
    if (link) link.focus();
    else $('#main h1').focus();
  };
}

/** @param {Video} video */
async function remove(video) {
  if (!confirm(`Delete “${video.title || 'Untitled'}”? Its files are removed and its links stop working.`))
    return;
  const refocus = focusAfterRemoving([video.id]);
  try {
    await api(`/v1/videos/${video.id}`, { method: 'DELETE' });
    drop(video.id);
    announce(`${video.title} deleted.`);
    refocus();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      drop(video.id);
      refocus();
    } else $('#list-error').textContent = /** @type {Error} */ (err).message;
  }
}

/** The selection bar: how many are ticked, and what can be done with them. */
function showSelection() {
  const bar = $('#selection');
  bar.hidden = selected.size === 0;
  const failed = [...selected].filter((id) => cards.get(id)?.video.status === 'failed').length;
  $('#selection-count').textContent = `${selected.size} selected`;
  $('#bulk-retry').hidden = failed === 0;
  $('#bulk-retry').textContent = `Retry ${failed} failed`;
  $('#bulk-delete').textContent = `Delete ${selected.size}`;
  $('#select-all').checked = cards.size > 0 && selected.size === cards.size;
}

async function bulkDelete() {
  const ids = [...selected];
  if (ids.length === 0) return;
  if (
    !confirm(
      `Delete ${ids.length} ${ids.length === 1 ? 'video' : 'videos'}? Their files are removed and their links stop working.`,
    )
  )
    return;
  const refocus = focusAfterRemoving(ids);
  const results = await Promise.allSettled(
    ids.map((id) => api(`/v1/videos/${encodeURIComponent(id)}`, { method: 'DELETE' })),
  );
  let deleted = 0;
  /** @type {string[]} */
  const failures = [];
  for (const [i, r] of results.entries()) {
    const id = /** @type {string} */ (ids[i]);
    if (r.status === 'fulfilled' || (r.reason instanceof ApiError && r.reason.status === 404)) {
      drop(id);
      deleted++;
    } else failures.push(`${cards.get(id)?.video.title ?? id}: ${r.reason.message}`);
  }
  $('#list-error').textContent = failures.length ? `Not deleted: ${failures.join('; ')}` : '';
  announce(`${deleted} ${deleted === 1 ? 'video' : 'videos'} deleted.`);
  refocus();
  $('#count').textContent = listCount();
}

async function bulkRetry() {
  const ids = [...selected].filter((id) => cards.get(id)?.video.status === 'failed');
  const results = await Promise.allSettled(
    ids.map((id) => api(`/v1/videos/${encodeURIComponent(id)}/retry`, { method: 'POST' })),
  );
  let queued = 0;
  for (const r of results) {
    if (r.status === 'fulfilled') {
      queued++;
      selected.delete(r.value.id);
      upsert(r.value, { fromEvent: true });
    }
  }
  showSelection();
  announce(`${queued} ${queued === 1 ? 'video' : 'videos'} queued again.`);
}

setUpHeader();
readFilters();
/** @type {ReturnType<typeof setTimeout> | undefined} */
let typing;
$('#search').addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    const q = $('#search').value.trim().slice(0, 200);
    if (q === filters.q) return;
    filters.q = q;
    reload();
  }, 250);
});
$('#filters').addEventListener('submit', (/** @type {SubmitEvent} */ e) => e.preventDefault());
for (const [sel, name] of /** @type {const} */ ([
  ['#filter-status', 'status'],
  ['#filter-policy', 'policy'],
  ['#sort', 'sort'],
])) {
  $(sel).addEventListener('change', () => {
    filters[name] = $(sel).value;
    reload();
  });
}
$('#clear-filters').addEventListener('click', () => {
  Object.assign(filters, { q: '', status: '', policy: '' });
  $('#search').value = '';
  $('#filter-status').value = '';
  $('#filter-policy').value = '';
  reload();
  $('#search').focus();
});
$('#select-all').addEventListener('change', () => {
  const all = $('#select-all').checked;
  selected.clear();
  if (all) for (const id of cards.keys()) selected.add(id);
  for (const { el } of cards.values()) {
    el.classList.toggle('selected', all);
    const box = $('.pick', el);
    if (box) box.checked = all;
  }
  showSelection();
});
$('#bulk-delete').addEventListener('click', bulkDelete);
$('#bulk-retry').addEventListener('click', bulkRetry);
$('#select-none').addEventListener('click', () => {
  $('#select-all').checked = false;
  $('#select-all').dispatchEvent(new Event('change'));
});
$('#more').addEventListener('click', () => load({ older: true }));
// More as the list is scrolled: the "Show more" button doubles as the end of the list.
new IntersectionObserver(
  (entries) => {
    if (entries.some((e) => e.isIntersecting)) void load({ older: true });
  },
  { rootMargin: '400px' },
).observe($('#more'));
for (const pre of document.querySelectorAll('#empty code[data-origin]'))
  pre.textContent = pre.textContent.replaceAll('ORIGIN', location.origin);
await requireKey();
followEvents('/v1/events', {
  onEvent(event, data) {
    if (event === 'video') upsert(data, { fromEvent: true });
    else if (event === 'deleted') drop(data.id);
  },
  onState(state) {
    setLive(state);
    // (Re)load the list once the feed is open: what changed before it opened is in the list.
    if (state === 'open') {
      generation++;
      void load();
    }
  },
});

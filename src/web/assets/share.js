// @ts-check
// The video page's Share panel (issue 14): share links that last as long as the owner chooses (1 day,
// 7 days, until revoked), listed with their expiry (kept up to date) and views, copied and revoked one by
// one; and the embed code builder (autoplay, muted, loop, start) for an <iframe> that plays through a share
// link, never through a one-hour token. A link that expired cannot be copied.
import { $, ApiError, announce, api, copyFrom, fmtDate, fmtFromNow, h } from './common.js';

/**
 * A share link as the API answers it (GET /v1/videos/{id}/shares).
 * @typedef {{id: string, url: string, embedUrl: string, label: string, expiresAt: string | null,
 *   expired: boolean, views: number, createdAt: string}} Share
 */

/** How often the expiry sentences are brought up to date (and expired links marked). */
const TICK_MS = 15_000;

/** @param {Share} s */
const isLive = (s) => !s.expired && (s.expiresAt === null || new Date(s.expiresAt).getTime() > Date.now());

/** @param {Share} s */
function expiryText(s) {
  if (s.expiresAt === null) return 'Works until you revoke it';
  if (!isLive(s)) return `Expired ${fmtFromNow(s.expiresAt)} (${fmtDate(s.expiresAt)})`;
  return `Works until ${fmtDate(s.expiresAt)} (${fmtFromNow(s.expiresAt)})`;
}

/** @param {number} n */
const viewsText = (n) => (n === 1 ? '1 view' : `${n} views`);

/** @param {string} s */
const escapeAttr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The <iframe> for a share link's embed page with the chosen options.
 * @param {string} embedUrl
 * @param {{autoplay: boolean, muted: boolean, loop: boolean, start: number}} o
 * @param {string} title
 */
export function embedSnippet(embedUrl, o, title) {
  const q = new URLSearchParams();
  if (o.autoplay) q.set('autoplay', '1');
  // Autoplay is muted unless said otherwise: an autoplaying embed that wants sound says muted=0.
  if (o.muted) q.set('muted', '1');
  else if (o.autoplay) q.set('muted', '0');
  if (o.loop) q.set('loop', '1');
  if (o.start > 0) q.set('start', String(Math.floor(o.start)));
  const src = q.size ? `${embedUrl}?${q}` : embedUrl;
  return (
    `<iframe src="${escapeAttr(src)}" title="${escapeAttr(title)}" width="640" height="360" ` +
    'style="border:0;max-width:100%;aspect-ratio:16/9;height:auto" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>'
  );
}

/**
 * Sets the panel up for one video.
 * @param {string} videoId
 * @param {() => string} title the video's title, now
 */
export function setUpShare(videoId, title) {
  /** @type {Share[]} */
  let shares = [];
  const base = `/v1/videos/${encodeURIComponent(videoId)}/shares`;
  const list = $('#share-list');
  const error = $('#share-error');
  const form = $('#share-form');
  const select = $('#embed-link');
  const autoplay = $('#embed-autoplay');
  const muted = $('#embed-muted');
  const loop = $('#embed-loop');
  const start = $('#embed-start');
  const snippet = $('#embed');
  const copyEmbed = $('#copy-embed');

  /** @param {unknown} err */
  const fail = (err) => {
    error.textContent =
      err instanceof ApiError ? err.message : `Something went wrong: ${/** @type {Error} */ (err).message}`;
  };

  function renderList() {
    // Re-rendered as time passes: whatever had the keyboard in the list keeps it.
    const active = /** @type {HTMLElement | null} */ (document.activeElement);
    const activeShare = active?.closest('[data-share]')?.getAttribute('data-share');
    const activeRole = active?.getAttribute('data-role');
    $('#share-empty').hidden = shares.length > 0;
    list.replaceChildren(
      ...shares.map((s) => {
        const live = isLive(s);
        const input = h('input', {
          type: 'text',
          readonly: true,
          value: s.url,
          'aria-label': s.label ? `Share link “${s.label}”` : 'Share link',
          disabled: !live,
          'data-role': 'url',
        });
        const copy = h('button', {
          type: 'button',
          text: live ? 'Copy link' : 'Expired',
          disabled: !live,
          'data-role': 'copy',
        });
        copy.addEventListener('click', () => {
          // Checked again at the click: a link that expired since the last tick is not handed out.
          if (!isLive(s)) return renderAll();
          void copyFrom(input, copy);
        });
        const revoke = h('button', {
          type: 'button',
          class: 'destructive',
          text: live ? 'Revoke' : 'Remove',
          'data-role': 'revoke',
          'aria-label': `${live ? 'Revoke' : 'Remove'} ${s.label ? `“${s.label}”` : 'this link'}`,
        });
        revoke.addEventListener('click', () => void revokeShare(s, revoke));
        return h(
          'li',
          { class: live ? 'share-item' : 'share-item expired', 'data-share': s.id },
          s.label ? h('p', { class: 'share-label', text: s.label }) : null,
          h('div', { class: 'copy-row' }, input, copy, revoke),
          h('p', { class: 'hint share-facts', text: `${expiryText(s)} · ${viewsText(s.views)}` }),
        );
      }),
    );
    if (activeShare && activeRole)
      /** @type {HTMLElement | null} */ (
        list.querySelector(`[data-share="${activeShare}"] [data-role="${activeRole}"]`)
      )?.focus();
  }

  function renderEmbed() {
    const live = shares.filter(isLive);
    const chosen = select.value;
    select.replaceChildren(
      ...live.map((s) =>
        h('option', {
          value: s.id,
          text: `${s.label || s.url.replace(/^https?:\/\//, '')} · ${s.expiresAt ? `until ${fmtDate(s.expiresAt)}` : 'until revoked'}`,
        }),
      ),
    );
    if (live.some((s) => s.id === chosen)) select.value = chosen;
    const share = live.find((s) => s.id === select.value);
    select.disabled = !share;
    copyEmbed.disabled = !share;
    // Autoplay starts muted unless the owner unticks Muted (the browser may then refuse to start it).
    if (!share) {
      snippet.value = '';
      $('#embed-hint').textContent = 'Create a share link first: the embed plays through it.';
      return;
    }
    snippet.value = embedSnippet(
      share.embedUrl,
      {
        autoplay: autoplay.checked,
        muted: muted.checked,
        loop: loop.checked,
        start: Math.max(0, Number(start.value) || 0),
      },
      title() || 'Video',
    );
    $('#embed-hint').textContent = share.expiresAt
      ? `This embed stops playing when its link expires, ${fmtDate(share.expiresAt)} (${fmtFromNow(share.expiresAt)}).`
      : 'This embed plays until you revoke its link.';
  }

  const renderAll = () => {
    renderList();
    renderEmbed();
  };

  async function load() {
    try {
      shares = (await api(base)).data;
      renderAll();
    } catch (err) {
      fail(err);
    }
  }

  /**
   * @param {Share} s
   * @param {HTMLButtonElement} button
   */
  async function revokeShare(s, button) {
    const live = isLive(s);
    if (live && !confirm('Revoke this link? Every page and embed that uses it stops playing at once.'))
      return;
    button.disabled = true;
    error.textContent = '';
    try {
      await api(`${base}/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
      shares = shares.filter((x) => x.id !== s.id);
      renderAll();
      // Focus stays in the panel: on the create button (the list item it was in is gone).
      $('#share-create').focus();
      announce(live ? 'The link was revoked: it no longer plays.' : 'The expired link was removed.');
    } catch (err) {
      button.disabled = false;
      fail(err);
    }
  }

  form.addEventListener('submit', async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const data = new FormData(form);
    const label = String(data.get('label') ?? '').trim();
    const button = $('#share-create');
    button.disabled = true;
    error.textContent = '';
    try {
      /** @type {Share} */
      const s = await api(base, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          expiresIn: String(data.get('expiresIn') ?? '7d'),
          ...(label ? { label } : {}),
        }),
      });
      shares = [s, ...shares];
      select.value = s.id;
      renderAll();
      $('#share-label').value = '';
      list.querySelector('input')?.focus();
      announce('Share link created. It is selected: copy it, or use it for the embed code.');
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  });

  for (const el of [select, autoplay, muted, loop, start]) el.addEventListener('input', renderEmbed);
  // Ticking Autoplay ticks Muted (browsers refuse autoplay with sound); the owner may untick it.
  autoplay.addEventListener('change', () => {
    if (autoplay.checked) muted.checked = true;
    renderEmbed();
  });
  copyEmbed.addEventListener('click', () => {
    const share = shares.find((s) => s.id === select.value);
    if (!share || !isLive(share)) return renderAll();
    void copyFrom(snippet, copyEmbed);
  });

  // Expiry sentences move on; a link that expires while the page is open turns into "Expired" at once.
  let timer = 0;
  let ticks = 0;
  const tick = () => {
    const soonest = shares
      .filter((s) => isLive(s) && s.expiresAt)
      .map((s) => new Date(/** @type {string} */ (s.expiresAt)).getTime() - Date.now())
      .reduce((a, b) => Math.min(a, b), TICK_MS);
    clearTimeout(timer);
    timer = window.setTimeout(
      async () => {
        // Views and expiry from the server now and then (another tab may have revoked a link).
        if (++ticks % 4 === 0 && document.visibilityState === 'visible') await load();
        else renderAll();
        tick();
      },
      Math.max(250, Math.min(TICK_MS, soonest + 50)),
    );
  };
  void load().then(tick);
  $('#share').hidden = false;
}

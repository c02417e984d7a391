// @ts-check
// The settings page: API keys (create with a scope, list, revoke) and webhooks (add, delete, send a test
// event, recent deliveries), for a key with admin scope. Other keys get a sentence saying why, not forms.
import {
  $,
  ApiError,
  announce,
  api,
  copyFrom,
  fmtDate,
  fmtFromNow,
  h,
  keyRefused,
  requireKey,
  setUpHeader,
} from './common.js';

/**
 * @typedef {'admin' | 'write' | 'read'} Scope
 * @typedef {{id: string, name: string, scopes: Scope[]}} CurrentKey
 * @typedef {{id: string, name: string, scopes: Scope[], createdAt: string, lastUsedAt: string | null,
 *   revokedAt: string | null}} ApiKey
 * @typedef {{id: string, url: string, events: string[], createdAt: string}} Webhook
 * @typedef {{attempt: number, statusCode: number | null, durationMs: number, error: string | null,
 *   at: string}} Attempt
 * @typedef {{id: number, eventId: string, event: string,
 *   state: 'pending' | 'running' | 'delivered' | 'failed' | 'cancelled', attempts: Attempt[],
 *   nextAttemptAt: string | null, createdAt: string, finishedAt: string | null}} Delivery
 */

/** @type {Record<Scope, string>} */
const SCOPE_LABEL = { admin: 'Admin', write: 'Write', read: 'Read' };
const ALL_EVENTS = ['video.created', 'video.playable', 'video.ready', 'video.failed', 'video.deleted'];
/** How many deliveries each webhook shows. */
const DELIVERIES_SHOWN = 10;

/** @param {Scope[]} scopes */
const widest = (scopes) => (scopes.includes('admin') ? 'admin' : scopes.includes('write') ? 'write' : 'read');

/** @param {unknown} err @param {string} fallback */
const messageOf = (err, fallback) => (err instanceof ApiError ? err.message : fallback);

/** The key this browser uses (GET /v1/keys/current). */
/** @type {CurrentKey} */
let me = { id: '', name: '', scopes: [] };

async function start() {
  setUpHeader();
  await requireKey();
  $('#other-key').addEventListener('click', () => $('#forget-key')?.click());
  try {
    me = await api('/v1/keys/current');
  } catch (err) {
    $('#load-error').textContent = messageOf(err, 'The settings could not be loaded.');
    return;
  }
  /** @type {ApiKey[]} */
  let keys;
  try {
    keys = (await api('/v1/keys')).data;
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      showNotAdmin(err);
      return;
    }
    $('#load-error').textContent = messageOf(err, 'The settings could not be loaded.');
    return;
  }
  $('#admin').hidden = false;
  $('#env-key-note').hidden = me.id !== 'env';
  renderKeys(keys);
  setUpKeyForm();
  setUpHookForm();
  await loadHooks();
}

/** @param {ApiError} err */
function showNotAdmin(err) {
  const access = SCOPE_LABEL[widest(me.scopes)].toLowerCase();
  $('#not-admin-text').textContent =
    `This browser uses “${me.name || me.id}”, a key with ${access} access. The server answered: “${err.message}”`;
  $('#not-admin').hidden = false;
}

/* ---------- API keys ---------- */

async function loadKeys() {
  try {
    renderKeys((await api('/v1/keys')).data);
    $('#keys-error').textContent = '';
  } catch (err) {
    $('#keys-error').textContent = messageOf(err, 'The keys could not be listed.');
  }
}

/** @param {ApiKey[]} keys */
function renderKeys(keys) {
  const byNewest = (/** @type {ApiKey} */ a, /** @type {ApiKey} */ b) =>
    b.createdAt.localeCompare(a.createdAt);
  const active = keys.filter((k) => !k.revokedAt).sort(byNewest);
  const revoked = keys.filter((k) => k.revokedAt).sort(byNewest);
  const rows = [...active, ...revoked].map((key) => {
    const name = key.name || 'Unnamed key';
    const own = key.id === me.id;
    return h(
      'tr',
      { 'data-key-id': key.id, class: key.revokedAt ? 'revoked' : undefined },
      h(
        'td',
        { 'data-label': 'Name' },
        h(
          'div',
          {},
          h('span', { class: 'key-name', text: name }),
          own ? h('span', { class: 'badge mine', text: 'This browser' }) : null,
          h('span', { class: 'key-id', text: key.id }),
        ),
      ),
      h('td', { 'data-label': 'Access', text: SCOPE_LABEL[widest(key.scopes)] }),
      h('td', { 'data-label': 'Created', text: fmtDate(key.createdAt) }),
      h('td', {
        'data-label': 'Last used',
        text: key.lastUsedAt ? fmtFromNow(key.lastUsedAt) : 'Never',
        title: key.lastUsedAt ? fmtDate(key.lastUsedAt) : undefined,
      }),
      h(
        'td',
        { class: 'row-action' },
        key.revokedAt
          ? h('span', { class: 'muted', text: `Revoked ${fmtDate(key.revokedAt)}` })
          : h('button', {
              type: 'button',
              class: 'destructive',
              text: 'Revoke',
              'aria-label': `Revoke key “${name}”${own ? ' (used by this browser)' : ''}`,
              onclick: (/** @type {MouseEvent & {currentTarget: HTMLButtonElement}} */ e) =>
                revokeKey(key, name, e.currentTarget),
            }),
      ),
    );
  });
  $('#keys-body').replaceChildren(
    ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: '5', class: 'muted', text: 'No keys yet.' }))]),
  );
}

/**
 * @param {ApiKey} key
 * @param {string} name
 * @param {HTMLButtonElement} button
 */
async function revokeKey(key, name, button) {
  const own = key.id === me.id;
  const question = own
    ? `“${name}” is the key this browser is using. Revoke it anyway?\n\nThis page stops working at once and asks for another key, and everything else that uses this key is refused too. This cannot be undone.`
    : `Revoke the key “${name}”? Everything that uses it is refused from its next request on. This cannot be undone.`;
  if (!confirm(question)) return;
  button.disabled = true;
  try {
    await api(`/v1/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
  } catch (err) {
    button.disabled = false;
    $('#keys-error').textContent = messageOf(err, 'The key could not be revoked.');
    return;
  }
  if (own) {
    keyRefused();
    return;
  }
  announce(`Key “${name}” revoked.`);
  await loadKeys();
  $('#keys-title').focus();
}

function setUpKeyForm() {
  const form = $('#key-form');
  const nameInput = $('#key-name');
  const error = $('#key-form-error');
  const button = $('#create-key');
  form.addEventListener('submit', async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    error.textContent = '';
    nameInput.removeAttribute('aria-invalid');
    if (!name) {
      error.textContent = 'Give the key a name, so that you know later what uses it.';
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      return;
    }
    const scope = /** @type {Scope} */ (String(new FormData(form).get('scope') ?? 'read'));
    button.disabled = true;
    try {
      /** @type {{id: string, name: string, key: string, scopes: Scope[]}} */
      const created = await api('/v1/keys', { method: 'POST', body: { name, scopes: [scope] } });
      $('#key-created-name').textContent = created.name;
      $('#key-secret').value = created.key;
      $('#key-created').hidden = false;
      form.reset();
      await loadKeys();
      $('#key-secret').focus();
      $('#key-secret').select();
      announce(`Key “${created.name}” created. Copy it now: you won’t see it again.`);
    } catch (err) {
      error.textContent = messageOf(err, 'The key could not be created.');
    } finally {
      button.disabled = false;
    }
  });
  $('#copy-key').addEventListener('click', (/** @type {MouseEvent & {currentTarget: HTMLElement}} */ e) =>
    copyFrom($('#key-secret'), e.currentTarget),
  );
  $('#key-done').addEventListener('click', () => {
    $('#key-secret').value = '';
    $('#key-created').hidden = true;
    nameInput.focus();
  });
}

/* ---------- webhooks ---------- */

async function loadHooks() {
  /** @type {Webhook[]} */
  let hooks;
  try {
    hooks = (await api('/v1/webhooks')).data;
    $('#hooks-error').textContent = '';
  } catch (err) {
    $('#hooks-error').textContent = messageOf(err, 'The webhooks could not be listed.');
    return;
  }
  $('#hooks-empty').hidden = hooks.length > 0;
  $('#hooks').replaceChildren(...hooks.map(hookItem));
  await Promise.all(hooks.map((w) => loadDeliveries(w)));
}

/** @param {Webhook} w */
function hookItem(w) {
  const all = ALL_EVENTS.every((e) => w.events.includes(e));
  const titleId = `hook-${w.id}-url`;
  return h(
    'li',
    { class: 'row hook', 'data-hook-id': w.id, 'aria-labelledby': titleId },
    h(
      'div',
      { class: 'row-head' },
      h('p', { class: 'name', id: titleId, text: w.url }),
      h('p', { class: 'figures', text: `Added ${fmtDate(w.createdAt)}` }),
    ),
    h('p', { class: 'hint', text: all ? 'All video events' : `Events: ${w.events.join(', ')}` }),
    h(
      'div',
      { class: 'actions' },
      h('button', {
        type: 'button',
        text: 'Send test event',
        'aria-label': `Send a test event to ${w.url}`,
        onclick: (/** @type {MouseEvent & {currentTarget: HTMLButtonElement}} */ e) =>
          sendTest(w, e.currentTarget),
      }),
      h('button', {
        type: 'button',
        class: 'destructive',
        text: 'Delete',
        'aria-label': `Delete the webhook to ${w.url}`,
        onclick: () => deleteHook(w),
      }),
    ),
    h('p', { class: 'message', role: 'status', 'data-role': 'test-status' }),
    h(
      'div',
      { class: 'deliveries-head' },
      h('h3', { id: `hook-${w.id}-deliveries`, text: 'Recent deliveries' }),
      h('button', {
        type: 'button',
        class: 'quiet small',
        text: 'Refresh',
        'aria-label': `Refresh the deliveries to ${w.url}`,
        onclick: () => loadDeliveries(w),
      }),
    ),
    h('div', { 'data-role': 'deliveries', 'aria-labelledby': `hook-${w.id}-deliveries`, role: 'region' }),
  );
}

/** @param {Webhook} w */
const itemOf = (w) => $(`li[data-hook-id="${CSS.escape(w.id)}"]`);

/**
 * Fetches and shows a webhook's latest deliveries; resolves with them (undefined when they could not be read).
 * @param {Webhook} w
 * @returns {Promise<Delivery[] | undefined>}
 */
async function loadDeliveries(w) {
  const box = itemOf(w)?.querySelector('[data-role="deliveries"]');
  if (!box) return undefined;
  /** @type {Delivery[]} */
  let list;
  try {
    list = (await api(`/v1/webhooks/${encodeURIComponent(w.id)}/deliveries?limit=${DELIVERIES_SHOWN}`)).data;
  } catch (err) {
    box.replaceChildren(
      h('p', { class: 'error', text: messageOf(err, 'The deliveries could not be read.') }),
    );
    return undefined;
  }
  if (list.length === 0) {
    box.replaceChildren(
      h('p', { class: 'hint', text: 'No deliveries yet. Send a test event to check the endpoint.' }),
    );
    return list;
  }
  box.replaceChildren(
    h(
      'table',
      { class: 'admin-table deliveries' },
      h('caption', { class: 'visually-hidden', text: `Recent deliveries to ${w.url}` }),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Event', 'Status', 'Attempts', 'Last response', 'Next attempt'].map((t) =>
            h('th', { scope: 'col', text: t }),
          ),
        ),
      ),
      h('tbody', {}, ...list.map(deliveryRow)),
    ),
  );
  return list;
}

/** @param {Delivery} d */
function stateLabel(d) {
  switch (d.state) {
    case 'delivered':
      return { text: 'Delivered', tone: 'ready' };
    case 'failed':
      return { text: 'Failed', tone: 'failed' };
    case 'cancelled':
      return { text: 'Cancelled', tone: 'cancelled' };
    case 'running':
      return { text: 'Sending', tone: 'processing' };
    default:
      return { text: d.attempts.length ? 'Retrying' : 'Waiting', tone: 'processing' };
  }
}

/** @param {Attempt | undefined} a */
function responseText(a) {
  if (!a) return '–';
  if (a.statusCode !== null) return `HTTP ${a.statusCode}${a.error ? `: ${a.error}` : ''}`;
  return a.error ?? 'No answer';
}

/** @param {Delivery} d */
function deliveryRow(d) {
  const last = d.attempts[d.attempts.length - 1];
  const state = stateLabel(d);
  return h(
    'tr',
    { 'data-delivery-id': String(d.id), 'data-state': d.state },
    h(
      'td',
      { 'data-label': 'Event' },
      h(
        'div',
        {},
        h('span', { class: 'event', text: d.event }),
        h('span', { class: 'key-id', text: fmtDate(d.createdAt) }),
      ),
    ),
    h('td', { 'data-label': 'Status' }, h('span', { class: `badge ${state.tone}`, text: state.text })),
    h('td', { 'data-label': 'Attempts', text: String(d.attempts.length) }),
    h('td', { 'data-label': 'Last response', text: responseText(last) }),
    h('td', {
      'data-label': 'Next attempt',
      text: d.nextAttemptAt ? fmtFromNow(d.nextAttemptAt) : '–',
      title: d.nextAttemptAt ? fmtDate(d.nextAttemptAt) : undefined,
    }),
  );
}

/**
 * POST /v1/webhooks/{id}/test, then follows that delivery until its first attempt has an outcome.
 * @param {Webhook} w
 * @param {HTMLButtonElement} button
 */
async function sendTest(w, button) {
  const status = itemOf(w)?.querySelector('[data-role="test-status"]');
  const say = (/** @type {string} */ text, error = false) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('error', error);
  };
  button.disabled = true;
  say('Sending a test event…');
  try {
    /** @type {Delivery} */
    const queued = await api(`/v1/webhooks/${encodeURIComponent(w.id)}/test`, { method: 'POST' });
    const until = Date.now() + 30_000;
    for (;;) {
      const list = await loadDeliveries(w);
      const d = list?.find((x) => x.id === queued.id);
      if (d && d.state === 'delivered') {
        say(`Test event delivered: ${responseText(d.attempts[d.attempts.length - 1])}.`);
        break;
      }
      if (
        d &&
        (d.state === 'failed' || d.state === 'cancelled' || (d.state === 'pending' && d.attempts.length))
      ) {
        const next = d.nextAttemptAt ? ` Reel tries again ${fmtFromNow(d.nextAttemptAt)}.` : '';
        say(
          `The test event was not delivered: ${responseText(d.attempts[d.attempts.length - 1])}.${next}`,
          true,
        );
        break;
      }
      if (Date.now() > until) {
        say('The test event is queued; Refresh shows how it went.');
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    say(messageOf(err, 'The test event could not be sent.'), true);
  } finally {
    button.disabled = false;
  }
}

/** @param {Webhook} w */
async function deleteHook(w) {
  if (!confirm(`Delete the webhook to ${w.url}? Deliveries it has not received yet are cancelled.`)) return;
  try {
    await api(`/v1/webhooks/${encodeURIComponent(w.id)}`, { method: 'DELETE' });
  } catch (err) {
    $('#hooks-error').textContent = messageOf(err, 'The webhook could not be deleted.');
    return;
  }
  announce('Webhook deleted.');
  await loadHooks();
  $('#hooks-title').focus();
}

function setUpHookForm() {
  const form = $('#hook-form');
  const urlInput = $('#hook-url');
  const error = $('#hook-form-error');
  const button = $('#create-hook');
  form.addEventListener('submit', async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const url = urlInput.value.trim();
    const events = new FormData(form).getAll('events').map(String);
    error.textContent = '';
    urlInput.removeAttribute('aria-invalid');
    if (!url) {
      error.textContent = 'Enter the URL Reel should send the events to.';
      urlInput.setAttribute('aria-invalid', 'true');
      urlInput.focus();
      return;
    }
    if (events.length === 0) {
      error.textContent = 'Choose at least one event.';
      form.querySelector('input[name="events"]')?.focus();
      return;
    }
    button.disabled = true;
    try {
      /** @type {Webhook & {secret: string}} */
      const created = await api('/v1/webhooks', { method: 'POST', body: { url, events } });
      $('#hook-created-url').textContent = created.url;
      $('#hook-secret').value = created.secret;
      $('#hook-created').hidden = false;
      form.reset();
      await loadHooks();
      $('#hook-secret').focus();
      $('#hook-secret').select();
      announce('Webhook added. Copy its signing secret now: you won’t see it again.');
    } catch (err) {
      error.textContent = messageOf(err, 'The webhook could not be added.');
      if (err instanceof ApiError && err.status === 400) {
        urlInput.setAttribute('aria-invalid', 'true');
        urlInput.focus();
      }
    } finally {
      button.disabled = false;
    }
  });
  $('#copy-hook-secret').addEventListener(
    'click',
    (/** @type {MouseEvent & {currentTarget: HTMLElement}} */ e) =>
      copyFrom($('#hook-secret'), e.currentTarget),
  );
  $('#hook-done').addEventListener('click', () => {
    $('#hook-secret').value = '';
    $('#hook-created').hidden = true;
    urlInput.focus();
  });
}

start();

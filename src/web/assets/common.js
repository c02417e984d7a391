// @ts-check
// Shared by the pages: the API key (asked once, kept in this browser), API calls, the live feed, formats.
import { showUploadIndicator } from './uploadActivity.js';

/**
 * A video as the API answers it (GET /v1/videos/{id}).
 * @typedef {{id: string, title: string, status: 'uploading' | 'queued' | 'processing' | 'ready' | 'failed',
 *   progress: number, error: string | null, durationMs: number | null, width: number | null,
 *   height: number | null, playbackPolicy: 'public' | 'signed', createdAt: string, readyAt: string | null,
 *   playable: boolean, playableAt: string | null,
 *   renditions: {name: string, width: number, height: number, bandwidth: number}[]}} Video
 */

const KEY_ITEM = 'reel.apiKey';

/**
 * The element that `selector` names (the pages' HTML holds it; null when it does not).
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Creates an element: h('p', {class: 'x', text: 'hi'}, child, …).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {any}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export const getKey = () => localStorage.getItem(KEY_ITEM);

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{message?: string, code?: string} | null} body
   */
  constructor(status, body) {
    super(body?.message ?? `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code;
  }
}

/**
 * Says something to screen readers (and nothing on screen).
 * @param {string} message
 */
export function announce(message) {
  const el = $('#announcer');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => {
    el.textContent = message;
  }, 50);
}

/** @type {((key: string) => void)[]} */
let gateWaiters = [];

/** Shows the API key form in place of the page until a key that works is entered. */
/** @param {string} [reason] */
function showKeyGate(reason) {
  const app = $('#app');
  let gate = $('#key-gate');
  if (!gate) {
    gate = h(
      'section',
      { id: 'key-gate', class: 'panel narrow', 'aria-labelledby': 'key-title' },
      h('h1', { id: 'key-title', text: 'Enter your API key' }),
      h('p', {
        text: 'Reel printed an API key the first time it started (more with “reel keys create”). This browser keeps it, so you enter it once.',
      }),
      h(
        'form',
        { id: 'key-form', novalidate: true },
        h('label', { for: 'api-key', text: 'API key' }),
        h('input', {
          id: 'api-key',
          name: 'key',
          type: 'password',
          autocomplete: 'current-password',
          spellcheck: 'false',
          required: true,
          'aria-describedby': 'key-error',
        }),
        h('p', { id: 'key-error', class: 'error', role: 'alert' }),
        h('button', { type: 'submit', class: 'primary', text: 'Continue' }),
      ),
    );
    $('#main').prepend(gate);
    $('#key-form').addEventListener('submit', async (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      const input = $('#api-key');
      const key = input.value.trim();
      const error = $('#key-error');
      if (!key) {
        error.textContent = 'Paste the API key first.';
        input.focus();
        return;
      }
      const res = await fetch('/v1/videos?limit=1', { headers: { Authorization: `Bearer ${key}` } }).catch(
        () => null,
      );
      if (!res) {
        error.textContent = 'The server cannot be reached. Check your connection and try again.';
        return;
      }
      if (res.status === 401) {
        error.textContent = 'This key is not accepted: it is unknown or was revoked.';
        input.setAttribute('aria-invalid', 'true');
        input.select();
        return;
      }
      localStorage.setItem(KEY_ITEM, key);
      gate.hidden = true;
      if (app) app.hidden = false;
      for (const a of document.querySelectorAll('.top nav a[data-current]')) {
        a.setAttribute('aria-current', 'page');
        a.removeAttribute('data-current');
      }
      $('#forget-key')?.removeAttribute('hidden');
      $('#main').focus();
      announce('API key saved.');
      const waiters = gateWaiters;
      gateWaiters = [];
      // A key refused after the page had started: start it again with the new key.
      if (waiters.length === 0) location.reload();
      for (const w of waiters) w(key);
    });
  }
  if (app) app.hidden = true;
  gate.hidden = false;
  // The key screen is none of the pages in the menu: none is marked current while it shows.
  for (const a of document.querySelectorAll('.top nav a[aria-current]')) {
    a.removeAttribute('aria-current');
    a.setAttribute('data-current', 'page');
  }
  $('#key-error').textContent = reason ?? '';
  $('#api-key').value = '';
  $('#api-key').focus();
}

/** Resolves with the API key: the stored one, or the one entered in the form. */
export function requireKey() {
  const key = getKey();
  if (key) {
    $('#forget-key')?.removeAttribute('hidden');
    const app = $('#app');
    if (app) app.hidden = false;
    return Promise.resolve(key);
  }
  return new Promise((resolve) => {
    gateWaiters.push(resolve);
    showKeyGate();
  });
}

/** The server refused the stored key: forget it and ask again. */
export function keyRefused() {
  localStorage.removeItem(KEY_ITEM);
  $('#forget-key')?.setAttribute('hidden', '');
  showKeyGate('The stored API key was refused (revoked, or another server). Enter a key that works.');
}

/**
 * A call to the API with the stored key; JSON in, JSON out; throws ApiError with the server's message.
 * @param {string} path
 * @param {{method?: string, headers?: Record<string, string>, body?: unknown}} [init]
 * @returns {Promise<any>}
 */
export async function api(path, init = {}) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${getKey()}`, ...(init.headers ?? {}) };
  if (init.body !== undefined && typeof init.body !== 'string') {
    headers['Content-Type'] = 'application/json';
    init = { ...init, body: JSON.stringify(init.body) };
  }
  let res;
  try {
    res = await fetch(path, { .../** @type {RequestInit} */ (init), headers });
  } catch {
    throw new ApiError(0, { message: 'The server cannot be reached. Check your connection.' });
  }
  if (res.status === 401) {
    keyRefused();
    throw new ApiError(401, await res.json().catch(() => null));
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/**
 * Follows the server-sent events at `path` with the API key in the Authorization header (EventSource cannot
 * send headers, so the stream is read with fetch). Reconnects with backoff. Returns a function that stops.
 * @param {string} path
 * @param {{onEvent: (event: string, data: any) => void, onState: (state: 'open' | 'reconnecting' | 'closed') => void}} handlers
 * @returns {() => void}
 */
export function followEvents(path, { onEvent, onState }) {
  let stopped = false;
  /** @type {AbortController | undefined} */
  let controller;
  (async () => {
    let delay = 1000;
    while (!stopped) {
      controller = new AbortController();
      try {
        const res = await fetch(path, {
          headers: { Authorization: `Bearer ${getKey()}`, Accept: 'text/event-stream' },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (res.status === 401) {
          keyRefused();
          onState('closed');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        delay = 1000;
        onState('open');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length === 0) continue;
            try {
              onEvent(event, JSON.parse(data.join('\n')));
            } catch (err) {
              console.error('live feed: bad event', err);
            }
          }
        }
      } catch {
        // a dropped connection, or stopped
      }
      if (stopped) return;
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  })();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** Header behaviour shared by the pages that need a key. */
export function setUpHeader() {
  // Viewing analytics (/analytics), before the API reference.
  const nav = $('header.top nav');
  if (nav && !nav.querySelector('a[href="/analytics"]'))
    nav.querySelector('a[href="/docs"]')?.before(h('a', { href: '/analytics', text: 'Analytics' }));
  // Uploads running in this browser (any tab), linked to the upload page.
  showUploadIndicator();
  const forget = $('#forget-key');
  forget?.addEventListener('click', () => {
    if (!confirm('Forget the API key in this browser? You will be asked for it again.')) return;
    localStorage.removeItem(KEY_ITEM);
    location.reload();
  });
}

/** @param {number} n */
export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** @param {number} bitsPerSecond */
export function fmtBitrate(bitsPerSecond) {
  if (!Number.isFinite(bitsPerSecond) || bitsPerSecond <= 0) return '–';
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(bitsPerSecond < 1e7 ? 1 : 0)} Mbit/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kbit/s`;
}

/**
 * 83 → "1:23", 3725 → "1:02:05".
 * @param {number} seconds
 */
export function fmtDuration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * Seconds as words for "time left": "45 s", "3 min", "1 h 5 min".
 * @param {number} seconds
 */
export function fmtEta(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** @param {string} iso */
export function fmtDate(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * "in 59 minutes", "in 3 days".
 * @param {string} iso
 */
export function fmtFromNow(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 90) return rtf.format(Math.round(seconds), 'second');
  if (abs < 5400) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 129600) return rtf.format(Math.round(seconds / 3600), 'hour');
  return rtf.format(Math.round(seconds / 86400), 'day');
}

/** @type {Record<string, string>} */
export const STATUS_LABEL = {
  uploading: 'Uploading',
  queued: 'Queued',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
};

/**
 * Copies the text of an input or textarea, and says so.
 * @param {HTMLInputElement | HTMLTextAreaElement} input
 * @param {HTMLElement} button
 */
export async function copyFrom(input, button) {
  input.select();
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    ok = document.execCommand?.('copy') ?? false;
  }
  const label = button.textContent;
  button.textContent = ok ? 'Copied' : 'Press Ctrl+C to copy';
  announce(ok ? 'Copied to the clipboard.' : 'Selected: press Control C to copy.');
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
}

// @ts-check
// The upload page: several files at once over tus (tus-js-client's browser build, loaded as window.tus),
// each with progress, speed and time left, pause and resume. tus-js-client remembers every unfinished
// upload in localStorage under a fingerprint of the file (name, type, size, modification time, endpoint):
// after a reload or a lost connection, choosing the same file again continues from the server's offset.
// A file's first bytes are checked before anything is sent (sniff.js). Files start as soon as they are
// added (a setting, remembered); title and privacy stay editable per file (PATCH once the video exists).
// While uploads run, leaving the page asks first, and every page's header shows them (uploadActivity.js).
import {
  $,
  ApiError,
  announce,
  api,
  fmtBytes,
  fmtDate,
  fmtEta,
  getKey,
  h,
  keyRefused,
  requireKey,
  setUpHeader,
} from './common.js';
import { sniffFile, sniffRefusal } from './sniff.js';
import { guardUnload, publishUploads } from './uploadActivity.js';
import { setUpUploadLinks } from './uploadLinks.js';

const ENDPOINT = new URL('/v1/uploads', location.href).href;
// Chunks bound each PATCH request (proxies often limit body sizes); a setting for tests and odd proxies.
const CHUNK_BYTES = Number(localStorage.getItem('reel.uploadChunkBytes')) || 16 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10_000, 20_000];
const AUTO_START_ITEM = 'reel.uploadAutoStart';
/** Speed and time left are shown only from progress this recent. */
const FRESH_PROGRESS_MS = 5000;
const VIDEO_EXTENSIONS =
  /\.(mp4|m4v|mov|mkv|webm|avi|wmv|flv|mpg|mpeg|m2ts|mts|ts|3gp|3g2|ogv|mxf|dv|vob|hevc|h264|y4m)$/i;

let maxBytes = Number.POSITIVE_INFINITY;
const queue = $('#queue');
/** Every file on the page. @type {Item[]} */
const items = [];
let serial = 0;

/** The server's largest accepted upload (tus OPTIONS: Tus-Max-Size). */
async function loadLimits() {
  try {
    const res = await fetch('/v1/uploads', { method: 'OPTIONS' });
    const max = Number(res.headers.get('Tus-Max-Size'));
    if (max > 0) {
      maxBytes = max;
      $('#limits').textContent =
        `MP4, MOV, MKV, WebM and other video files, up to ${fmtBytes(max)} each. ` +
        'Uploads continue where they stopped after a reload or a lost connection.';
    }
  } catch {
    // the server will say it when a file is too large
  }
}

/**
 * A reason not to upload this file, or null.
 * @param {File} file
 */
function refusal(file) {
  const type = file.type;
  const looksLikeVideo =
    type.startsWith('video/') ||
    ((type === '' || type === 'application/octet-stream' || type === 'application/x-matroska') &&
      VIDEO_EXTENSIONS.test(file.name));
  if (!looksLikeVideo) {
    return `“${file.name}” is not a video${type ? ` (it is ${type})` : ''}. Choose a video file such as MP4, MOV, MKV or WebM.`;
  }
  if (file.size === 0) return `“${file.name}” is empty (0 bytes). Choose the video file again.`;
  if (file.size > maxBytes) {
    let [size, max] = [fmtBytes(file.size), fmtBytes(maxBytes)];
    if (size === max) [size, max] = [file.size, maxBytes].map((n) => `${n.toLocaleString('en')} bytes`);
    return `“${file.name}” is too large: ${size}, and this server accepts at most ${max} per file.`;
  }
  return null;
}

/**
 * A reason not to upload this file found in its first bytes (a text file renamed .mp4), or null.
 * @param {File} file
 */
async function contentRefusal(file) {
  try {
    const sniffed = await sniffFile(file);
    return sniffed.ok ? null : sniffRefusal(file.name, sniffed.what);
  } catch {
    return `“${file.name}” cannot be read (it was moved, or access to it was lost). Choose it again.`;
  }
}

/**
 * The message a person can act on, from tus-js-client's error (which carries the server's JSON body).
 * @param {Error & {originalResponse?: import('tus-js-client').HttpResponse | null}} err
 * @param {File} file
 */
function describeError(err, file) {
  const res = err.originalResponse;
  const status = res?.getStatus?.() ?? 0;
  let body = null;
  try {
    body = JSON.parse(res?.getBody?.() ?? '');
  } catch {
    // not JSON
  }
  if (status === 401) {
    keyRefused();
    return 'The API key was refused. Enter a valid key, then press Resume.';
  }
  if (status === 413) return `“${file.name}” is too large. ${body?.message ?? ''}`.trim();
  if (body?.message) return body.message;
  if (status === 0) return 'The connection was lost. Press Resume to continue where it stopped.';
  return `The upload failed (HTTP ${status}). Press Resume to try again.`;
}

/** The page's default privacy for new files. @returns {'public' | 'signed'} */
function policy() {
  return new FormData($('#upload-form')).get('policy') === 'public' ? 'public' : 'signed';
}

const autoStart = () => localStorage.getItem(AUTO_START_ITEM) !== 'false';

class Item {
  /**
   * @param {File} file
   * @param {import('tus-js-client').PreviousUpload | null} [previous] an unfinished upload this file continues
   */
  constructor(file, previous = null) {
    this.file = file;
    /** @type {import('tus-js-client').Upload | null} */
    this.upload = null;
    this.previous = previous;
    this.state = 'ready';
    /** The video's id once the server created the upload. @type {string | null} */
    this.videoId = null;
    /** What the server has (or will have, once created): title and privacy. */
    this.sent = { title: '', policy: '' };
    /** Bytes sent, and of how many. */
    this.bytes = { sent: 0, total: file.size };
    /** [time, bytes] of recent progress, for the speed. @type {[number, number][]} */
    this.samples = [];
    const n = ++serial;
    this.ids = { title: `title-${n}`, progress: `progress-${n}`, name: `name-${n}`, policy: `policy-${n}` };
    this.titleInput = h('input', {
      id: this.ids.title,
      type: 'text',
      maxlength: 200,
      value: file.name.replace(/\.[^.]*$/, ''),
      onchange: () => void this.saveChanges(),
    });
    this.policySelect = h(
      'select',
      { id: this.ids.policy, onchange: () => void this.saveChanges() },
      h('option', { value: 'signed', text: 'Signed' }),
      h('option', { value: 'public', text: 'Public' }),
    );
    this.policySelect.value = policy();
    this.progress = h('progress', {
      id: this.ids.progress,
      max: 100,
      value: 0,
      'aria-labelledby': this.ids.name,
    });
    this.figures = h('p', { class: 'figures', 'aria-live': 'off' });
    this.message = h('p', { class: 'message', role: 'status' });
    this.pauseButton = h('button', {
      type: 'button',
      class: 'pause',
      hidden: true,
      onclick: () => this.toggle(),
    });
    this.removeButton = h('button', {
      type: 'button',
      class: 'remove quiet',
      text: 'Remove',
      'aria-label': `Remove ${file.name}`,
      onclick: () => this.remove(),
    });
    this.fields = h(
      'div',
      { class: 'item-fields' },
      h(
        'div',
        { class: 'field title-field' },
        h('label', { for: this.ids.title, text: 'Title' }),
        this.titleInput,
      ),
      h(
        'div',
        { class: 'field policy-field' },
        h('label', { for: this.ids.policy, text: 'Who can watch' }),
        this.policySelect,
      ),
    );
    this.el = h(
      'li',
      { class: 'row upload-item', 'data-state': 'ready' },
      h(
        'div',
        { class: 'row-head' },
        h('span', { id: this.ids.name, class: 'name', text: file.name }),
        h('span', { class: 'size', text: fmtBytes(file.size) }),
      ),
      this.fields,
      this.progress,
      this.figures,
      this.message,
      h('div', { class: 'actions' }, this.pauseButton, this.removeButton),
    );
    this.progress.hidden = true;
    if (previous) this.takePrevious(previous);
  }

  /** @param {string} state */
  setState(state) {
    this.state = state;
    this.el.dataset.state = state;
    const active = state === 'uploading' || state === 'paused' || state === 'error';
    this.pauseButton.hidden = !active;
    this.pauseButton.textContent = state === 'uploading' ? 'Pause' : 'Resume';
    this.pauseButton.setAttribute(
      'aria-label',
      `${state === 'uploading' ? 'Pause' : 'Resume'} ${this.file.name}`,
    );
    this.removeButton.textContent = state === 'done' ? 'Clear' : active ? 'Cancel' : 'Remove';
    this.removeButton.setAttribute('aria-label', `${this.removeButton.textContent} ${this.file.name}`);
    this.message.classList.toggle('error', state === 'error' || state === 'refused');
    this.message.setAttribute('role', state === 'error' || state === 'refused' ? 'alert' : 'status');
    this.renderFigures();
    updateQueueActions();
    publishActivity();
  }

  /** @param {string} reason */
  refuse(reason) {
    this.fields.hidden = true;
    this.message.textContent = reason;
    this.setState('refused');
  }

  /** @param {import('tus-js-client').PreviousUpload} previous */
  takePrevious(previous) {
    this.previous = previous;
    const title = previous.metadata?.['title'];
    if (title) this.titleInput.value = title;
    const p = previous.metadata?.['playback_policy'];
    if (p === 'public' || p === 'signed') this.policySelect.value = p;
    this.sent = { title: this.titleInput.value, policy: this.policySelect.value };
    this.videoId = previous.uploadUrl?.split('/').pop() ?? null;
    this.message.textContent = 'Continues an earlier upload of this file.';
    document.querySelector(`[data-storage-key="${CSS.escape(previous.urlStorageKey)}"]`)?.remove();
    updateUnfinishedSection();
  }

  /** Looks for an unfinished upload of this very file (same fingerprint) to continue. */
  async findPrevious() {
    if (this.previous) return;
    const probe = new window.tus.Upload(this.file, { endpoint: ENDPOINT });
    const previous = (await probe.findPreviousUploads()).sort((a, b) =>
      String(b.creationTime).localeCompare(String(a.creationTime)),
    )[0];
    if (previous) this.takePrevious(previous);
  }

  start() {
    if (this.upload) return;
    const file = this.file;
    const title = this.titleInput.value.trim() || file.name.replace(/\.[^.]*$/, '');
    const metadata = this.previous?.metadata ?? {
      filename: file.name,
      title,
      playback_policy: this.policySelect.value,
    };
    if (!this.previous) this.sent = { title, policy: this.policySelect.value };
    this.progress.hidden = false;
    this.upload = new window.tus.Upload(file, {
      endpoint: ENDPOINT,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS,
      metadata,
      removeFingerprintOnSuccess: true,
      onBeforeRequest: (req) => {
        req.setHeader('Authorization', `Bearer ${getKey()}`);
      },
      onShouldRetry: (err, attempt) => {
        const status = err.originalResponse?.getStatus?.() ?? 0;
        const retry = status === 0 || status >= 500 || status === 409 || status === 423;
        if (retry) {
          this.message.textContent = navigator.onLine
            ? `Connection trouble; trying again (${attempt + 1})…`
            : 'Offline. The upload goes on by itself when the connection is back.';
          this.samples = [];
          this.renderFigures();
        }
        return retry;
      },
      onUploadUrlAvailable: () => {
        this.videoId = this.upload?.url?.split('/').pop() ?? null;
        publishActivity();
        // A title or privacy changed while the upload was being created.
        void this.saveChanges();
      },
      onProgress: (sent, total) => this.onProgress(sent, total),
      onSuccess: () => this.onSuccess(),
      onError: (err) => {
        this.message.textContent = describeError(err, file);
        this.setState('error');
      },
    });
    if (this.previous) this.upload.resumeFromPreviousUpload(this.previous);
    this.samples = [];
    this.message.textContent = this.previous ? 'Continuing where it stopped…' : 'Starting…';
    this.setState('uploading');
    this.upload.start();
  }

  /** Sends a changed title or privacy to the video, once it exists (PATCH /v1/videos/{id}). */
  async saveChanges() {
    if (!this.upload || !this.videoId) return;
    const title = this.titleInput.value.trim();
    const playbackPolicy = this.policySelect.value;
    /** @type {{title?: string, playbackPolicy?: string}} */
    const body = {};
    if (title && title !== this.sent.title) body.title = title;
    if (playbackPolicy !== this.sent.policy) body.playbackPolicy = playbackPolicy;
    if (Object.keys(body).length === 0) return;
    try {
      await api(`/v1/videos/${encodeURIComponent(this.videoId)}`, { method: 'PATCH', body });
      this.sent = { title: body.title ?? this.sent.title, policy: playbackPolicy };
      announce(
        body.playbackPolicy ? `${this.file.name}: now ${playbackPolicy}.` : `${this.file.name}: title saved.`,
      );
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        this.message.textContent = `The change was not saved: ${/** @type {Error} */ (err).message}`;
      }
    }
  }

  /**
   * @param {number} sent
   * @param {number} total
   */
  onProgress(sent, total) {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    this.bytes = { sent, total };
    const pct = total ? Math.floor((sent / total) * 100) : 0;
    this.progress.value = pct;
    this.progress.setAttribute('aria-valuetext', `${pct}%`);
    this.renderFigures();
    if (this.state === 'uploading') this.message.textContent = 'Uploading…';
    publishActivity(true);
  }

  /**
   * Bytes sent; speed and time left only while bytes are moving now (never when paused, failed, offline or
   * stalled: old figures would lie).
   */
  renderFigures() {
    const { sent, total } = this.bytes;
    if (this.progress.hidden) {
      this.figures.textContent = '';
      return;
    }
    const pct = total ? Math.floor((sent / total) * 100) : 0;
    const parts = [`${fmtBytes(sent)} of ${fmtBytes(total)} (${pct}%)`];
    const now = performance.now();
    const last = this.samples.at(-1);
    const moving =
      this.state === 'uploading' && navigator.onLine && last && now - last[0] < FRESH_PROGRESS_MS;
    if (moving && this.samples.length > 1) {
      const [t0, b0] = this.samples[0];
      const speed = now - t0 > 300 ? ((sent - b0) * 1000) / (now - t0) : 0;
      if (speed > 0 && sent < total)
        parts.push(`${fmtBytes(speed)}/s`, `${fmtEta((total - sent) / speed)} left`);
    } else if (this.state === 'paused') {
      parts.push('paused');
    } else if (this.state === 'uploading' && !navigator.onLine) {
      parts.push('offline');
    }
    this.figures.textContent = parts.join(' · ');
  }

  onSuccess() {
    const url = /** @type {string} */ (/** @type {import('tus-js-client').Upload} */ (this.upload).url);
    const id = /** @type {string} */ (url.split('/').pop());
    this.videoId = id;
    this.bytes = { sent: this.file.size, total: this.file.size };
    this.progress.value = 100;
    this.message.replaceChildren(
      'Uploaded. Reel is processing it: ',
      h('a', { href: `/videos/${encodeURIComponent(id)}`, text: 'open the video' }),
      ' or follow it in the ',
      h('a', { href: '/', text: 'library' }),
      '.',
    );
    this.el.dataset.videoId = id;
    this.setState('done');
    announce(`${this.file.name} uploaded.`);
  }

  toggle() {
    if (!this.upload) return;
    if (this.state === 'uploading') {
      void this.upload.abort(false);
      this.samples = [];
      this.message.textContent =
        'Paused. Resume continues where it stopped; after a reload, pick the same file again.';
      this.setState('paused');
    } else {
      this.message.textContent = 'Continuing…';
      this.samples = [];
      this.setState('uploading');
      this.upload.start();
    }
  }

  async remove() {
    if (this.upload && this.state !== 'done') {
      if (!confirm(`Cancel the upload of “${this.file.name}”? What was sent is discarded.`)) return;
      await this.upload.abort(true).catch(() => undefined);
    }
    this.el.remove();
    items.splice(items.indexOf(this), 1);
    updateQueueActions();
    publishActivity();
    $('#files').focus();
  }
}

let lastPublished = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let trailing;
/**
 * Tells the other pages (header indicator, library) what this page is uploading.
 * @param {boolean} [throttled] at most twice a second (progress events)
 */
function publishActivity(throttled = false) {
  const now = performance.now();
  clearTimeout(trailing);
  if (throttled && now - lastPublished < 500) {
    // The last figures of a burst are published too, a moment later.
    trailing = setTimeout(() => publishActivity(), 500);
    return;
  }
  lastPublished = now;
  publishUploads(
    items
      .filter((i) => i.state === 'uploading' || i.state === 'paused')
      .map((i) => ({
        id: i.videoId,
        name: i.file.name,
        sent: i.bytes.sent,
        total: i.bytes.total,
        paused: i.state === 'paused',
      })),
  );
}

function updateQueueActions() {
  const waiting = items.filter((i) => i.state === 'ready').length;
  $('#queue-actions').hidden = waiting === 0;
  $('#start-all').textContent = waiting === 1 ? 'Start upload' : `Start ${waiting} uploads`;
}

/**
 * Adds files to the queue: each is checked (type, size, then its first bytes) before anything is sent;
 * a file that continues an unfinished upload goes on at once, the others when the setting says so.
 * @param {File[]} files
 * @param {import('tus-js-client').PreviousUpload} [previous] the unfinished upload these files continue
 */
async function addFiles(files, previous) {
  await loadLimits();
  const start = autoStart();
  for (const file of files) {
    const item = new Item(file);
    items.push(item);
    queue.append(item.el);
    const reason = refusal(file) ?? (await contentRefusal(file));
    if (reason) {
      item.refuse(reason);
      continue;
    }
    if (previous) item.takePrevious(previous);
    else await item.findPrevious().catch(() => undefined);
    // A file that continues an earlier upload goes on at once: its title and policy were chosen then.
    if (item.previous || start) item.start();
  }
  updateQueueActions();
  announce(`${files.length} file${files.length === 1 ? '' : 's'} added.`);
}

/**
 * Lists the uploads this browser left unfinished (tus-js-client's URL storage), each with how far it got
 * (tus HEAD) and a button to pick its file again, which continues it from there.
 */
async function showUnfinished() {
  const list = $('#unfinished');
  list.replaceChildren();
  const running = new Set(items.map((i) => i.upload?.url).filter(Boolean));
  const entries = (await window.tus.defaultOptions.urlStorage.findAllUploads()).filter(
    (e) => e.urlStorageKey.includes(ENDPOINT) && e.uploadUrl && !running.has(e.uploadUrl),
  );
  let n = 0;
  for (const entry of entries) {
    const uploadUrl = /** @type {string} */ (entry.uploadUrl);
    const name = entry.metadata?.['filename'] ?? 'a file';
    const inputId = `unfinished-file-${++n}`;
    const figures = h('span', { class: 'figures', text: fmtBytes(entry.size ?? Number.NaN) });
    const message = h('p', { class: 'message error', role: 'alert' });
    const input = h('input', {
      id: inputId,
      type: 'file',
      class: 'file-input',
      accept: $('#files').getAttribute('accept'),
    });
    input.addEventListener('change', () => {
      const file = /** @type {File | undefined} */ (input.files?.[0]);
      input.value = '';
      if (!file) return;
      if (entry.size !== null && file.size !== entry.size) {
        message.textContent = `“${file.name}” is not the file of this upload: it has ${file.size.toLocaleString('en')} bytes, the upload ${entry.size.toLocaleString('en')}.`;
        return;
      }
      message.textContent = '';
      void addFiles([file], entry);
    });
    const row = h(
      'li',
      { class: 'row', 'data-storage-key': entry.urlStorageKey },
      h(
        'div',
        { class: 'row-head' },
        h('span', { class: 'name', text: name }),
        entry.creationTime
          ? h('span', { class: 'size', text: `started ${fmtDate(entry.creationTime)}` })
          : '',
      ),
      figures,
      message,
      h(
        'div',
        { class: 'actions' },
        h(
          'span',
          { class: 'unfinished-pick' },
          input,
          h('label', {
            for: inputId,
            class: 'button primary',
            text: 'Pick the file to resume',
            'aria-label': `Pick ${name} again to resume its upload`,
          }),
        ),
        h('button', {
          type: 'button',
          class: 'quiet destructive',
          text: 'Discard',
          'aria-label': `Discard the unfinished upload of ${name}`,
          onclick: async () => {
            await fetch(uploadUrl, {
              method: 'DELETE',
              headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${getKey()}` },
            }).catch(() => undefined);
            await window.tus.defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
            row.remove();
            updateUnfinishedSection();
            announce(`Unfinished upload of ${name} discarded.`);
          },
        }),
      ),
    );
    list.append(row);
    fetch(uploadUrl, {
      method: 'HEAD',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${getKey()}` },
    })
      .then((res) => {
        if (res.status === 404 || res.status === 410) {
          void window.tus.defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
          row.remove();
          updateUnfinishedSection();
          return;
        }
        const offset = Number(res.headers.get('Upload-Offset'));
        if (res.ok && entry.size) {
          figures.textContent = `${fmtBytes(offset)} of ${fmtBytes(entry.size)} uploaded (${Math.floor((offset / entry.size) * 100)}%)`;
        }
      })
      .catch(() => undefined);
  }
  updateUnfinishedSection();
}

function updateUnfinishedSection() {
  $('#unfinished-section').hidden = $('#unfinished').children.length === 0;
}

function setUpDropping() {
  const drop = $('#drop');
  const hasFiles = (/** @type {DragEvent} */ e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  // Anywhere on the page: a file dropped outside the zone must not make the browser open it.
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    drop.classList.add('over');
  });
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) drop.classList.remove('over');
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    drop.classList.remove('over');
    void addFiles([.../** @type {DataTransfer} */ (e.dataTransfer).files]);
  });
  $('#files').addEventListener('change', (/** @type {Event & {target: HTMLInputElement}} */ e) => {
    const files = [.../** @type {FileList} */ (e.target.files)];
    e.target.value = '';
    void addFiles(files);
  });
}

function setUpAutoStart() {
  const box = $('#auto-start');
  box.checked = autoStart();
  box.addEventListener('change', () => {
    localStorage.setItem(AUTO_START_ITEM, box.checked ? 'true' : 'false');
    announce(box.checked ? 'Files start as soon as they are added.' : 'Files wait for Start.');
  });
}

setUpHeader();
setUpDropping();
setUpAutoStart();
setUpUploadLinks();
$('#start-all').addEventListener('click', () => {
  for (const item of items) if (item.state === 'ready') item.start();
});
// Leaving while bytes are being sent asks first.
guardUnload(() => items.some((i) => i.state === 'uploading'));
// Offline: the figures say so at once (no stale speed); back online, uploads stopped by the lost connection
// go on by themselves.
window.addEventListener('offline', () => {
  for (const item of items) {
    if (item.state !== 'uploading') continue;
    item.samples = [];
    item.message.textContent = 'Offline. The upload goes on by itself when the connection is back.';
    item.renderFigures();
  }
});
window.addEventListener('online', () => {
  for (const item of items) if (item.state === 'error' && item.upload) item.toggle();
});
// Speed and time left fade when no bytes moved lately; the header elsewhere is kept fresh.
setInterval(() => {
  for (const item of items) if (item.state === 'uploading') item.renderFigures();
  if (items.some((i) => i.state === 'uploading' || i.state === 'paused')) publishActivity();
}, 1000);
await requireKey();
void loadLimits();
void showUnfinished();

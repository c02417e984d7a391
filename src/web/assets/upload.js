// @ts-check
// The upload page: several files at once over tus (tus-js-client's browser build, loaded as window.tus),
// each with progress, speed and time left, pause and resume. tus-js-client remembers every unfinished
// upload in localStorage under a fingerprint of the file (name, type, size, modification time, endpoint):
// after a reload or a lost connection, choosing the same file again continues from the server's offset.
import {
  $,
  announce,
  fmtBytes,
  fmtDate,
  fmtEta,
  getKey,
  h,
  keyRefused,
  requireKey,
  setUpHeader,
} from './common.js';
import { setUpUploadLinks } from './uploadLinks.js';

const ENDPOINT = new URL('/v1/uploads', location.href).href;
// Chunks bound each PATCH request (proxies often limit body sizes); a setting for tests and odd proxies.
const CHUNK_BYTES = Number(localStorage.getItem('reel.uploadChunkBytes')) || 16 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10_000, 20_000];
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

function policy() {
  return new FormData($('#upload-form')).get('policy') === 'public' ? 'public' : 'signed';
}

class Item {
  /** @param {File} file */
  constructor(file) {
    this.file = file;
    this.upload = null;
    this.previous = null;
    this.state = 'ready';
    /** @type {[number, number][]} */
    this.samples = [];
    const n = ++serial;
    this.ids = { title: `title-${n}`, progress: `progress-${n}`, name: `name-${n}` };
    this.titleInput = h('input', {
      id: this.ids.title,
      type: 'text',
      maxlength: 200,
      value: file.name.replace(/\.[^.]*$/, ''),
    });
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
    this.el = h(
      'li',
      { class: 'row upload-item', 'data-state': 'ready' },
      h(
        'div',
        { class: 'row-head' },
        h('span', { id: this.ids.name, class: 'name', text: file.name }),
        h('span', { class: 'size', text: fmtBytes(file.size) }),
      ),
      h(
        'div',
        { class: 'field title-field' },
        h('label', { for: this.ids.title, text: 'Title' }),
        this.titleInput,
      ),
      this.progress,
      this.figures,
      this.message,
      h('div', { class: 'actions' }, this.pauseButton, this.removeButton),
    );
    this.progress.hidden = true;
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
    updateQueueActions();
  }

  /** @param {string} reason */
  refuse(reason) {
    this.titleInput.closest('.field').hidden = true;
    this.message.textContent = reason;
    this.setState('refused');
  }

  /** Looks for an unfinished upload of this very file (same fingerprint) to continue. */
  async findPrevious() {
    const probe = new window.tus.Upload(this.file, { endpoint: ENDPOINT });
    const previous = (await probe.findPreviousUploads()).sort((a, b) =>
      String(b.creationTime).localeCompare(String(a.creationTime)),
    )[0];
    if (!previous) return;
    this.previous = previous;
    const title = previous.metadata?.title;
    if (title) this.titleInput.value = title;
    this.titleInput.disabled = true;
    this.message.textContent = 'Continues an earlier upload of this file.';
    document.querySelector(`[data-storage-key="${CSS.escape(previous.urlStorageKey)}"]`)?.remove();
    updateUnfinishedSection();
  }

  start() {
    if (this.upload) return;
    const file = this.file;
    const metadata = this.previous?.metadata ?? {
      filename: file.name,
      title: this.titleInput.value.trim() || file.name.replace(/\.[^.]*$/, ''),
      playback_policy: policy(),
    };
    this.titleInput.disabled = true;
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
        if (retry) this.message.textContent = `Connection trouble; trying again (${attempt + 1})…`;
        return retry;
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

  /**
   * @param {number} sent
   * @param {number} total
   */
  onProgress(sent, total) {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0];
    const speed = now - t0 > 300 ? ((sent - b0) * 1000) / (now - t0) : 0;
    const pct = total ? Math.floor((sent / total) * 100) : 0;
    this.progress.value = pct;
    this.progress.setAttribute('aria-valuetext', `${pct}%`);
    const parts = [`${fmtBytes(sent)} of ${fmtBytes(total)} (${pct}%)`];
    if (speed > 0 && sent < total)
      parts.push(`${fmtBytes(speed)}/s`, `${fmtEta((total - sent) / speed)} left`);
    this.figures.textContent = parts.join(' · ');
    if (this.state === 'uploading') this.message.textContent = 'Uploading…';
  }

  onSuccess() {
    const url = /** @type {string} */ (/** @type {import('tus-js-client').Upload} */ (this.upload).url);
    const id = /** @type {string} */ (url.split('/').pop());
    this.progress.value = 100;
    this.figures.textContent = `${fmtBytes(this.file.size)} of ${fmtBytes(this.file.size)} (100%)`;
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
      this.message.textContent = 'Paused. Resume continues where it stopped, even after a reload.';
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
    $('#files').focus();
  }
}

function updateQueueActions() {
  const waiting = items.filter((i) => i.state === 'ready').length;
  $('#queue-actions').hidden = waiting === 0;
  $('#start-all').textContent = waiting === 1 ? 'Start upload' : `Start ${waiting} uploads`;
}

/** @param {File[]} files */
async function addFiles(files) {
  await loadLimits();
  for (const file of files) {
    const item = new Item(file);
    items.push(item);
    queue.append(item.el);
    const reason = refusal(file);
    if (reason) {
      item.refuse(reason);
      continue;
    }
    await item.findPrevious().catch(() => undefined);
    // A file that continues an earlier upload goes on at once: its title and policy were chosen then.
    if (item.previous) item.start();
  }
  updateQueueActions();
  announce(`${files.length} file${files.length === 1 ? '' : 's'} added.`);
}

/** Lists the uploads this browser left unfinished (tus-js-client's entries in localStorage). */
async function showUnfinished() {
  const list = $('#unfinished');
  list.replaceChildren();
  const entries = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key?.startsWith('tus::') || !key.includes(ENDPOINT)) continue;
    try {
      entries.push({ ...JSON.parse(/** @type {string} */ (localStorage.getItem(key))), urlStorageKey: key });
    } catch {
      // not ours
    }
  }
  for (const entry of entries) {
    const name = entry.metadata?.filename ?? 'a file';
    const figures = h('span', { class: 'figures', text: fmtBytes(entry.size) });
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
      h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'quiet destructive',
          text: 'Discard',
          'aria-label': `Discard the unfinished upload of ${name}`,
          onclick: async () => {
            await fetch(entry.uploadUrl, {
              method: 'DELETE',
              headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${getKey()}` },
            }).catch(() => undefined);
            localStorage.removeItem(entry.urlStorageKey);
            row.remove();
            updateUnfinishedSection();
            announce(`Unfinished upload of ${name} discarded.`);
          },
        }),
      ),
    );
    list.append(row);
    fetch(entry.uploadUrl, {
      method: 'HEAD',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${getKey()}` },
    })
      .then((res) => {
        if (res.status === 404 || res.status === 410) {
          localStorage.removeItem(entry.urlStorageKey);
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

setUpHeader();
setUpDropping();
setUpUploadLinks();
$('#start-all').addEventListener('click', () => {
  for (const item of items) if (item.state === 'ready') item.start();
});
// Back online: uploads stopped by the lost connection go on by themselves.
window.addEventListener('online', () => {
  for (const item of items) if (item.state === 'error' && item.upload) item.toggle();
});
await requireKey();
void loadLimits();
void showUnfinished();

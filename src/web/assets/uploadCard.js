// @ts-check
// The library's "Uploading" cards: how much of the file the server has (tus HEAD /v1/uploads/{id}: its
// Upload-Offset and Upload-Length; the video object has no upload offset), whether another tab is sending
// it now (uploadActivity.js), and for a stranded upload a "pick the file again to resume" action that
// continues it here from the server's offset, with tus-js-client: the upload URL this browser stored under
// the file's fingerprint when there is one, else the video's own tus URL (the tus id is the video id). The
// picked file must be a video (sniff.js) of the upload's exact size. Deleting the card's video discards the
// upload on the server (DELETE /v1/videos/{id} removes its staged bytes).
import { fmtBytes, getKey, h } from './common.js';
import { sniffFile, sniffRefusal } from './sniff.js';
import { activeUploads, guardUnload, onUploadsChange, publishUploads } from './uploadActivity.js';

const ENDPOINT = new URL('/v1/uploads', location.href).href;
const CHUNK_BYTES = Number(localStorage.getItem('reel.uploadChunkBytes')) || 16 * 1024 * 1024;
/** How often the server's offset of an upload shown is asked again (it may be moving elsewhere). */
const REFRESH_MS = 4000;

/**
 * What is known of one upload.
 * @typedef {{sent: number | null, total: number | null, gone: boolean, done: boolean, checkedAt: number,
 *   upload: import('tus-js-client').Upload | null, name: string, message: string, error: string}} UploadState
 */

const FIRST_CHECK_MS = 2500;
/** As the upload page's file input. */
const ACCEPT = 'video/*,.mkv,.mov,.mp4,.m4v,.webm,.avi,.mts,.m2ts,.ts,.3gp';

/** @type {Map<string, UploadState>} video id → state */
const states = new Map();
let serial = 0;
let started = false;

/** @param {string} id */
function stateOf(id) {
  let s = states.get(id);
  if (!s) {
    s = {
      sent: null,
      total: null,
      gone: false,
      done: false,
      checkedAt: 0,
      upload: null,
      name: '',
      message: '',
      error: '',
    };
    states.set(id, s);
  }
  return s;
}

/**
 * tus-js-client's browser build, loaded the first time a file is picked.
 * @returns {Promise<Window['tus']>}
 */
function loadTus() {
  if (window.tus) return Promise.resolve(window.tus);
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/assets/vendor/tus.js';
    script.onload = () => resolve(window.tus);
    script.onerror = () => reject(new Error('The upload library could not be loaded. Reload the page.'));
    document.head.append(script);
  });
}

/**
 * Whether a page of this browser is sending the upload now (its figures come from there).
 * @param {string} id
 */
const busy = (id) =>
  Boolean(stateOf(id).upload) || stateOf(id).done || activeUploads().some((u) => u.id === id);

/**
 * Asks the server how far the upload got.
 * @param {string} id
 */
async function refresh(id) {
  const s = stateOf(id);
  s.checkedAt = Date.now();
  const auth = { Authorization: `Bearer ${getKey()}` };
  try {
    // Still uploading? (An upload that just ended has no tus resource any more; its card is about to move
    // on, with the next live event.)
    const video = await fetch(`/v1/videos/${encodeURIComponent(id)}`, { headers: auth, cache: 'no-store' });
    if (video.status === 404) return;
    if (video.ok && (await video.json()).status !== 'uploading') {
      s.done = true;
      return;
    }
    const res = await fetch(`${ENDPOINT}/${encodeURIComponent(id)}`, {
      method: 'HEAD',
      headers: { 'Tus-Resumable': '1.0.0', ...auth },
      cache: 'no-store',
    });
    if (res.status === 404 || res.status === 410) s.gone = true;
    else if (res.ok) {
      s.gone = false;
      s.sent = Number(res.headers.get('Upload-Offset'));
      const length = res.headers.get('Upload-Length');
      s.total = length === null ? null : Number(length);
    }
  } catch {
    // offline: the last figures stay
  }
  paint(id);
}

/**
 * Fills the card's upload block from what is known.
 * @param {string} id
 */
function paint(id) {
  const el = document.querySelector(`.upload-resume[data-upload-for="${CSS.escape(id)}"]`);
  if (!el) return;
  const s = stateOf(id);
  const elsewhere = activeUploads().find((u) => u.id === id && !u.here);
  /** @type {(Node | string)[]} */
  const parts = [];
  let sent = s.sent;
  let total = s.total;
  if (elsewhere) {
    sent = elsewhere.sent;
    total = elsewhere.total;
  }
  const pct = sent !== null && total ? Math.floor((sent / total) * 100) : null;
  // Painted again only when something shown changed (a new file input would lose the keyboard focus).
  const shown = JSON.stringify([
    pct,
    sent,
    elsewhere ? Boolean(elsewhere.paused) : null,
    Boolean(s.upload),
    s.gone,
    s.message,
    s.error,
  ]);
  if (/** @type {HTMLElement} */ (el).dataset['shown'] === shown) return;
  /** @type {HTMLElement} */ (el).dataset['shown'] = shown;
  if (pct !== null) {
    parts.push(
      h('progress', { max: 100, value: pct, 'aria-label': `Upload of ${s.name || 'this video'}` }),
      h('p', {
        class: 'figures',
        text: `${pct}% uploaded · ${fmtBytes(/** @type {number} */ (sent))} of ${fmtBytes(/** @type {number} */ (total))}`,
      }),
    );
  }
  if (elsewhere) {
    parts.push(
      h('p', {
        text: elsewhere.paused
          ? 'Paused in another tab of this browser: resume it there.'
          : 'Uploading now in another tab of this browser.',
      }),
    );
  } else if (s.upload) {
    parts.push(h('p', { role: 'status', text: s.message || 'Uploading…' }));
  } else if (s.gone) {
    parts.push(
      h('p', {
        class: 'error',
        text: 'This upload cannot be continued: it expired, or another API key started it. Delete it and upload the file again.',
      }),
    );
  } else {
    const inputId = `resume-file-${++serial}`;
    const input = h('input', { id: inputId, type: 'file', class: 'file-input', accept: ACCEPT });
    input.addEventListener('change', () => {
      const file = /** @type {File | undefined} */ (input.files?.[0]);
      input.value = '';
      if (file) void resume(id, file);
    });
    parts.push(
      h('p', {
        text:
          s.sent === null
            ? 'The upload stopped before the end.'
            : 'The upload stopped. Pick the same file again to continue from here.',
      }),
      input,
      h('label', {
        for: inputId,
        class: 'button',
        text: 'Pick the file again',
        'aria-label': `Pick the file of ${s.name || 'this video'} again to resume its upload`,
      }),
    );
    if (s.message) parts.push(h('p', { role: 'status', text: s.message }));
  }
  if (s.error) parts.push(h('p', { class: 'error', role: 'alert', text: s.error }));
  el.replaceChildren(...parts);
}

/**
 * Continues the upload of `id` with the file the owner picked.
 * @param {string} id
 * @param {File} file
 */
async function resume(id, file) {
  const s = stateOf(id);
  s.error = '';
  s.message = '';
  const sniffed = await sniffFile(file).catch(() => null);
  if (!sniffed?.ok) {
    s.error = sniffed ? sniffRefusal(file.name, sniffed.what) : `“${file.name}” cannot be read.`;
    paint(id);
    return;
  }
  await refresh(id);
  if (s.gone) return;
  if (s.total !== null && file.size !== s.total) {
    s.error = `“${file.name}” is not the file of this upload: it has ${file.size.toLocaleString('en')} bytes, the upload ${s.total.toLocaleString('en')}. Pick the file that was being uploaded.`;
    paint(id);
    return;
  }
  let tus;
  try {
    tus = await loadTus();
  } catch (err) {
    s.error = /** @type {Error} */ (err).message;
    paint(id);
    return;
  }
  // The URL this browser stored for this very file (same fingerprint), if it is this upload's.
  const stored = (await new tus.Upload(file, { endpoint: ENDPOINT }).findPreviousUploads()).filter(
    (p) => p.uploadUrl?.split('/').pop() === id,
  );
  const uploadUrl = stored[0]?.uploadUrl ?? `${ENDPOINT}/${encodeURIComponent(id)}`;
  s.name = file.name;
  const publish = () =>
    publishUploads(
      [...states.entries()]
        .filter(([, st]) => st.upload)
        .map(([vid, st]) => ({ id: vid, name: st.name, sent: st.sent ?? 0, total: st.total ?? 0 })),
    );
  // No endpoint: were the upload gone, tus-js-client must fail rather than start a new video.
  const upload = new tus.Upload(file, {
    uploadUrl,
    chunkSize: CHUNK_BYTES,
    retryDelays: [0, 1000, 3000, 5000, 10_000],
    storeFingerprintForResuming: false,
    onBeforeRequest: (req) => {
      req.setHeader('Authorization', `Bearer ${getKey()}`);
    },
    onProgress: (sent, total) => {
      s.sent = sent;
      s.total = total;
      s.message = 'Uploading… Keep this page open until it is done.';
      paint(id);
      publish();
    },
    onSuccess: async () => {
      s.upload = null;
      // Finished: the server has no upload to ask about any more (its card turns "Queued").
      s.done = true;
      s.message = 'Uploaded. Reel is processing it.';
      for (const p of stored) await tus.defaultOptions.urlStorage.removeUpload(p.urlStorageKey);
      publish();
      paint(id);
    },
    onError: (err) => {
      s.upload = null;
      const status = /** @type {any} */ (err).originalResponse?.getStatus?.() ?? 0;
      s.error =
        status === 404 || status === 410
          ? 'This upload no longer exists on the server. Delete it and upload the file again.'
          : 'The upload stopped again (connection lost?). Pick the file again to continue.';
      publish();
      paint(id);
    },
  });
  s.upload = upload;
  s.message = 'Continuing where it stopped…';
  paint(id);
  upload.start();
}

/**
 * The block an "Uploading" card shows under its status; kept up to date by this module.
 * @param {{id: string, title?: string}} video
 * @returns {HTMLElement}
 */
export function uploadingCardPart(video) {
  if (!started) {
    started = true;
    guardUnload(() => [...states.values()].some((s) => s.upload));
    onUploadsChange(() => {
      for (const id of states.keys()) paint(id);
    });
    // The offsets of the uploads shown, now and then (one may be moving in another browser).
    setInterval(() => {
      if (document.hidden) return;
      for (const el of document.querySelectorAll('.upload-resume[data-upload-for]')) {
        const id = /** @type {string} */ (/** @type {HTMLElement} */ (el).dataset['uploadFor']);
        if (!busy(id)) void refresh(id);
      }
    }, REFRESH_MS);
  }
  const s = stateOf(video.id);
  if (!s.name && video.title) s.name = video.title;
  const el = h('div', { class: 'upload-resume', 'data-upload-for': video.id });
  // Painted once it is in the card; the server asked a little later, when the card still shows an upload
  // that no tab here is sending (a fresh upload often ends first, and its card moves on to "Queued").
  queueMicrotask(() => paint(video.id));
  setTimeout(() => {
    if (el.isConnected && Date.now() - s.checkedAt > REFRESH_MS / 2 && !busy(video.id))
      void refresh(video.id);
  }, FIRST_CHECK_MS);
  return el;
}

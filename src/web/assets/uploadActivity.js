// @ts-check
// Uploads running in this browser, shared between its tabs: a page that uploads (the upload page, or the
// library resuming a stranded upload) publishes what it sends under its own localStorage key, refreshed
// while it runs and removed when it stops or the page goes away. Every page of the web app shows them in
// its header (a link to the upload page), updated by the `storage` event other tabs fire; the library
// uses them to tell an upload running in another tab from a stranded one. No DOM work but the indicator.

const PREFIX = 'reel.activeUploads.';
/** An entry not refreshed for this long is from a page that died without saying so. */
const FRESH_MS = 15_000;
const SAME_TAB = 'reel-uploads';
const TAB = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

/**
 * One upload in progress (or paused by the person: its page is still open).
 * @typedef {{id: string | null, name: string, sent: number, total: number, paused?: boolean}} ActiveUpload
 */

/**
 * Says what this page is uploading now (an empty list: nothing).
 * @param {ActiveUpload[]} uploads
 */
export function publishUploads(uploads) {
  try {
    if (uploads.length === 0) localStorage.removeItem(PREFIX + TAB);
    else localStorage.setItem(PREFIX + TAB, JSON.stringify({ at: Date.now(), uploads }));
  } catch {
    // storage full or disabled: the header indicator is a convenience
  }
  // `storage` fires in the other tabs only; this one is told directly.
  window.dispatchEvent(new Event(SAME_TAB));
}

/**
 * Every upload running in this browser (all tabs), with which tab runs it.
 * @returns {(ActiveUpload & {here: boolean})[]}
 */
export function activeUploads() {
  /** @type {(ActiveUpload & {here: boolean})[]} */
  const all = [];
  const now = Date.now();
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const key = localStorage.key(i);
    if (!key?.startsWith(PREFIX)) continue;
    try {
      const entry = JSON.parse(/** @type {string} */ (localStorage.getItem(key)));
      if (!(now - entry.at < FRESH_MS)) {
        // Long gone (a crash): forget it.
        if (now - entry.at > 4 * FRESH_MS) localStorage.removeItem(key);
        continue;
      }
      for (const u of entry.uploads) all.push({ ...u, here: key === PREFIX + TAB });
    } catch {
      localStorage.removeItem(key);
    }
  }
  return all;
}

/**
 * Calls `fn` whenever the uploads in this browser change (and every few seconds, to drop stale ones).
 * @param {() => void} fn
 */
export function onUploadsChange(fn) {
  window.addEventListener('storage', (e) => {
    if (e.key === null || e.key.startsWith(PREFIX)) fn();
  });
  window.addEventListener(SAME_TAB, fn);
  setInterval(fn, 5000);
}

/**
 * Asks before the page goes away while `busy()` (the browser shows its own "Leave site?" dialog).
 * @param {() => boolean} busy
 */
export function guardUnload(busy) {
  window.addEventListener('beforeunload', (e) => {
    if (!busy()) return;
    e.preventDefault();
    // Older browsers want a returnValue.
    e.returnValue = '';
  });
  window.addEventListener('pagehide', () => publishUploads([]));
}

/** The header's link to the upload page while uploads run in this browser. Call once per page. */
export function showUploadIndicator() {
  const header = document.querySelector('header.top');
  if (!header || document.getElementById('uploads-indicator')) return;
  // Pages that do not link the stylesheet get it here.
  if (!document.querySelector('link[href="/assets/uploadux.css"]')) {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = '/assets/uploadux.css';
    document.head.append(link);
  }
  const onUploadPage = location.pathname === '/upload';
  const link = document.createElement('a');
  link.id = 'uploads-indicator';
  link.className = 'uploads-indicator';
  // On the upload page itself it leads to the queue (leaving would stop the uploads).
  link.href = onUploadPage ? '#queue' : '/upload';
  link.hidden = true;
  const bar = document.createElement('span');
  bar.className = 'uploads-indicator-bar';
  bar.setAttribute('aria-hidden', 'true');
  const label = document.createElement('span');
  link.append(bar, label);
  const forget = document.getElementById('forget-key');
  if (forget) forget.before(link);
  else header.append(link);

  const paint = () => {
    const uploads = activeUploads().filter((u) => !u.paused);
    link.hidden = uploads.length === 0;
    if (uploads.length === 0) return;
    const total = uploads.reduce((n, u) => n + u.total, 0);
    const sent = uploads.reduce((n, u) => n + u.sent, 0);
    const pct = total > 0 ? Math.floor((sent / total) * 100) : 0;
    const n = uploads.length;
    label.textContent = `${n === 1 ? 'Uploading' : `${n} uploads`} · ${pct}%`;
    bar.style.setProperty('--pct', `${pct}%`);
    const names = uploads.map((u) => u.name).join(', ');
    link.title = `Uploading ${names}`;
    link.setAttribute(
      'aria-label',
      `${n === 1 ? '1 upload' : `${n} uploads`} in progress, ${pct}% sent: ${onUploadPage ? 'show them' : 'open the upload page'}`,
    );
  };
  onUploadsChange(paint);
  paint();
}

// @ts-check
// The upload page's "Let someone else upload" panel: makes an upload link (POST /v1/uploads/links) with the
// stored API key, and shows the link and a snippet of HTML that uploads one file to it with tus-js-client.
import { $, ApiError, announce, api, copyFrom, fmtDate } from './common.js';

const TUS_CDN = 'https://cdn.jsdelivr.net/npm/tus-js-client@4/dist/tus.min.js';

/**
 * A page's HTML that uploads one chosen file to the link, with a progress line.
 * @param {string} url
 */
export function linkSnippet(url) {
  return `<label for="reel-file">Choose a video</label>
<input type="file" id="reel-file" accept="video/*">
<p id="reel-progress" aria-live="polite"></p>
<script src="${TUS_CDN}"></script>
<script>
  document.getElementById("reel-file").addEventListener("change", function (event) {
    var file = event.target.files[0];
    var progress = document.getElementById("reel-progress");
    if (!file) return;
    var upload = new tus.Upload(file, {
      endpoint: ${JSON.stringify(url)},
      metadata: { filename: file.name },
      retryDelays: [0, 1000, 3000, 5000, 10000],
      onProgress: function (sent, total) {
        progress.textContent = "Uploading: " + Math.floor((sent / total) * 100) + "%";
      },
      onSuccess: function () {
        progress.textContent = "Uploaded. Thank you!";
      },
      onError: function (error) {
        progress.textContent = "The upload failed: " + error.message;
      },
    });
    // The same file chosen again (after a reload) continues where it stopped.
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
</script>
`;
}

export function setUpUploadLinks() {
  const form = $('#link-form');
  const error = $('#link-error');
  const origin = $('#link-origin');
  const button = $('#create-link');
  form.addEventListener('submit', async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const data = new FormData(form);
    /** @type {Record<string, unknown>} */
    const body = {
      playbackPolicy: data.get('link-policy') === 'public' ? 'public' : 'signed',
      expiresInSeconds: Number(data.get('expiry')) || 3600,
    };
    const title = String(data.get('title') ?? '').trim();
    if (title) body.title = title;
    const corsOrigin = String(data.get('origin') ?? '').trim();
    if (corsOrigin) body.corsOrigin = corsOrigin;
    error.textContent = '';
    origin.removeAttribute('aria-invalid');
    button.disabled = true;
    try {
      /** @type {{videoId: string, url: string, expiresAt: string}} */
      const link = await api('/v1/uploads/links', { method: 'POST', body });
      $('#link-url').value = link.url;
      $('#link-expires').textContent =
        `It can start an upload until ${fmtDate(link.expiresAt)}, and takes one file. ` +
        `The file becomes video ${link.videoId} in your library.`;
      $('#link-snippet').value = linkSnippet(link.url);
      $('#link-result').hidden = false;
      $('#link-url').focus();
      announce('Upload link created.');
    } catch (err) {
      const message = err instanceof ApiError ? err.message : 'The upload link could not be made.';
      error.textContent = message;
      if (corsOrigin && /corsOrigin/.test(message)) {
        origin.setAttribute('aria-invalid', 'true');
        origin.focus();
      }
    } finally {
      button.disabled = false;
    }
  });
  $('#copy-link-url').addEventListener(
    'click',
    (/** @type {MouseEvent & {currentTarget: HTMLElement}} */ e) => copyFrom($('#link-url'), e.currentTarget),
  );
  $('#copy-link-snippet').addEventListener(
    'click',
    (/** @type {MouseEvent & {currentTarget: HTMLElement}} */ e) =>
      copyFrom($('#link-snippet'), e.currentTarget),
  );
}

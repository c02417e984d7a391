// @ts-check
// The video page's "Edit" panel: change the title and the privacy (PATCH /v1/videos/{id}), and pick the
// poster by time: a slider and a seconds field preview the frame (thumbnail.jpg?time=, made from the
// published segments), and "Use this frame" makes it the poster (PATCH posterTime; null goes back to the
// transcode's own poster).
import { announce, api, fmtDuration, h } from './common.js';

/** @typedef {import('./common.js').Video & {posterTime?: number | null}} Video */

/**
 * @typedef {{update: (v: Video) => void}} EditPanel
 */

/**
 * Builds the panel into `section` (once) and keeps it in step with the video.
 * @param {HTMLElement} section
 * @param {Video} first
 * @param {(v: Video, changed: string[]) => void} onSaved
 * @returns {EditPanel}
 */
export function createEditPanel(section, first, onSaved) {
  let video = first;
  const id = first.id;
  const status = h('p', { class: 'hint', role: 'status', id: 'edit-status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'edit-error' });

  const title = h('input', {
    id: 'edit-title',
    type: 'text',
    maxlength: 200,
    required: true,
    autocomplete: 'off',
  });
  const policyRadio = (
    /** @type {'signed' | 'public'} */ value,
    /** @type {string} */ label,
    /** @type {string} */ hint,
  ) =>
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'radio', name: 'edit-policy', value }),
      h('span', {}, h('strong', { text: label }), h('span', { class: 'hint', text: ` ${hint}` })),
    );
  const form = h(
    'form',
    { id: 'edit-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'edit-title', text: 'Title' }), title),
    h(
      'fieldset',
      { class: 'policy-choice' },
      h('legend', { text: 'Privacy' }),
      policyRadio('signed', 'Signed', 'plays only through links with a token (share links, embeds)'),
      policyRadio('public', 'Public', 'anyone with the address can play it'),
    ),
    h('button', { type: 'submit', class: 'primary', text: 'Save changes' }),
  );

  const time = h('input', {
    id: 'poster-time',
    type: 'range',
    min: 0,
    step: 0.1,
    value: 0,
    'aria-describedby': 'poster-at',
  });
  const seconds = h('input', {
    id: 'poster-seconds',
    type: 'number',
    min: 0,
    step: 0.1,
    inputmode: 'decimal',
    class: 'seconds',
  });
  const at = h('span', { id: 'poster-at', class: 'hint' });
  const preview = h('img', {
    id: 'poster-preview',
    alt: 'The frame at the chosen time',
    width: 480,
    height: 270,
  });
  const use = h('button', {
    type: 'button',
    id: 'poster-use',
    class: 'primary',
    text: 'Use this frame as the poster',
  });
  const restore = h('button', {
    type: 'button',
    id: 'poster-restore',
    class: 'quiet',
    text: 'Back to the original poster',
  });
  const poster = h(
    'div',
    { class: 'poster-pick', id: 'poster-pick' },
    h('h3', { text: 'Poster' }),
    h('p', { class: 'hint', text: 'Pick the frame shown before the video plays and in the library.' }),
    h('div', { class: 'poster-frame' }, preview),
    h(
      'div',
      { class: 'poster-controls' },
      h('label', { for: 'poster-time', text: 'Frame at' }),
      time,
      h('label', { for: 'poster-seconds', class: 'visually-hidden', text: 'Seconds from the start' }),
      seconds,
      at,
    ),
    h('div', { class: 'actions' }, use, restore),
  );

  section.replaceChildren(h('h2', { id: 'edit-heading', text: 'Edit' }), form, poster, status, error);
  section.setAttribute('aria-labelledby', 'edit-heading');
  section.hidden = false;

  /** @type {{base: string, expiresAt: number} | null} */
  let access = null;
  /** Where the video's images are: /play/{id}/{access}/ (a fresh token for a signed video). */
  async function imageBase() {
    if (access && access.expiresAt > Date.now() + 60_000) return access.base;
    const { url, expiresAt } = await api(`/v1/videos/${encodeURIComponent(id)}/playback`);
    access = {
      base: new URL('.', url).href,
      expiresAt: expiresAt ? new Date(expiresAt).getTime() : Number.POSITIVE_INFINITY,
    };
    return access.base;
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let previewTimer;
  function showPreview() {
    const t = Number(time.value);
    at.textContent = fmtDuration(t);
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      try {
        const base = await imageBase();
        preview.src = `${base}thumbnail.jpg?time=${t.toFixed(1)}&width=640`;
      } catch (err) {
        error.textContent = /** @type {Error} */ (err).message;
      }
    }, 150);
  }
  preview.addEventListener('error', () => {
    error.textContent =
      'This frame cannot be shown (the video may have been processed before frames could be picked).';
  });
  preview.addEventListener('load', () => {
    if (error.textContent.startsWith('This frame')) error.textContent = '';
  });
  time.addEventListener('input', () => {
    seconds.value = time.value;
    showPreview();
  });
  seconds.addEventListener('change', () => {
    const max = Number(time.max);
    const t = Math.min(max, Math.max(0, Number(seconds.value) || 0));
    seconds.value = String(t);
    time.value = String(t);
    showPreview();
  });

  form.addEventListener('submit', async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    error.textContent = '';
    const newTitle = title.value.trim();
    if (!newTitle) {
      error.textContent = 'The title must not be blank.';
      title.focus();
      return;
    }
    /** @type {Record<string, string>} */
    const body = {};
    if (newTitle !== video.title) body['title'] = newTitle;
    const policy = /** @type {HTMLInputElement | null} */ (
      form.querySelector('input[name="edit-policy"]:checked')
    )?.value;
    if (policy && policy !== video.playbackPolicy) body['playbackPolicy'] = policy;
    if (Object.keys(body).length === 0) {
      status.textContent = 'Nothing changed.';
      return;
    }
    try {
      const saved = await api(`/v1/videos/${encodeURIComponent(id)}`, { method: 'PATCH', body });
      access = null;
      status.textContent = 'Saved.';
      announce('Changes saved.');
      onSaved(saved, Object.keys(body));
    } catch (err) {
      error.textContent = /** @type {Error} */ (err).message;
    }
  });

  /** @param {number | null} posterTime */
  async function savePoster(posterTime) {
    error.textContent = '';
    use.disabled = true;
    restore.disabled = true;
    status.textContent = posterTime === null ? 'Restoring the original poster…' : 'Making the poster…';
    try {
      const saved = await api(`/v1/videos/${encodeURIComponent(id)}`, {
        method: 'PATCH',
        body: { posterTime },
      });
      status.textContent =
        posterTime === null
          ? 'The original poster is back.'
          : `The frame at ${fmtDuration(posterTime)} is the poster now.`;
      announce(status.textContent);
      onSaved(saved, ['posterTime']);
    } catch (err) {
      status.textContent = '';
      error.textContent = /** @type {Error} */ (err).message;
    } finally {
      use.disabled = false;
      restore.disabled = false;
    }
  }
  use.addEventListener('click', () => savePoster(Number(time.value)));
  restore.addEventListener('click', () => savePoster(null));

  let sliderSet = false;
  /** @param {Video} v */
  function update(v) {
    video = v;
    if (document.activeElement !== title) title.value = v.title;
    for (const r of form.querySelectorAll('input[name="edit-policy"]')) {
      const radio = /** @type {HTMLInputElement} */ (r);
      radio.checked = radio.value === v.playbackPolicy;
    }
    const duration = (v.durationMs ?? 0) / 1000;
    // The poster can be picked once the video is ready (its frames are all published).
    poster.hidden = v.status !== 'ready' || duration <= 0;
    restore.hidden = v.posterTime === null || v.posterTime === undefined;
    if (!poster.hidden && !sliderSet) {
      sliderSet = true;
      time.max = String(Math.max(0, Math.floor(duration * 10) / 10 - 0.1));
      seconds.max = time.max;
      time.value = String(v.posterTime ?? Math.min(1, duration / 10));
      seconds.value = String(Number(time.value));
      showPreview();
    }
  }
  update(first);
  return { update };
}

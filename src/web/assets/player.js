// @ts-check
// The player: hls.js on a <video> with Reel's own controls (play, seek bar with storyboard previews, time,
// volume and mute remembered, speed, captions, audio track, downloads, picture-in-picture, fullscreen),
// keyboard shortcuts, a visible error with Retry when the network fails, and (outside the compact embed)
// a quality menu and the stats the viewer can read: the rendition playing, the bandwidth estimate, the
// buffer ahead, dropped frames.
import Hls from '/assets/vendor/hls.mjs';
import { startBeacon } from './beacon.js';
import { fmtBitrate, fmtBytes, h } from './common.js';
import { icon, setIcon } from './playerIcons.js';
import { createMenu } from './playerMenu.js';
import { frameAt, loadStoryboard } from './storyboard.js';

/** @typedef {{name: string, width?: number | null, height?: number | null, size?: number | null}} Download */

/** @param {import('/assets/vendor/hls.mjs').Level} level */
const levelLabel = (level) =>
  `${Math.min(level.width, level.height)}p · ${fmtBitrate(level.averageBitrate || level.bitrate)}`;

export const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
const VOLUME_ITEM = 'reel.player.volume';
const MUTED_ITEM = 'reel.player.muted';
/** How long a missing storyboard is not asked for again (a video still processing gets one later). */
const STORYBOARD_RETRY_MS = 15_000;

/** @param {number} s seconds */
export function fmtClock(s) {
  const t = Math.max(0, Math.floor(Number.isFinite(s) ? s : 0));
  const hh = Math.floor(t / 3600);
  const mm = Math.floor(t / 60) % 60;
  const ss = String(t % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Load policies that give up (and show the error with Retry) in seconds, not after half a minute. */
const loadPolicy = (/** @type {number} */ retries) => ({
  default: {
    maxTimeToFirstByteMs: 10_000,
    maxLoadTimeMs: 30_000,
    timeoutRetry: { maxNumRetry: retries, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: { maxNumRetry: retries, retryDelayMs: 500, maxRetryDelayMs: 2_000 },
  },
});

/**
 * Builds the player in `container` and plays `masterUrl`.
 * onFatal(kind, detail) is called when playback cannot go on (kind: 'network' with the HTTP status of a
 * refusal (4xx), 'media', or 'unsupported'); network failures show the player's own error with Retry.
 * @param {HTMLElement} container
 * @param {string} masterUrl
 * Embeds (issue 14): `autoplay` (default true) starts playback once the stream is ready (the browser may
 * refuse with sound); `muted` true/false forces the sound off/on for this player without remembering it
 * (undefined: the viewer's remembered choice); `loop`; `start` in seconds; `exclusive`: a player that starts
 * with sound pauses every other exclusive player of this site in the browser that plays with sound
 * (two embeds on a page never play over each other).
 * @param {{title?: string, poster?: string, compact?: boolean, downloads?: Download[] | null,
 *   autoplay?: boolean, muted?: boolean, loop?: boolean, start?: number, exclusive?: boolean,
 *   onFatal?: (kind: 'network' | 'media' | 'unsupported', detail: Record<string, unknown>) => void}} [options]
 */
export function createPlayer(
  container,
  masterUrl,
  {
    title = 'Video',
    poster,
    onFatal,
    compact = false,
    downloads = [],
    autoplay = true,
    muted,
    loop = false,
    start = 0,
    exclusive = false,
  } = {},
) {
  // ---- elements ----
  const video = /** @type {HTMLVideoElement} */ (
    h('video', { playsinline: true, preload: 'auto', poster, 'aria-label': title, tabindex: '-1' })
  );
  const live = h('div', { class: 'visually-hidden rp-live', 'aria-live': 'polite' });
  const errorText = h('p', { class: 'rp-error-text' });
  const retryButton = h('button', { type: 'button', class: 'rp-retry', text: 'Retry' });
  const errorBox = h('div', { class: 'rp-error', role: 'alert', hidden: true }, errorText, retryButton);
  const spinner = h('div', { class: 'rp-spinner', 'aria-hidden': 'true', hidden: true });
  const frame = h('div', { class: 'video-frame' }, video, spinner, errorBox);

  const previewImage = h('div', { class: 'rp-preview-image', hidden: true });
  const previewTime = h('span', { class: 'rp-preview-time' });
  const preview = h(
    'div',
    { class: 'rp-preview', 'aria-hidden': 'true', hidden: true },
    previewImage,
    previewTime,
  );
  const seek = /** @type {HTMLInputElement} */ (
    h('input', {
      type: 'range',
      class: 'rp-seek',
      min: '0',
      max: '0',
      step: 'any',
      value: '0',
      'aria-label': 'Seek',
      'aria-valuetext': '0:00',
    })
  );
  const seekWrap = h('div', { class: 'rp-seek-wrap' }, preview, seek);

  const playButton = h(
    'button',
    {
      type: 'button',
      class: 'rp-button',
      'aria-label': 'Play',
      'aria-keyshortcuts': 'k Space',
      title: 'Play (k)',
    },
    icon('play'),
  );
  const muteButton = h(
    'button',
    { type: 'button', class: 'rp-button', 'aria-label': 'Mute', 'aria-keyshortcuts': 'm', title: 'Mute (m)' },
    icon('volume'),
  );
  const volume = /** @type {HTMLInputElement} */ (
    h('input', {
      type: 'range',
      class: 'rp-volume',
      min: '0',
      max: '1',
      step: '0.05',
      value: '1',
      'aria-label': 'Volume',
    })
  );
  const time = h('span', { class: 'rp-time', text: '0:00 / 0:00' });
  const speedLabel = h('span', { class: 'rp-speed-label', text: '1×' });
  const speedMenu = createMenu({ label: 'Playback speed', content: speedLabel });
  const captionsMenu = createMenu({ label: 'Captions', content: icon('captions') });
  const audioMenu = createMenu({ label: 'Audio track', content: icon('audio') });
  const downloadMenu = createMenu({ label: 'Download', content: icon('download') });
  captionsMenu.wrap.hidden = true;
  captionsMenu.button.setAttribute('aria-keyshortcuts', 'c');
  captionsMenu.button.title = 'Captions (c)';
  speedMenu.button.title = 'Playback speed';
  audioMenu.button.title = 'Audio track';
  downloadMenu.button.title = 'Download';
  audioMenu.wrap.hidden = true;
  downloadMenu.wrap.hidden = true;
  const pipButton = h(
    'button',
    {
      type: 'button',
      class: 'rp-button',
      'aria-label': 'Picture in picture',
      title: 'Picture in picture',
      hidden: true,
    },
    icon('pip'),
  );
  const fullscreenButton = h(
    'button',
    {
      type: 'button',
      class: 'rp-button',
      'aria-label': 'Full screen',
      'aria-keyshortcuts': 'f',
      title: 'Full screen (f)',
      hidden: true,
    },
    icon('fullscreen'),
  );
  const bar = h(
    'div',
    { class: 'rp-bar' },
    seekWrap,
    h(
      'div',
      { class: 'rp-row' },
      playButton,
      h('div', { class: 'rp-volume-group' }, muteButton, volume),
      time,
      h('span', { class: 'rp-spacer' }),
      speedMenu.wrap,
      captionsMenu.wrap,
      audioMenu.wrap,
      downloadMenu.wrap,
      pipButton,
      fullscreenButton,
    ),
  );
  const stage = h(
    'div',
    { class: 'rp-stage', role: 'group', 'aria-label': `Video player: ${title}`, tabindex: '-1' },
    frame,
    bar,
    live,
  );

  const quality = h(
    'select',
    { id: 'quality', 'aria-describedby': 'quality-help' },
    h('option', { value: '-1', text: 'Automatic' }),
  );
  const stat = (/** @type {string} */ id, /** @type {string} */ label) => [
    h('dt', { text: label }),
    h('dd', { id, text: '–' }),
  ];
  const stats = h(
    'dl',
    { class: 'stats', 'aria-label': 'Playback statistics' },
    ...stat('stat-level', 'Playing'),
    ...stat('stat-bandwidth', 'Bandwidth estimate'),
    ...stat('stat-buffer', 'Buffer ahead'),
    ...stat('stat-dropped', 'Dropped frames'),
  );
  const controls = h(
    'div',
    { class: 'player-controls' },
    h(
      'div',
      { class: 'field inline' },
      h('label', { for: 'quality', text: 'Quality' }),
      quality,
      h('span', {
        id: 'quality-help',
        class: 'hint',
        text: 'Automatic picks the rendition your connection can carry.',
      }),
    ),
    stats,
  );
  container.append(stage);
  if (!compact) container.append(controls);

  /** @type {{hls: Hls | null, video: HTMLVideoElement, levels: import('/assets/vendor/hls.mjs').Level[]}} */
  const state = { hls: null, video, levels: [] };
  window.reel = state; // for the browser tests and the curious

  // ---- what the viewer hears: one polite live region ----
  /** @param {string} message */
  const say = (message) => {
    live.textContent = message;
  };

  // ---- play, time, seek ----
  const tryPlay = () => void video.play().catch(() => undefined); // blocked autoplay: the viewer presses play
  const togglePlay = () => (video.paused || video.ended ? tryPlay() : video.pause());
  const duration = () => (Number.isFinite(video.duration) ? video.duration : Number(seek.max) || 0);
  /** @param {number} to */
  const seekTo = (to) => {
    const d = duration();
    video.currentTime = Math.max(0, d ? Math.min(to, d - 0.05) : to);
    showTime();
  };
  let dragging = false;
  const showTime = () => {
    const d = duration();
    const t = dragging ? Number(seek.value) : video.currentTime;
    time.textContent = `${fmtClock(t)} / ${fmtClock(d)}`;
    seek.max = String(d);
    if (!dragging) seek.value = String(t);
    seek.setAttribute('aria-valuetext', `${fmtClock(t)} of ${fmtClock(d)}`);
    seek.style.setProperty('--rp-played', `${d ? (t / d) * 100 : 0}%`);
    let end = 0;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= t + 0.5) end = Math.max(end, video.buffered.end(i));
    }
    seek.style.setProperty('--rp-buffered', `${d ? (end / d) * 100 : 0}%`);
  };
  const showPlaying = () => {
    const paused = video.paused || video.ended;
    setIcon(playButton, paused ? 'play' : 'pause');
    playButton.setAttribute('aria-label', paused ? 'Play' : 'Pause');
    playButton.title = paused ? 'Play (k)' : 'Pause (k)';
  };
  video.addEventListener('play', () => {
    showPlaying();
    say('Playing');
  });
  video.addEventListener('pause', () => {
    showPlaying();
    say('Paused');
  });
  video.addEventListener('ended', showPlaying);
  // Waiting for data shows a spinner (a stall is visible; a failure shows the error below).
  video.addEventListener('waiting', () => {
    spinner.hidden = false;
  });
  for (const ev of ['playing', 'pause', 'seeked', 'canplay', 'emptied'])
    video.addEventListener(ev, () => {
      spinner.hidden = true;
    });
  for (const ev of ['timeupdate', 'durationchange', 'progress', 'loadedmetadata', 'seeking'])
    video.addEventListener(ev, showTime);
  playButton.addEventListener('click', togglePlay);
  video.addEventListener('click', togglePlay);
  video.addEventListener('dblclick', () => toggleFullscreen());
  // A click on the picture gives the player the keyboard (its shortcuts).
  frame.addEventListener('pointerdown', () => stage.focus({ preventScroll: true }));

  // ---- storyboard preview over the seek bar ----
  /** @type {{frames: import('./storyboard.js').Frame[] | null, loading: Promise<void> | null, triedAt: number}} */
  const board = { frames: null, loading: null, triedAt: 0 };
  const storyboardUrl = new URL('storyboard.vtt', new URL(masterUrl, location.href)).href;
  /** Asked for on first use (a hover, a drag, a key), and again later while there is none. */
  const ensureStoryboard = () => {
    if (board.frames || board.loading || Date.now() - board.triedAt < STORYBOARD_RETRY_MS) return;
    board.triedAt = Date.now();
    board.loading = loadStoryboard(storyboardUrl).then((frames) => {
      board.frames = frames;
      board.loading = null;
      if (!preview.hidden) showPreview(lastPreview.t, lastPreview.x);
    });
  };
  const lastPreview = { t: 0, x: 0 };
  let hovering = false;
  let previewTimer = 0;
  /**
   * @param {number} t the time shown
   * @param {number} x where over the seek bar (px from its left)
   */
  function showPreview(t, x) {
    lastPreview.t = t;
    lastPreview.x = x;
    ensureStoryboard();
    const f = board.frames ? frameAt(board.frames, t) : null;
    if (f) {
      previewImage.hidden = false;
      previewImage.style.width = `${f.w}px`;
      previewImage.style.height = `${f.h}px`;
      previewImage.style.backgroundImage = `url("${f.url}")`;
      previewImage.style.backgroundPosition = `${-f.x}px ${-f.y}px`;
    } else previewImage.hidden = true;
    previewTime.textContent = fmtClock(t);
    preview.hidden = false;
    const width = preview.offsetWidth;
    const max = seekWrap.clientWidth - width;
    preview.style.left = `${Math.max(0, Math.min(x - width / 2, max))}px`;
  }
  const hidePreview = () => {
    if (!dragging && !hovering) preview.hidden = true;
  };
  /** @param {number} t */
  const previewAtTime = (t) => {
    const d = duration();
    showPreview(t, d ? (t / d) * seek.clientWidth + seek.offsetLeft : 0);
    clearTimeout(previewTimer);
    previewTimer = window.setTimeout(hidePreview, 1200);
  };
  /** @param {PointerEvent} e */
  const timeAtPointer = (e) => {
    const r = seek.getBoundingClientRect();
    const frac = r.width ? Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) : 0;
    return { t: frac * duration(), x: e.clientX - seekWrap.getBoundingClientRect().left };
  };
  seek.addEventListener('pointerenter', () => {
    hovering = true;
  });
  seek.addEventListener('pointermove', (e) => {
    hovering = true;
    const { t, x } = timeAtPointer(e);
    showPreview(dragging ? Number(seek.value) : t, x);
  });
  seek.addEventListener('pointerleave', () => {
    hovering = false;
    hidePreview();
  });
  seek.addEventListener('focus', ensureStoryboard);
  // Dragging (or Home/End/PageUp/PageDown on the slider): the preview follows, and the video seeks.
  seek.addEventListener('input', () => {
    dragging = true;
    const t = Number(seek.value);
    if (!hovering) previewAtTime(t);
    else showPreview(t, lastPreview.x);
    video.currentTime = t;
    showTime();
  });
  seek.addEventListener('change', () => {
    dragging = false;
    showTime();
    hidePreview();
  });
  seek.addEventListener('pointerup', () => {
    dragging = false;
    hidePreview();
  });
  /** @param {number} delta seconds */
  const seekBy = (delta) => {
    const to = Math.max(0, Math.min(video.currentTime + delta, duration()));
    seekTo(to);
    previewAtTime(to);
    say(`${delta < 0 ? 'Back' : 'Forward'} ${Math.abs(delta)} seconds: ${fmtClock(to)}`);
  };

  // ---- volume and mute, remembered ----
  const saved = Number(localStorage.getItem(VOLUME_ITEM));
  if (localStorage.getItem(VOLUME_ITEM) !== null && Number.isFinite(saved))
    video.volume = Math.max(0, Math.min(1, saved));
  video.muted = muted ?? localStorage.getItem(MUTED_ITEM) === 'true';
  // Sound forced by the embed's options is not the viewer's choice: remembered only once they change it.
  let remember = muted === undefined;
  video.loop = loop;
  const showVolume = () => {
    const silent = video.muted || video.volume === 0;
    setIcon(muteButton, silent ? 'muted' : 'volume');
    muteButton.setAttribute('aria-label', video.muted ? 'Unmute' : 'Mute');
    muteButton.title = video.muted ? 'Unmute (m)' : 'Mute (m)';
    volume.value = String(video.muted ? 0 : video.volume);
    volume.setAttribute('aria-valuetext', video.muted ? 'muted' : `${Math.round(video.volume * 100)}%`);
  };
  showVolume();
  video.addEventListener('volumechange', () => {
    showVolume();
    if (!remember) return;
    localStorage.setItem(VOLUME_ITEM, String(video.volume));
    localStorage.setItem(MUTED_ITEM, String(video.muted));
  });
  const toggleMute = () => {
    remember = true;
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = 0.5;
    say(video.muted ? 'Muted' : `Sound on, volume ${Math.round(video.volume * 100)}%`);
  };
  /** @param {number} delta */
  const changeVolume = (delta) => {
    remember = true;
    video.volume = Math.max(0, Math.min(1, Math.round((video.volume + delta) * 100) / 100));
    if (video.volume > 0) video.muted = false;
    say(`Volume ${Math.round(video.volume * 100)}%`);
  };
  muteButton.addEventListener('click', toggleMute);
  volume.addEventListener('input', () => {
    remember = true;
    video.volume = Number(volume.value);
    video.muted = video.volume === 0;
  });

  // ---- speed ----
  const showSpeed = () => {
    const rate = video.playbackRate;
    speedLabel.textContent = `${rate}×`;
    speedMenu.button.setAttribute('aria-label', `Playback speed: ${rate}×`);
    speedMenu.setItems(
      SPEEDS.map((s) => ({
        label: s === 1 ? 'Normal (1×)' : `${s}×`,
        checked: s === rate,
        onSelect: () => {
          video.playbackRate = s;
          video.defaultPlaybackRate = s;
          say(`Speed ${s}×`);
        },
      })),
    );
  };
  video.addEventListener('ratechange', showSpeed);
  showSpeed();

  // ---- captions and audio tracks (hls.js, or the browser's own tracks with native HLS) ----
  let lastCaption = 0;
  /** @returns {{label: string}[]} */
  const captionTracks = () =>
    state.hls
      ? state.hls.subtitleTracks.map((t, i) => ({ label: t.name || t.lang || `Track ${i + 1}` }))
      : nativeTextTracks().map((t, i) => ({ label: t.label || t.language || `Track ${i + 1}` }));
  const nativeTextTracks = () =>
    [...video.textTracks].filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
  const currentCaption = () => {
    if (state.hls) return state.hls.subtitleDisplay ? state.hls.subtitleTrack : -1;
    return nativeTextTracks().findIndex((t) => t.mode === 'showing');
  };
  /** @param {number} i -1: off */
  const setCaption = (i) => {
    const tracks = captionTracks();
    if (i >= 0) lastCaption = i;
    if (state.hls) {
      state.hls.subtitleDisplay = i >= 0;
      state.hls.subtitleTrack = i;
    } else {
      nativeTextTracks().forEach((t, j) => {
        t.mode = j === i ? 'showing' : 'disabled';
      });
    }
    showCaptions();
    say(i >= 0 ? `Captions: ${tracks[i]?.label ?? 'on'}` : 'Captions off');
  };
  const toggleCaptions = () => {
    const tracks = captionTracks();
    if (!tracks.length) return say('This video has no captions');
    setCaption(currentCaption() >= 0 ? -1 : Math.min(lastCaption, tracks.length - 1));
  };
  const showCaptions = () => {
    const tracks = captionTracks();
    captionsMenu.wrap.hidden = tracks.length === 0;
    const now = currentCaption();
    captionsMenu.button.classList.toggle('rp-on', now >= 0);
    captionsMenu.button.setAttribute(
      'aria-label',
      now >= 0 ? `Captions: ${tracks[now]?.label ?? 'on'}` : 'Captions: off',
    );
    captionsMenu.setItems([
      { label: 'Off', checked: now < 0, onSelect: () => setCaption(-1) },
      ...tracks.map((t, i) => ({ label: t.label, checked: i === now, onSelect: () => setCaption(i) })),
    ]);
  };
  video.textTracks.addEventListener('addtrack', () => {
    if (!state.hls) showCaptions();
  });

  const showAudio = () => {
    const hls = state.hls;
    const tracks = hls?.audioTracks ?? [];
    audioMenu.wrap.hidden = tracks.length < 2;
    if (!hls || tracks.length < 2) return;
    const now = hls.audioTrack;
    /** @param {(typeof tracks)[number]} t @param {number} i */
    const label = (t, i) => t.name || t.lang || `Track ${i + 1}`;
    audioMenu.button.setAttribute('aria-label', `Audio track: ${label(tracks[now] ?? tracks[0], now)}`);
    audioMenu.setItems(
      tracks.map((t, i) => ({
        label: label(t, i),
        checked: i === now,
        onSelect: () => {
          hls.audioTrack = i;
          say(`Audio: ${label(t, i)}`);
        },
      })),
    );
  };

  // ---- downloads ----
  const base = new URL(masterUrl, location.href);
  /** @param {Download[] | null | undefined} list */
  const setDownloads = (list) => {
    const items = [...(list ?? [])].sort((a, b) =>
      a.name === 'audio' ? 1 : b.name === 'audio' ? -1 : (b.height ?? 0) - (a.height ?? 0),
    );
    downloadMenu.wrap.hidden = items.length === 0;
    downloadMenu.setItems(
      items.map((d) => {
        const audio = d.name === 'audio';
        const ext = audio ? 'm4a' : 'mp4';
        const size = d.size ? ` · ${fmtBytes(d.size)}` : '';
        return {
          label: audio
            ? `Audio only (M4A)${size}`
            : `${d.name} MP4${d.width && d.height ? ` · ${d.width}×${d.height}` : ''}${size}`,
          href: new URL(`download/${d.name}.${ext}`, base).href,
        };
      }),
    );
  };
  setDownloads(downloads);

  // ---- picture-in-picture, fullscreen ----
  if (document.pictureInPictureEnabled && !video.disablePictureInPicture) pipButton.hidden = false;
  pipButton.addEventListener('click', async () => {
    try {
      if (document.pictureInPictureElement) await document.exitPictureInPicture();
      else await video.requestPictureInPicture();
    } catch (err) {
      say(`Picture in picture is not available: ${/** @type {Error} */ (err).message}`);
    }
  });
  video.addEventListener('enterpictureinpicture', () => {
    pipButton.setAttribute('aria-label', 'Leave picture in picture');
    say('Picture in picture');
  });
  video.addEventListener('leavepictureinpicture', () => {
    pipButton.setAttribute('aria-label', 'Picture in picture');
  });
  /** iPhone Safari: only the <video> itself goes full screen. */
  const webkitVideo = /** @type {HTMLVideoElement & {webkitEnterFullscreen?: () => void}} */ (video);
  if (document.fullscreenEnabled || webkitVideo.webkitEnterFullscreen) fullscreenButton.hidden = false;
  const toggleFullscreen = async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else if (document.fullscreenEnabled) await stage.requestFullscreen();
      else webkitVideo.webkitEnterFullscreen?.();
    } catch {
      // refused (not from a user gesture): nothing to do
    }
  };
  fullscreenButton.addEventListener('click', toggleFullscreen);
  document.addEventListener('fullscreenchange', () => {
    const on = document.fullscreenElement === stage;
    setIcon(fullscreenButton, on ? 'exitFullscreen' : 'fullscreen');
    fullscreenButton.setAttribute('aria-label', on ? 'Exit full screen' : 'Full screen');
    say(on ? 'Full screen' : 'Full screen off');
  });

  // ---- keyboard shortcuts, while the player has focus ----
  stage.addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = /** @type {HTMLElement} */ (e.target);
    const typing =
      target.isContentEditable ||
      target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement ||
      (target instanceof HTMLInputElement && target.type !== 'range');
    if (typing) return;
    const onButton = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
    const onVolume = target === volume;
    switch (e.key) {
      case ' ':
        if (onButton) return; // the button's own action
        togglePlay();
        break;
      case 'k':
      case 'K':
        togglePlay();
        break;
      case 'j':
      case 'J':
        seekBy(-10);
        break;
      case 'l':
      case 'L':
        seekBy(10);
        break;
      case 'ArrowLeft':
      case 'ArrowRight':
        if (onVolume) return; // the slider's own step
        seekBy(e.key === 'ArrowLeft' ? -5 : 5);
        break;
      case 'ArrowUp':
      case 'ArrowDown':
        if (onVolume) return;
        changeVolume(e.key === 'ArrowUp' ? 0.05 : -0.05);
        break;
      case 'f':
      case 'F':
        void toggleFullscreen();
        break;
      case 'm':
      case 'M':
        toggleMute();
        break;
      case 'c':
      case 'C':
        toggleCaptions();
        break;
      default:
        return;
    }
    e.preventDefault();
  });

  // ---- errors: visible, with Retry ----
  /** @type {() => void} */
  let retry = () => undefined;
  /**
   * @param {string} message
   * @param {() => void} onRetry
   */
  const showError = (message, onRetry) => {
    errorText.textContent = message;
    errorBox.hidden = false;
    spinner.hidden = true;
    retry = onRetry;
    // A keyboard user in the player lands on Retry; anyone else is told by role="alert".
    if (stage.contains(document.activeElement)) retryButton.focus();
  };
  retryButton.addEventListener('click', () => {
    errorBox.hidden = true;
    say('Trying again…');
    retry();
    stage.focus({ preventScroll: true });
  });

  // ---- stats and quality (outside the embed) ----
  const set = (/** @type {string} */ id, /** @type {string} */ text) => {
    const el = controls.querySelector(`#${id}`);
    if (el) el.textContent = text;
  };
  const updateStats = () => {
    const hls = state.hls;
    let ahead = 0;
    const t = video.currentTime;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= t + 0.1 && video.buffered.end(i) >= t) ahead = video.buffered.end(i) - t;
    }
    set('stat-buffer', `${ahead.toFixed(1)} s`);
    const q = video.getVideoPlaybackQuality?.();
    if (q) set('stat-dropped', `${q.droppedVideoFrames} of ${q.totalVideoFrames}`);
    if (hls) {
      set('stat-bandwidth', fmtBitrate(hls.bandwidthEstimate));
      const level = hls.levels[hls.currentLevel];
      if (level) {
        set(
          'stat-level',
          `${Math.min(level.width, level.height)}p (${level.width}×${level.height}, ${fmtBitrate(level.averageBitrate || level.bitrate)})${hls.autoLevelEnabled ? ', automatic' : ''}`,
        );
      }
    } else if (video.videoWidth) {
      set('stat-level', `${video.videoWidth}×${video.videoHeight} (chosen by the browser)`);
    }
  };
  const timer = setInterval(updateStats, 500);

  // ---- one exclusive player with sound at a time (embeds): same-origin frames share the channel ----
  const channel = exclusive && 'BroadcastChannel' in window ? new BroadcastChannel('reel.player') : null;
  const audible = () => !video.paused && !video.muted && video.volume > 0;
  video.addEventListener('playing', () => {
    if (audible()) channel?.postMessage('playing');
  });
  video.addEventListener('volumechange', () => {
    if (audible()) channel?.postMessage('playing');
  });
  channel?.addEventListener('message', () => {
    if (audible()) video.pause();
  });

  // ---- the stream ----
  if (Hls.isSupported()) {
    // startPosition 0: a video still processing has an EVENT playlist, which hls.js would otherwise join at
    // its live edge; it plays from the start and on through the switch to VOD when the video is ready.
    const hls = new Hls({
      capLevelToPlayerSize: false,
      startLevel: -1,
      startPosition: start,
      manifestLoadPolicy: loadPolicy(1),
      playlistLoadPolicy: loadPolicy(2),
      fragLoadPolicy: loadPolicy(2),
    });
    state.hls = hls;
    let recoveredAt = 0;
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
      state.levels = data.levels;
      // Highest first in the menu, as people expect (rebuilt when Retry loaded the master again).
      const order = data.levels
        .map((l, i) => /** @type {const} */ ([l, i]))
        .sort((a, b) => b[0].height - a[0].height);
      quality.replaceChildren(
        h('option', { value: '-1', text: 'Automatic' }),
        ...order.map(([level, i]) => h('option', { value: String(i), text: levelLabel(level) })),
      );
      if (autoplay) tryPlay();
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, updateStats);
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, showCaptions);
    hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, showCaptions);
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, showAudio);
    hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, showAudio);
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        const status = data.response?.code ?? data.networkDetails?.status ?? 0;
        // A 4xx will not get better by retrying (a bad or expired token, a deleted video).
        if (status >= 400 && status < 500 && onFatal) {
          hls.destroy();
          onFatal('network', { status, url: data.url ?? data.context?.url ?? masterUrl });
          return;
        }
        const noManifest = !hls.levels?.length;
        showError(
          noManifest
            ? 'The video could not be loaded: the network or the server failed.'
            : 'The video stopped loading: the network or the server failed.',
          noManifest ? () => hls.loadSource(masterUrl) : () => hls.startLoad(),
        );
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        // Once on its own; a second failure soon after asks the viewer.
        if (Date.now() - recoveredAt > 10_000) {
          recoveredAt = Date.now();
          hls.recoverMediaError();
        } else {
          showError('The video could not be decoded.', () => {
            recoveredAt = Date.now();
            hls.swapAudioCodec();
            hls.recoverMediaError();
          });
        }
      } else {
        hls.destroy();
        showError('Playback stopped: the browser could not play the video.', () => location.reload());
        onFatal?.('media', { details: data.details });
      }
    });
    quality.addEventListener('change', () => {
      // currentLevel switches at once (flushes the buffer); -1 hands the choice back to the ABR.
      hls.currentLevel = Number(quality.value);
      updateStats();
    });
    hls.loadSource(masterUrl);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    // Safari on iPhone: native HLS; the browser chooses the quality.
    quality.disabled = true;
    quality.replaceChildren(h('option', { text: 'Chosen by the browser' }));
    video.src = masterUrl;
    video.addEventListener(
      'loadedmetadata',
      () => {
        if (start) video.currentTime = start;
        if (autoplay) tryPlay();
      },
      { once: true },
    );
    video.addEventListener('error', () => {
      showError('The video could not be loaded.', () => {
        video.load();
        tryPlay();
      });
    });
  } else {
    onFatal?.('unsupported', {});
  }

  // ---- viewing analytics: batched beacons, no cookies (beacon.js) ----
  const beacon = startBeacon(video, masterUrl, state.hls);

  return {
    video,
    setDownloads,
    destroy() {
      beacon.stop();
      clearInterval(timer);
      channel?.close();
      state.hls?.destroy();
    },
  };
}

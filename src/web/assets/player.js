// @ts-check
// The player: hls.js on a <video>, a quality menu (automatic and each rendition) and the stats the
// viewer can read: the rendition playing, the bandwidth estimate, the buffer ahead, dropped frames.
import Hls from '/assets/vendor/hls.mjs';
import { fmtBitrate, h } from './common.js';

/** @param {import('/assets/vendor/hls.mjs').Level} level */
const levelLabel = (level) =>
  `${Math.min(level.width, level.height)}p · ${fmtBitrate(level.averageBitrate || level.bitrate)}`;

/**
 * Builds the player in `container` and plays `masterUrl`.
 * onFatal(kind, detail) is called when playback cannot go on (kind: 'network' with the HTTP status, or 'media').
 * @param {HTMLElement} container
 * @param {string} masterUrl
 * @param {{title?: string, poster?: string, compact?: boolean,
 *   onFatal?: (kind: 'network' | 'media' | 'unsupported', detail: Record<string, unknown>) => void}} [options]
 */
export function createPlayer(
  container,
  masterUrl,
  { title = 'Video', poster, onFatal, compact = false } = {},
) {
  const video = h('video', {
    controls: true,
    playsinline: true,
    preload: 'auto',
    poster,
    'aria-label': title,
  });
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
  container.append(h('div', { class: 'video-frame' }, video));
  if (!compact) container.append(controls);

  /** @type {{hls: Hls | null, video: HTMLVideoElement, levels: import('/assets/vendor/hls.mjs').Level[]}} */
  const state = { hls: null, video, levels: [] };
  window.reel = state; // for the browser tests and the curious

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

  const tryPlay = () => void video.play().catch(() => undefined); // blocked autoplay: the viewer presses play

  if (Hls.isSupported()) {
    // startPosition 0: a video still processing has an EVENT playlist, which hls.js would otherwise join at
    // its live edge; it plays from the start and on through the switch to VOD when the video is ready.
    const hls = new Hls({ capLevelToPlayerSize: false, startLevel: -1, startPosition: 0 });
    state.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
      state.levels = data.levels;
      // Highest first in the menu, as people expect.
      const order = data.levels
        .map((l, i) => /** @type {const} */ ([l, i]))
        .sort((a, b) => b[0].height - a[0].height);
      for (const [level, i] of order)
        quality.append(h('option', { value: String(i), text: levelLabel(level) }));
      tryPlay();
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, updateStats);
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        const status = data.response?.code ?? data.networkDetails?.status ?? 0;
        // A 4xx will not get better by retrying (a bad or expired token, a deleted video).
        if (status >= 400 && status < 500) {
          hls.destroy();
          onFatal?.('network', { status, url: data.url ?? data.context?.url ?? masterUrl });
          return;
        }
        hls.startLoad();
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        hls.destroy();
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
    video.addEventListener('loadedmetadata', tryPlay, { once: true });
    video.addEventListener('error', () => onFatal?.('media', { details: 'native playback failed' }));
  } else {
    onFatal?.('unsupported', {});
  }

  return {
    video,
    destroy() {
      clearInterval(timer);
      state.hls?.destroy();
    },
  };
}

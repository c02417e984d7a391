// @ts-check
// Viewing analytics in the web app: small hand-written SVG charts (views per day, the retention curve), the
// figures around them, and the panel on a video's page (mountVideoAnalytics). No chart library: two charts
// of a few dozen points each are a few lines of SVG, drawn at the width they are shown at, with each chart's
// numbers also in a table for screen readers and keyboard users.
import { api, fmtBitrate, h } from './common.js';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Node | string)} children
 * @returns {SVGElement}
 */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** @typedef {{day: string, views: number, uniqueViewers: number, watchTimeSeconds: number}} Day */

/** "Dec 2" from "2026-12-02". @param {string} day */
export const fmtDay = (day) =>
  new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, {
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC',
  });

/** 5400 → "1 h 30 min", 75 → "1 min 15 s". @param {number} seconds */
export function fmtWatchTime(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** @param {number} x 0–1 */
const pct = (x) => `${Math.round(x * 1000) / 10}%`;

/** A round number at or above `max` for the top of an axis. @param {number} max */
function niceMax(max) {
  if (max <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/**
 * Draws `draw(width)` into `box` now and again whenever its width changes.
 * @param {HTMLElement} box
 * @param {(width: number) => SVGElement} draw
 */
function drawResponsive(box, draw) {
  let last = 0;
  const paint = () => {
    const width = Math.max(240, Math.round(box.clientWidth));
    if (width === last) return;
    last = width;
    box.replaceChildren(draw(width));
  };
  new ResizeObserver(paint).observe(box);
  paint();
}

const HEIGHT = 180;
const PAD = { top: 12, right: 12, bottom: 26, left: 40 };

/**
 * Views per day as bars.
 * @param {Day[]} days
 * @param {string} label what the chart says to a screen reader
 */
export function viewsChart(days, label) {
  const box = h('div', { class: 'an-chart' });
  const max = niceMax(Math.max(0, ...days.map((d) => d.views)));
  drawResponsive(box, (width) => {
    const w = width - PAD.left - PAD.right;
    const hgt = HEIGHT - PAD.top - PAD.bottom;
    const step = w / Math.max(1, days.length);
    const bar = Math.max(1, Math.min(28, step * 0.7));
    const y = (/** @type {number} */ v) => PAD.top + hgt - (v / max) * hgt;
    const chart = svg('svg', {
      width,
      height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: 'img',
      'aria-label': label,
    });
    for (const v of [0, max / 2, max]) {
      chart.append(
        svg('line', { class: 'an-grid', x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }),
        svg('text', { class: 'an-axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)),
      );
    }
    days.forEach((d, i) => {
      const x = PAD.left + i * step + (step - bar) / 2;
      const rect = svg('rect', {
        class: 'an-bar',
        x,
        y: y(d.views),
        width: bar,
        height: Math.max(0, PAD.top + hgt - y(d.views)),
        rx: Math.min(3, bar / 3),
      });
      rect.append(svg('title', {}, `${fmtDay(d.day)}: ${d.views} ${d.views === 1 ? 'view' : 'views'}`));
      chart.append(rect);
    });
    // The first, middle and last days under the bars (fewer when narrow).
    const ticks =
      days.length <= 1
        ? [0]
        : width < 420
          ? [0, days.length - 1]
          : [0, Math.floor((days.length - 1) / 2), days.length - 1];
    for (const i of ticks) {
      const d = days[i];
      if (!d) continue;
      const x = PAD.left + i * step + step / 2;
      const anchor =
        i === 0 && days.length > 1 ? 'start' : i === days.length - 1 && days.length > 1 ? 'end' : 'middle';
      const tx = anchor === 'start' ? x - bar / 2 : anchor === 'end' ? x + bar / 2 : x;
      chart.append(
        svg('text', { class: 'an-axis', x: tx, y: HEIGHT - 8, 'text-anchor': anchor }, fmtDay(d.day)),
      );
    }
    return chart;
  });
  return box;
}

/**
 * The retention curve: the share of views still watching at each 5 % of the video.
 * @param {number[]} retention 21 shares, 0–1
 */
export function retentionChart(retention) {
  const box = h('div', { class: 'an-chart' });
  const label = `Retention: ${pct(retention[0] ?? 0)} of views started playing, ${pct(retention[10] ?? 0)} reached the middle, ${pct(retention[20] ?? 0)} the end.`;
  drawResponsive(box, (width) => {
    const w = width - PAD.left - PAD.right;
    const hgt = HEIGHT - PAD.top - PAD.bottom;
    const x = (/** @type {number} */ i) => PAD.left + (i / 20) * w;
    const y = (/** @type {number} */ v) => PAD.top + hgt - v * hgt;
    const chart = svg('svg', {
      width,
      height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: 'img',
      'aria-label': label,
    });
    for (const v of [0, 0.5, 1]) {
      chart.append(
        svg('line', { class: 'an-grid', x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }),
        svg('text', { class: 'an-axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, `${v * 100}%`),
      );
    }
    const points = retention.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    chart.append(
      svg('polygon', { class: 'an-area', points: `${x(0)},${y(0)} ${points.join(' ')} ${x(20)},${y(0)}` }),
      svg('polyline', { class: 'an-line', points: points.join(' ') }),
    );
    retention.forEach((v, i) => {
      const dot = svg('circle', { class: 'an-dot', cx: x(i), cy: y(v), r: 3 });
      dot.append(svg('title', {}, `${i * 5}% of the video: ${pct(v)} of views`));
      chart.append(dot);
    });
    for (const [i, anchor] of /** @type {const} */ ([
      [0, 'start'],
      [10, 'middle'],
      [20, 'end'],
    ]))
      chart.append(
        svg('text', { class: 'an-axis', x: x(i), y: HEIGHT - 8, 'text-anchor': anchor }, `${i * 5}%`),
      );
    return chart;
  });
  return box;
}

/**
 * A table of the chart's numbers, folded away (for screen readers and anyone who wants the figures).
 * @param {string} summary
 * @param {string[]} head
 * @param {(string | number)[][]} rows
 */
export function dataTable(summary, head, rows) {
  return h(
    'details',
    { class: 'an-data' },
    h('summary', { text: summary }),
    h(
      'div',
      { class: 'an-scroll' },
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, ...head.map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', { text: String(c) }))))),
      ),
    ),
  );
}

/**
 * The headline figures as a definition list.
 * @param {[string, string, string?][]} figures label, value, hint
 */
export function figures(figures) {
  return h(
    'dl',
    { class: 'an-figures' },
    ...figures.map(([label, value, hint]) =>
      h(
        'div',
        { class: 'an-figure' },
        h('dt', { text: label }),
        h('dd', { text: value }, hint ? h('span', { class: 'an-hint', text: hint }) : null),
      ),
    ),
  );
}

/** The ranges the pages offer, in days. */
export const RANGES = [7, 30, 90];

/** `{from, to}` for the last `n` days, in UTC (the days the server counts in). @param {number} n */
export function lastDays(n) {
  const to = new Date();
  const from = new Date(to.getTime() - (n - 1) * 86_400_000);
  return { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
}

/**
 * A <select> of ranges; calls onChange(days) when another is chosen.
 * @param {string} id
 * @param {number} initial
 * @param {(days: number) => void} onChange
 */
export function rangePicker(id, initial, onChange) {
  const select = h(
    'select',
    { id },
    ...RANGES.map((n) => h('option', { value: String(n), text: `Last ${n} days`, selected: n === initial })),
  );
  select.addEventListener('change', () => onChange(Number(select.value)));
  return h('div', { class: 'field inline an-range' }, h('label', { for: id, text: 'Period' }), select);
}

/**
 * The analytics panel of a video's page: figures, views per day, retention, top referrers.
 * @param {HTMLElement} container
 * @param {string} videoId
 */
export function mountVideoAnalytics(container, videoId) {
  const body = h('div', { class: 'an-body', 'aria-live': 'polite', 'aria-busy': 'true' });
  let days = 30;
  const load = async () => {
    body.setAttribute('aria-busy', 'true');
    const { from, to } = lastDays(days);
    try {
      const a = await api(`/v1/videos/${encodeURIComponent(videoId)}/analytics?from=${from}&to=${to}`);
      body.replaceChildren(...renderVideo(a));
    } catch (err) {
      body.replaceChildren(
        h('p', {
          class: 'error',
          text: `Analytics could not be loaded: ${/** @type {Error} */ (err).message}`,
        }),
      );
    }
    body.setAttribute('aria-busy', 'false');
  };
  container.replaceChildren(
    h(
      'section',
      { class: 'panel an-panel', 'aria-labelledby': 'analytics-title' },
      h(
        'div',
        { class: 'an-head' },
        h('h2', { id: 'analytics-title', text: 'Viewing analytics' }),
        rangePicker('analytics-range', days, (n) => {
          days = n;
          void load();
        }),
      ),
      body,
    ),
  );
  void load();
  return { reload: load };
}

/**
 * @param {any} a GET /v1/videos/{id}/analytics
 * @returns {Node[]}
 */
function renderVideo(a) {
  /** @type {Day[]} */
  const days = a.days;
  const startup = a.startupTimeMs;
  const top = figures([
    ['Views', String(a.views)],
    ['Unique viewers', String(a.uniqueViewers), 'counted per day'],
    ['Watch time', fmtWatchTime(a.watchTimeSeconds)],
    [
      'Startup time',
      startup.p50 === null ? '–' : `${startup.p50} ms`,
      startup.p95 === null ? '' : `p95 ${startup.p95} ms`,
    ],
    ['Rebuffering', pct(a.rebufferRatio), `${a.rebufferCount} ${a.rebufferCount === 1 ? 'stall' : 'stalls'}`],
    [
      'Average bit rate',
      a.averageBitrate ? fmtBitrate(a.averageBitrate) : '–',
      a.errors ? `${a.errors} errors` : '',
    ],
  ]);
  if (a.views === 0 && a.watchTimeSeconds === 0) {
    return [
      top,
      h('p', {
        class: 'an-empty',
        text: 'No views in this period yet. Players report views as they play; they appear here within a minute or so.',
      }),
    ];
  }
  const range = `from ${fmtDay(a.from)} to ${fmtDay(a.to)}`;
  const most = days.reduce((m, d) => (d.views > m.views ? d : m), days[0] ?? { day: a.to, views: 0 });
  /** @type {number[]} */
  const retention = a.retention;
  /** @type {{origin: string, views: number}[]} */
  const referrers = a.topReferrers;
  return [
    top,
    h(
      'div',
      { class: 'an-charts' },
      h(
        'figure',
        { class: 'an-fig' },
        h('figcaption', { text: 'Views per day' }),
        viewsChart(
          days,
          `Views per day ${range}: ${a.views} in all, most on ${fmtDay(most.day)} (${most.views}).`,
        ),
        dataTable(
          'Views per day as a table',
          ['Day', 'Views', 'Unique viewers', 'Watch time'],
          days.map((d) => [fmtDay(d.day), d.views, d.uniqueViewers, fmtWatchTime(d.watchTimeSeconds)]),
        ),
      ),
      h(
        'figure',
        { class: 'an-fig' },
        h('figcaption', { text: 'Retention: share of views still watching' }),
        retentionChart(retention),
        dataTable(
          'Retention as a table',
          ['Point of the video', 'Views still watching'],
          retention.map((v, i) => [`${i * 5}%`, pct(v)]),
        ),
      ),
    ),
    h(
      'div',
      { class: 'an-referrers' },
      h('h3', { text: 'Top referrers' }),
      referrers.length
        ? h(
            'ol',
            {},
            ...referrers.map((r) =>
              h(
                'li',
                {},
                h('span', { class: 'an-origin', text: r.origin }),
                h('span', { class: 'an-count', text: `${r.views} ${r.views === 1 ? 'view' : 'views'}` }),
              ),
            ),
          )
        : h('p', { class: 'hint', text: 'No other site linked to or embedded this video in this period.' }),
    ),
  ];
}

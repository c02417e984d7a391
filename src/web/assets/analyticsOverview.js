// @ts-check
// The analytics overview (/analytics): the whole library's views, unique viewers and watch time over a
// period, views per day, and the most viewed videos with their quality of experience.

import { dataTable, figures, fmtDay, fmtWatchTime, lastDays, rangePicker, viewsChart } from './analytics.js';
import { $, api, fmtBitrate, h, requireKey, setUpHeader } from './common.js';

/** @param {number} x 0–1 */
const pct = (x) => `${Math.round(x * 1000) / 10}%`;

let days = 30;

async function load() {
  const body = $('#overview');
  body.setAttribute('aria-busy', 'true');
  const { from, to } = lastDays(days);
  try {
    const a = await api(`/v1/analytics?from=${from}&to=${to}`);
    body.replaceChildren(...render(a));
  } catch (err) {
    body.replaceChildren(
      h('p', {
        class: 'error',
        text: `Analytics could not be loaded: ${/** @type {Error} */ (err).message}`,
      }),
    );
  }
  body.setAttribute('aria-busy', 'false');
}

/**
 * @param {any} a GET /v1/analytics
 * @returns {Node[]}
 */
function render(a) {
  /** @type {import('./analytics.js').Day[]} */
  const perDay = a.days;
  /** @type {any[]} */
  const videos = a.videos;
  const top = figures([
    ['Views', String(a.views)],
    ['Unique viewers', String(a.uniqueViewers), 'counted per day and video'],
    ['Watch time', fmtWatchTime(a.watchTimeSeconds)],
    ['Rebuffering', pct(a.rebufferRatio)],
    ['Average bit rate', a.averageBitrate ? fmtBitrate(a.averageBitrate) : '–'],
  ]);
  if (a.views === 0 && a.watchTimeSeconds === 0)
    return [
      top,
      h('p', {
        class: 'an-empty',
        text: 'No views in this period yet. Share a video (its page has the link and the embed code): players report views as they play.',
      }),
    ];
  const most = perDay.reduce((m, d) => (d.views > m.views ? d : m), perDay[0] ?? { day: a.to, views: 0 });
  return [
    top,
    h(
      'figure',
      { class: 'an-fig panel' },
      h('figcaption', { text: 'Views per day' }),
      viewsChart(
        perDay,
        `Views per day from ${fmtDay(a.from)} to ${fmtDay(a.to)}: ${a.views} in all, most on ${fmtDay(most.day)} (${most.views}).`,
      ),
      dataTable(
        'Views per day as a table',
        ['Day', 'Views', 'Unique viewers', 'Watch time'],
        perDay.map((d) => [fmtDay(d.day), d.views, d.uniqueViewers, fmtWatchTime(d.watchTimeSeconds)]),
      ),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'top-videos' },
      h('h2', { id: 'top-videos', text: 'Most viewed videos' }),
      h(
        'div',
        { class: 'an-scroll' },
        h(
          'table',
          { class: 'an-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Video', 'Views', 'Unique viewers', 'Watch time', 'Rebuffering', 'Bit rate'].map((t) =>
                h('th', { scope: 'col', text: t }),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            ...videos.map((v) =>
              h(
                'tr',
                {},
                h(
                  'th',
                  { scope: 'row' },
                  h('a', { href: `/videos/${encodeURIComponent(v.id)}`, text: v.title || 'Untitled' }),
                ),
                h('td', { text: String(v.views) }),
                h('td', { text: String(v.uniqueViewers) }),
                h('td', { text: fmtWatchTime(v.watchTimeSeconds) }),
                h('td', { text: pct(v.rebufferRatio) }),
                h('td', { text: v.averageBitrate ? fmtBitrate(v.averageBitrate) : '–' }),
              ),
            ),
          ),
        ),
      ),
    ),
  ];
}

setUpHeader();
$('#range').replaceWith(
  rangePicker('analytics-range', days, (n) => {
    days = n;
    void load();
  }),
);
await requireKey();
await load();

/**
 * Viewing analytics in Debian's Chromium against a real Reel: a published 2 s video played to its end on the
 * public watch page (opened from another site) sends its beacons (start with the startup time and the
 * referring origin only, time played at the rendition's bit rate, every 5 % point), with no cookie; after a
 * rollup, the video page shows the figures and the two charts, and /analytics the library. Screenshots at
 * 1440×900, 1366×768, 390×844 and in dark mode go to test-artifacts/screenshots/.
 */
import fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollUpAnalytics } from '../../src/analytics/rollup.js';
import { countViewEvents } from '../../src/db/analytics.js';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, screenshot } from './browser.js';

interface Beacon {
  videoId: string;
  access: string;
  events: {
    type: string;
    startupMs?: number;
    referrer?: string | null;
    ms?: number;
    bitrate?: number;
    points?: number[];
  }[];
}

const SIZES = [
  ['1440', { width: 1440, height: 900 }],
  ['1366', { width: 1366, height: 768 }],
  ['390', { width: 390, height: 844 }],
] as const;

describe('viewing analytics in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let id = '';

  beforeAll(async () => {
    let clip: string;
    [t, browser, clip] = await Promise.all([
      startTestReel({ ladder: '240', 'analytics-rollup-seconds': '3600' }),
      launchChromium(),
      makeClip('analytics-240p', { width: 320, height: 240, seconds: 2 }),
    ]);
    id = await tusUpload(t, fs.readFileSync(clip), {
      filename: 'walk.mp4',
      title: 'A walk in the park',
      playback_policy: 'public',
    });
    await waitUntilReady(t, id, 30_000);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (t) fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  /** Takes the page's screenshots at the three sizes, then in dark mode at the first. */
  async function shoot(page: Page, name: string, ready: () => Promise<unknown>) {
    for (const [label, size] of SIZES) {
      await page.setViewportSize(size);
      await page.waitForTimeout(100); // the charts redraw at the new width
      await ready();
      await screenshot(page, `${name}-${label}`);
    }
    await page.setViewportSize(SIZES[0][1]);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(100);
    await screenshot(page, `${name}-1440-dark`);
    await page.emulateMedia({ colorScheme: 'light' });
  }

  it('a view on the watch page sends its beacons; after the rollup the video page and /analytics show it', async () => {
    const context = await browser.newContext({ viewport: SIZES[0][1] });
    const { page, problems } = await openPage(context);
    // What the page hands to sendBeacon (DevTools does not show a beacon's body), and what goes out.
    await context.addInitScript(() => {
      const sent: string[] = [];
      (window as unknown as { __beacons: string[] }).__beacons = sent;
      const real = navigator.sendBeacon.bind(navigator);
      navigator.sendBeacon = (url, data) => {
        void (data as Blob).text().then((text) => sent.push(text));
        return real(url, data);
      };
    });
    let requests = 0;
    const cookies: string[] = [];
    page.on('request', (r) => {
      if (!r.url().endsWith('/v1/beacons')) return;
      requests++;
      const cookie = r.headers()['cookie'];
      if (cookie) cookies.push(cookie);
    });
    // Opened from a link on another site: only that site's origin is reported.
    await page.goto(`${t.url}/watch/${id}/public`, { referer: 'https://blog.example/2026/12/a-post?utm=x' });
    await page.waitForFunction(
      () => (window as unknown as { reel?: { video: HTMLVideoElement } }).reel?.video.ended,
      undefined,
      {
        timeout: 20_000,
      },
    );
    await waitFor('the beacons to be stored', async () => (await countViewEvents(t.reel.db)) > 0, 5000, 50);
    expect(problems).toEqual([]);
    const beacons = (await page.evaluate(() => (window as unknown as { __beacons: string[] }).__beacons)).map(
      (text) => JSON.parse(text) as Beacon,
    );
    expect(beacons.length).toBeGreaterThan(0);
    expect(requests).toBe(beacons.length);
    expect(cookies).toEqual([]);
    const events = beacons.flatMap((b) => b.events);
    expect(beacons.map((b) => [b.videoId, b.access])).toEqual(beacons.map(() => [id, 'public']));
    const start = events.filter((e) => e.type === 'start');
    expect(start).toHaveLength(1);
    expect(start[0]).toMatchObject({ referrer: 'https://blog.example', startupMs: expect.any(Number) });
    expect(start[0]!.startupMs!).toBeLessThan(15_000);
    const played = events.filter((e) => e.type === 'play');
    expect(played.every((e) => (e.bitrate ?? 0) > 0)).toBe(true);
    expect(played.reduce((s, e) => s + (e.ms ?? 0), 0)).toBeGreaterThan(1200);
    const points = new Set(events.flatMap((e) => e.points ?? []));
    expect([...points].sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    await context.close();

    await rollUpAnalytics(t.reel.db, { maxRawEvents: 1000 });
    const api = (await (await t.api(`/v1/videos/${id}/analytics`)).json()) as Record<string, unknown>;
    expect(api).toMatchObject({
      views: 1,
      uniqueViewers: 1,
      topReferrers: [{ origin: 'https://blog.example', views: 1 }],
    });
    expect((api['retention'] as number[]).every((r) => r === 1)).toBe(true);

    // The video page, signed in: figures, views per day, retention.
    const owner = await browser.newContext({ viewport: SIZES[0][1] });
    await owner.addInitScript((key: string) => localStorage.setItem('reel.apiKey', key), t.apiKey);
    const video = await openPage(owner);
    await video.page.goto(`${t.url}/videos/${id}`);
    const panel = video.page.getByRole('region', { name: 'Viewing analytics' });
    await panel.getByRole('img', { name: /^Views per day/ }).waitFor();
    const figure = (label: string) => panel.locator('.an-figure', { hasText: label }).locator('dd');
    expect(await figure('Views').first().textContent()).toBe('1');
    expect(await figure('Unique viewers').textContent()).toMatch(/^1/);
    expect(
      await panel
        .getByRole('img', { name: /^Retention: 100% of views started playing.*100% the end/ })
        .count(),
    ).toBe(1);
    expect(await panel.locator('.an-origin').allTextContents()).toEqual(['https://blog.example']);
    // Bars: one per day of the period, today's the tallest.
    expect(await panel.locator('.an-bar').count()).toBe(30);
    await shoot(video.page, 'analytics-video', () =>
      panel.getByRole('img', { name: /^Retention/ }).waitFor(),
    );
    // The header links to the overview.
    await video.page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Analytics' })
      .click();
    await video.page.waitForURL(`${t.url}/analytics`);
    const overview = video.page.getByRole('main');
    await overview.getByRole('img', { name: /^Views per day/ }).waitFor();
    const row = overview.getByRole('row', { name: /A walk in the park/ });
    expect(await row.getByRole('cell').first().textContent()).toMatch(/^[1-9]/);
    expect(await row.getByRole('link').getAttribute('href')).toBe(`/videos/${id}`);
    await shoot(video.page, 'analytics-overview', () =>
      overview.getByRole('img', { name: /^Views per day/ }).waitFor(),
    );
    expect(video.problems).toEqual([]);
    await owner.close();
  }, 40_000);
});

/**
 * Share links in Debian's Chromium (issue 14) against a real Reel whose playback tokens last 3 s: the video
 * page's Share panel makes a link, lists it with its expiry kept up to date (a link that expires while the
 * page is open can no longer be copied) and builds the embed code; the link's page plays the signed video
 * after its first token expired (it fetches fresh ones, and again when a start is refused); the embed does not play by itself, does with
 * autoplay&muted, and two embeds on one page never play over each other. Screenshots of the panel and the
 * /s/ page at 1440×900, 1366×768 and 390×844, and in dark mode, go to test-artifacts/screenshots/.
 */
import fs from 'node:fs';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, screenshot } from './browser.js';

interface PlayerWindow {
  reel?: { video: HTMLVideoElement; hls: { levels: unknown[] } | null };
}

const SIZES = [
  { name: '1440', viewport: { width: 1440, height: 900 } },
  { name: '1366', viewport: { width: 1366, height: 768 } },
  { name: '390', viewport: { width: 390, height: 844 } },
] as const;

describe('share links in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let id = '';
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    let clip: string;
    [t, browser, clip] = await Promise.all([
      startTestReel({ ladder: '240', 'token-ttl-seconds': '3', 'session-allowance-seconds': '0' }),
      launchChromium(),
      makeClip('share-clip', { width: 426, height: 240, seconds: 3 }),
    ]);
    id = await tusUpload(t, fs.readFileSync(clip), {
      filename: 'share.mp4',
      title: 'Shared clip',
      playback_policy: 'signed',
    });
    await waitUntilReady(t, id, 30_000);
  }, 60_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  async function context(
    viewport: { width: number; height: number } = SIZES[0].viewport,
    dark = false,
    apiKey = false,
  ) {
    const c = await browser.newContext({ viewport, colorScheme: dark ? 'dark' : 'light' });
    contexts.push(c);
    if (apiKey) await c.addInitScript((key) => localStorage.setItem('reel.apiKey', key), t.apiKey);
    return c;
  }
  const share = async (expiresIn: string | number = '7d') => {
    const res = await t.api(`/v1/videos/${id}/shares`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expiresIn }),
    });
    return (await res.json()) as { id: string; url: string; embedUrl: string };
  };
  const video = (target: Page | Frame) =>
    target.evaluate(() => {
      const v = (window as unknown as PlayerWindow).reel?.video;
      return v ? { time: v.currentTime, paused: v.paused, muted: v.muted, ready: v.readyState } : null;
    });
  const playing = (target: Page | Frame, past = 0.3) =>
    target.waitForFunction(
      (s) => ((window as unknown as PlayerWindow).reel?.video.currentTime ?? 0) > s,
      past,
      { timeout: 15_000 },
    );

  it('the panel makes a link, lists it with its expiry, builds the embed code, and never copies an expired link', async () => {
    const { page, problems } = await openPage(await context(SIZES[0].viewport, false, true));
    await page.goto(`${t.url}/videos/${id}`);
    const panel = page.getByRole('region', { name: 'Share' });
    await panel.waitFor();
    expect(await panel.textContent()).not.toMatch(/\/watch\//);
    await page.getByLabel('Works for').selectOption('never');
    await page.getByLabel(/^Label/).fill('Blog post');
    await page.getByRole('button', { name: 'Create share link' }).click();
    const item = page.locator('.share-item').first();
    await item.waitFor();
    const link = await item.getByRole('textbox').inputValue();
    expect(link).toMatch(new RegExp(`^${t.url}/s/[0-9A-Za-z]{22}$`));
    expect(await item.textContent()).toMatch(/Blog post.*Works until you revoke it · 0 views/s);

    // The embed code plays through the share link; its options are in its URL.
    const code = page.getByLabel('Embed code');
    expect(await code.inputValue()).toContain(`<iframe src="${link}/embed"`);
    await page.getByRole('checkbox', { name: /Autoplay/ }).check();
    expect(await code.inputValue()).toContain(`src="${link}/embed?autoplay=1&amp;muted=1"`);
    await page.getByRole('checkbox', { name: 'Loop' }).check();
    await page.getByLabel('Start at').fill('2');
    expect(await code.inputValue()).toContain(`${link}/embed?autoplay=1&amp;muted=1&amp;loop=1&amp;start=2"`);
    await page.getByRole('checkbox', { name: 'Muted', exact: true }).uncheck();
    expect(await code.inputValue()).toContain('autoplay=1&amp;muted=0');

    for (const { name, viewport } of SIZES) {
      await page.setViewportSize(viewport);
      await panel.scrollIntoViewIfNeeded();
      await screenshot(page, `share-panel-${name}`);
    }
    await page.setViewportSize(SIZES[0].viewport);
    await page.emulateMedia({ colorScheme: 'dark' });
    await panel.scrollIntoViewIfNeeded();
    await screenshot(page, 'share-panel-dark-1440');
    await page.emulateMedia({ colorScheme: 'light' });

    // A link that expires while the page is open turns "Expired" by itself and cannot be copied.
    const short = await share(3600);
    await t.reel.db.query(
      `UPDATE share_links SET expires_at = now() + interval '1500 milliseconds' WHERE id = $1`,
      [short.id],
    );
    await page.reload();
    const shortItem = page.locator(`[data-share="${short.id}"]`);
    await shortItem.waitFor();
    expect(await shortItem.getByRole('button', { name: 'Copy link' }).isEnabled()).toBe(true);
    await expect.poll(() => shortItem.textContent(), { timeout: 5_000 }).toMatch(/Expired/);
    expect(await shortItem.getByRole('button', { name: 'Expired' }).isDisabled()).toBe(true);
    await shortItem.scrollIntoViewIfNeeded();
    await screenshot(page, 'share-panel-expired-1440');
    // …nor is it offered for the embed code.
    expect(await page.getByLabel('Plays through').locator('option').count()).toBe(1);

    // Revoke: gone from the list, and its page says so.
    page.once('dialog', (d) => void d.accept());
    await page
      .locator('.share-item')
      .filter({ hasText: 'Blog post' })
      .getByRole('button', { name: /^Revoke/ })
      .click();
    await expect.poll(() => page.locator(`.share-item input[value="${link}"]`).count()).toBe(0);
    const viewer = await openPage(await context());
    await viewer.page.goto(link);
    await expect
      .poll(() => viewer.page.getByRole('alert').textContent())
      .toMatch(/turned off by the person who shared it/);
    await screenshot(viewer.page, 'share-page-revoked-1440');
    expect(problems).toEqual([]);
  });

  it('the link’s page plays the signed video after its first token expired, at every size and in dark mode', async () => {
    const s = await share('7d');
    const first = (await (await fetch(`${t.url}/s/${s.id}/playback`)).json()) as { url: string };
    await new Promise((r) => setTimeout(r, 4_100));
    expect((await fetch(first.url)).status).toBe(403);

    const { page, problems } = await openPage(await context());
    await page.goto(s.url);
    await playing(page);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Shared clip');
    expect(await page.locator('#expiry').textContent()).toMatch(/This link works until .*in 7 days/);
    await page.evaluate(() => (window as unknown as PlayerWindow).reel?.video.pause());
    for (const { name, viewport } of SIZES) {
      await page.setViewportSize(viewport);
      await screenshot(page, `share-page-${name}`);
    }
    await page.setViewportSize(SIZES[0].viewport);
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'share-page-dark-1440');
    expect(problems).toEqual([]);

    // A start refused (a page left open past its token, or its session): a fresh token, and it plays on.
    const { page: later } = await openPage(await context());
    let masters = 0;
    await later.route('**/master.m3u8', (route) =>
      masters++ === 0
        ? route.fulfill({
            status: 403,
            contentType: 'application/json',
            body: JSON.stringify(errors.expiredToken().toBody()),
          })
        : route.continue(),
    );
    const asked: string[] = [];
    later.on('request', (r) => {
      if (r.url().includes('/playback')) asked.push(r.url().slice(t.url.length));
    });
    await later.goto(s.url);
    await playing(later);
    expect(masters).toBe(2);
    // Only the page load counts a view; the renewal says so.
    expect(asked).toEqual([`/s/${s.id}/playback`, `/s/${s.id}/playback?renew=1`]);
  });

  it('the embed does not play by itself; with autoplay&muted it does; two embeds never play over each other', async () => {
    const s = await share('1d');
    const { page } = await openPage(await context({ width: 800, height: 500 }));
    await page.goto(s.embedUrl);
    await page.waitForFunction(() => ((window as unknown as PlayerWindow).reel?.hls?.levels.length ?? 0) > 0);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await video(page)).toMatchObject({ paused: true, time: 0 });
    await screenshot(page, 'share-embed-800');

    await page.goto(`${s.embedUrl}?autoplay=1&muted=1&loop=1`);
    await playing(page);
    expect(await video(page)).toMatchObject({ paused: false, muted: true });
    // Autoplay alone starts muted too; the viewer's remembered sound setting is left alone.
    await page.goto(`${s.embedUrl}?autoplay`);
    await playing(page);
    expect(await video(page)).toMatchObject({ muted: true });
    expect(await page.evaluate(() => localStorage.getItem('reel.player.muted'))).not.toBe('true');

    // Two embeds on one page: starting the second pauses the first.
    await page.goto(`${t.url}/healthz`);
    await page.setContent(
      `<iframe name="a" src="${s.embedUrl}" width="380" height="220"></iframe>` +
        `<iframe name="b" src="${s.embedUrl}" width="380" height="220"></iframe>`,
    );
    const a = page.frame({ name: 'a' })!;
    const b = page.frame({ name: 'b' })!;
    for (const f of [a, b])
      await f.waitForFunction(() => ((window as unknown as PlayerWindow).reel?.hls?.levels.length ?? 0) > 0);
    expect((await video(a))?.paused).toBe(true);
    expect((await video(b))?.paused).toBe(true);
    await a.getByRole('button', { name: 'Play', exact: true }).click();
    await playing(a, 0.2);
    await b.getByRole('button', { name: 'Play', exact: true }).click();
    await playing(b, 0.2);
    await expect.poll(async () => (await video(a))?.paused).toBe(true);
    expect((await video(b))?.paused).toBe(false);
  });
});

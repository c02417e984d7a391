/**
 * hls.js in Debian's Chromium plays a signed video across its token's expiry: the playback starts with a
 * valid token, the tab is paused until the token has expired, then the viewer resumes on another rendition
 * (a playlist and segments hls.js has not fetched yet) and watches to the end. A link whose token expired
 * cannot start a playback.
 */
import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, screenshot } from './browser.js';

/** What the player pages put on window (player.js). */
interface PlayerWindow {
  reel?: { hls: { currentLevel: number; levels: unknown[] } | null; video: HTMLVideoElement };
}

const TTL = 8;

describe('a signed video in the browser', () => {
  let t: TestReel;
  let browser: Browser;
  let clip: string;
  beforeAll(async () => {
    [t, browser, clip] = await Promise.all([
      startTestReel({ 'token-ttl-seconds': String(TTL), ladder: '480,240' }),
      launchChromium(),
      makeClip('session-480p', { width: 854, height: 480, seconds: 10 }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('plays to the end across its token’s expiry (paused, then switched rendition); the expired link cannot start', async () => {
    const id = await tusUpload(t, fs.readFileSync(clip), { title: 'Session clip' });
    await waitFor(
      'the video ready',
      async () => ((await (await t.api(`/v1/videos/${id}`)).json()) as { status: string }).status === 'ready',
      120_000,
    );
    const { url, expiresAt } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as {
      url: string;
      expiresAt: string;
    };
    const link = `${t.url}/watch/${id}/${url.split('/')[5]}`;
    const expiry = new Date(expiresAt).getTime();

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const viewer = await openPage(context);
    const afterExpiry: { path: string; status: number }[] = [];
    viewer.page.on('response', (res) => {
      const { pathname } = new URL(res.url());
      if (Date.now() > expiry + 500 && pathname.startsWith('/play/')) {
        afterExpiry.push({ path: pathname.split('/').slice(4).join('/'), status: res.status() });
      }
    });
    await viewer.page.goto(link);
    await viewer.page.waitForFunction(
      () => ((window as unknown as PlayerWindow).reel?.video.currentTime ?? 0) > 0.3,
      undefined,
      { timeout: 60_000 },
    );
    await viewer.page.evaluate(() => (window as unknown as PlayerWindow).reel!.video.pause());

    // A paused tab, until the token has expired.
    await new Promise((r) => setTimeout(r, Math.max(0, expiry - Date.now() + 1500)));
    expect((await fetch(url)).status).toBe(403);

    // Resume on the other rendition: hls.js flushes its buffer and loads that playlist and its segments now.
    await viewer.page.evaluate(() => {
      const { hls, video } = (window as unknown as PlayerWindow).reel!;
      hls!.currentLevel = hls!.currentLevel === 0 ? 1 : 0;
      void video.play();
    });
    await viewer.page.waitForFunction(
      () => {
        const v = (window as unknown as PlayerWindow).reel!.video;
        return v.ended || v.currentTime > 9.3;
      },
      undefined,
      { timeout: 60_000 },
    );
    await screenshot(viewer.page, '20-watch-after-token-expiry');
    // Segments fetched after the expiry (hls.js keeps the VOD playlists it has already read).
    expect(
      afterExpiry.filter((r) => r.path.endsWith('.m4s')).length,
      JSON.stringify(afterExpiry),
    ).toBeGreaterThan(2);
    expect(afterExpiry.filter((r) => r.status >= 400)).toEqual([]);
    expect(viewer.problems).toEqual([]);
    expect(await viewer.page.locator('#problem').isHidden()).toBe(true);

    // The same link, opened now, cannot start a playback, and the page says why.
    const late = await openPage(context);
    await late.page.goto(link);
    const alert = late.page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/This link has expired.*REEL_EXPIRED_TOKEN/s);
    await context.close();
  });
});

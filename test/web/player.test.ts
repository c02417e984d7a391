/**
 * The player (issue 13 item 7) in Debian's Chromium against a real Reel: one processed source with two audio
 * tracks (eng, fra), an English mov_text subtitle stream and MP4 downloads, on the public watch page. The
 * audio-track and captions menus drive hls.js, the seek bar previews storyboard frames, the speed menu,
 * the keyboard shortcuts, volume remembered across a reload, the download menu, and a network failure shown
 * with Retry that recovers. Screenshots (wide and phone, light and dark) go to test-artifacts/screenshots/.
 */
import fs from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRichClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, screenshot } from './browser.js';

/** What the player exposes to tests as window.reel (player.js). */
interface ReelWindow {
  reel: {
    hls: {
      levels: unknown[];
      audioTracks: { name: string; lang?: string }[];
      audioTrack: number;
      subtitleTracks: { name: string; lang?: string }[];
      subtitleTrack: number;
    };
    video: HTMLVideoElement;
  };
}

/** Visible form controls without a name a screen reader can announce. */
const unlabelled = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button, a[role="menuitem"]')]
      .filter((el) => {
        if (el.closest('[hidden]')) return false;
        const labels = (el as HTMLInputElement).labels;
        return (
          !labels?.length &&
          !el.getAttribute('aria-label') &&
          !el.getAttribute('aria-labelledby') &&
          !(el.textContent ?? '').trim()
        );
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );

describe('the player in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let id = '';
  let watchUrl = '';
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    let clip: string;
    [t, browser, clip] = await Promise.all([
      startTestReel({ ladder: '360,240' }),
      launchChromium(),
      makeRichClip(),
    ]);
    id = await tusUpload(t, fs.readFileSync(clip), {
      filename: 'rich.mp4',
      playback_policy: 'public',
      mp4: 'true',
    });
    await waitUntilReady(t, id, 60_000);
    watchUrl = `${t.url}/watch/${id}/public`;
  }, 90_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  async function open(viewport = { width: 1440, height: 900 }) {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const watched = await openPage(context);
    return { context, ...watched };
  }
  const started = (page: Page) =>
    page.waitForFunction(
      () => ((window as unknown as Partial<ReelWindow>).reel?.video.readyState ?? 0) >= 2,
      undefined,
      {
        timeout: 20_000,
      },
    );
  const player = (page: Page) => page.getByRole('group', { name: /^Video player/ });

  it('switches audio track and captions, previews storyboard frames, changes speed, obeys the keys, offers the downloads', async () => {
    const { page, problems } = await open();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(watchUrl);
    await started(page);
    const bar = player(page);

    // Audio: the menu lists both tracks; choosing the second makes hls.js switch and fetch audio_1.
    await page
      .waitForFunction(() => (window as unknown as ReelWindow).reel.hls.audioTracks.length === 2, undefined, {
        timeout: 10_000,
      })
      .catch(() => undefined);
    const audioTracks = await page.evaluate(() =>
      (window as unknown as ReelWindow).reel.hls.audioTracks.map((a) => a.lang ?? ''),
    );
    expect(audioTracks).toEqual(['en', 'fr']);
    await bar.getByRole('button', { name: /^Audio track/ }).click();
    const audioItems = bar.getByRole('menuitemradio');
    expect(await audioItems.count()).toBe(2);
    expect(await audioItems.nth(0).getAttribute('aria-checked')).toBe('true');
    await screenshot(page, 'player-audio-menu-1440');
    await audioItems.nth(1).click();
    await expect
      .poll(() => page.evaluate(() => (window as unknown as ReelWindow).reel.hls.audioTrack))
      .toBe(1);
    await expect.poll(() => requests.some((u) => /\/audio_1\/[^/]+\.m3u8/.test(u))).toBe(true);
    await expect.poll(() => requests.some((u) => /\/audio_1\/[^/]+\.m4s/.test(u))).toBe(true);

    // Captions: the English track from the source, picked in the menu; at 3.5 s "Second cue" is showing.
    await bar.getByRole('button', { name: /^Captions/ }).click();
    const captionItems = bar.getByRole('menuitemradio');
    expect(await captionItems.allTextContents()).toEqual(['Off', expect.stringMatching(/English/i)]);
    await captionItems.nth(1).click();
    await page.evaluate(() => {
      const v = (window as unknown as ReelWindow).reel.video;
      v.pause();
      v.currentTime = 3.5;
    });
    await expect
      .poll(
        () =>
          page.evaluate(() =>
            [...(window as unknown as ReelWindow).reel.video.textTracks]
              .filter((tt) => tt.mode === 'showing')
              .flatMap((tt) => [...(tt.activeCues ?? [])].map((c) => (c as VTTCue).text)),
          ),
        { timeout: 10_000 },
      )
      .toEqual(['Second cue']);
    await screenshot(page, 'player-captions-1440');

    // Storyboard: hovering the seek bar shows the frame under the pointer, as storyboard.vtt says.
    const vtt = await (await fetch(`${t.url}/play/${id}/public/storyboard.vtt`)).text();
    const seek = bar.getByRole('slider', { name: 'Seek' });
    const box = (await seek.boundingBox())!;
    const duration = await page.evaluate(() => (window as unknown as ReelWindow).reel.video.duration);
    const at = 7.3;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.move(box.x + (at / duration) * box.width, box.y + box.height / 2);
    const image = page.locator('.rp-preview-image');
    await expect.poll(() => image.isVisible(), { timeout: 5_000 }).toBe(true);
    const cue = cueAt(vtt, at);
    const style = await image.evaluate((el) => ({
      image: el.style.backgroundImage,
      position: el.style.backgroundPosition,
      width: el.style.width,
      height: el.style.height,
    }));
    expect(style.image).toContain(`/play/${id}/public/${cue.file}`);
    expect(style.position).toBe(`${-cue.x}px ${-cue.y}px`);
    expect([style.width, style.height]).toEqual([`${cue.w}px`, `${cue.h}px`]);
    expect(await page.locator('.rp-preview-time').textContent()).toBe('0:07');
    const sprite = await fetch(new URL(cue.file, `${t.url}/play/${id}/public/storyboard.vtt`));
    expect(sprite.status).toBe(200);
    await screenshot(page, 'player-storyboard-1440');
    // Dragging: the preview follows the thumb, and the video seeks where it is let go.
    const xAt = (s: number) => box.x + (s / duration) * box.width;
    await page.mouse.move(xAt(2), box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(xAt(9), box.y + box.height / 2, { steps: 4 });
    expect(await page.locator('.rp-preview-time').textContent()).toMatch(/^0:0[89]$/);
    expect(await image.isVisible()).toBe(true);
    await page.mouse.up();
    await page.mouse.move(0, 0);
    const time = () => page.evaluate(() => (window as unknown as ReelWindow).reel.video.currentTime);
    expect(Math.abs((await time()) - 9)).toBeLessThan(0.5);
    // Keyboard seeking on the focused slider shows the frame too.
    await seek.focus();
    await page.keyboard.press('ArrowLeft');
    expect(Math.abs((await time()) - 4)).toBeLessThan(0.5);
    expect(await image.isVisible()).toBe(true);
    expect(await page.locator('.rp-preview-time').textContent()).toMatch(/^0:0[34]$/);

    // Speed.
    await bar.getByRole('button', { name: /^Playback speed/ }).click();
    await bar.getByRole('menuitemradio', { name: '1.5×' }).click();
    expect(await page.evaluate(() => (window as unknown as ReelWindow).reel.video.playbackRate)).toBe(1.5);
    await expect.poll(() => bar.getByRole('button', { name: /^Playback speed/ }).textContent()).toBe('1.5×');

    // Keys, with the player focused: k plays and pauses, j/l −/+10 s, arrows ±5 s, m mutes, c captions.
    await page.locator('.rp-stage').focus();
    const state = () =>
      page.evaluate(() => {
        const v = (window as unknown as ReelWindow).reel.video;
        return { paused: v.paused, time: v.currentTime, muted: v.muted, volume: v.volume };
      });
    await page.evaluate(() => {
      (window as unknown as ReelWindow).reel.video.currentTime = 1;
    });
    expect((await state()).paused).toBe(true);
    await page.keyboard.press('k');
    await expect.poll(async () => (await state()).paused).toBe(false);
    await page.keyboard.press('k');
    await expect.poll(async () => (await state()).paused).toBe(true);
    let before = (await state()).time;
    await page.keyboard.press('l');
    expect((await state()).time).toBeCloseTo(before + 10, 0);
    before = (await state()).time;
    await page.keyboard.press('j');
    expect((await state()).time).toBeCloseTo(before - 10, 0);
    await page.keyboard.press('ArrowRight');
    expect((await state()).time).toBeCloseTo(before - 5, 0);
    await page.keyboard.press('m');
    expect((await state()).muted).toBe(true);
    await page.keyboard.press('m');
    expect((await state()).muted).toBe(false);
    await page.keyboard.press('c');
    expect(await page.evaluate(() => (window as unknown as ReelWindow).reel.hls.subtitleTrack)).toBe(-1);
    await page.keyboard.press('c');
    expect(await page.evaluate(() => (window as unknown as ReelWindow).reel.hls.subtitleTrack)).toBe(0);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect((await state()).volume).toBeCloseTo(0.85, 2);
    await page.keyboard.press('m');
    expect(await page.locator('.rp-live').textContent()).toBe('Muted');

    // Menus from the keyboard: ↓ opens on the checked item, Escape closes and gives focus back.
    const speedButton = bar.getByRole('button', { name: /^Playback speed/ });
    await speedButton.focus();
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('1.5×');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('1.75×');
    await page.keyboard.press('Escape');
    expect(await speedButton.getAttribute('aria-expanded')).toBe('false');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toMatch(
      /^Playback speed/,
    );

    // Downloads: every MP4 and the audio, each answered with its size.
    await bar.getByRole('button', { name: 'Download' }).click();
    const links = bar.getByRole('menuitem');
    const labels = await links.allTextContents();
    expect(labels.map((l) => l.split(' ')[0])).toEqual(['360p', '240p', 'Audio']);
    const hrefs = await links.evaluateAll((els) => els.map((a) => (a as HTMLAnchorElement).href));
    const base = `${t.url}/play/${id}/public/download`;
    expect(hrefs).toEqual([`${base}/360p.mp4`, `${base}/240p.mp4`, `${base}/audio.m4a`]);
    const { downloads } = (await (await fetch(`${watchUrl}/info`)).json()) as {
      downloads: { name: string; size: number }[];
    };
    for (const href of hrefs) {
      const res = await fetch(href, { method: 'HEAD' });
      expect(res.status, href).toBe(200);
      const name = /download\/(\w+)\./.exec(href)![1];
      expect(res.headers.get('content-length'), href).toBe(
        String(downloads.find((d) => d.name === name)?.size),
      );
    }
    await page.keyboard.press('Escape');
    expect(await unlabelled(page)).toEqual([]);

    // Volume and mute are remembered.
    await page.reload();
    await started(page);
    expect(await state()).toMatchObject({ muted: true, volume: expect.closeTo(0.85, 2) });
    expect(problems).toEqual([]);
  }, 60_000);

  it('the web app’s video page has the same player, its download menu from the video object', async () => {
    const { context, page, problems } = await open();
    await context.addInitScript((key) => localStorage.setItem('reel.apiKey', key), t.apiKey);
    await page.goto(`${t.url}/videos/${id}`);
    await started(page);
    const bar = player(page);
    await bar.getByRole('button', { name: 'Download' }).click();
    expect((await bar.getByRole('menuitem').allTextContents()).map((l) => l.split(' ')[0])).toEqual([
      '360p',
      '240p',
      'Audio',
    ]);
    await page.keyboard.press('Escape');
    expect(await bar.getByRole('button', { name: /^Audio track/ }).isVisible()).toBe(true);
    expect(await bar.getByRole('button', { name: /^Captions/ }).isVisible()).toBe(true);
    expect(await unlabelled(page)).toEqual([]);
    await screenshot(page, 'player-video-page-1440');
    expect(problems).toEqual([]);
  }, 20_000);

  it('shows the network failure with Retry, and Retry recovers once the network is back', async () => {
    const { context, page } = await open();
    await context.route('**/play/**', (route) => route.abort('connectionfailed'));
    await page.goto(watchUrl);
    const alert = page.locator('.rp-error');
    await alert.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await alert.textContent()).toMatch(/network/);
    await context.unroute('**/play/**');
    await alert.getByRole('button', { name: 'Retry' }).click();
    await alert.waitFor({ state: 'hidden' });
    await started(page);

    // The playlists load but the segments fail: the same error, and Retry loads the segments.
    const segments = /\/play\/.*\.(?:m4s|mp4)$/;
    await context.route(segments, (route) => route.abort('connectionfailed'));
    await page.goto(watchUrl);
    await alert.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await alert.textContent()).toMatch(/stopped loading/);
    await context.unroute(segments);
    await alert.getByRole('button', { name: 'Retry' }).click();
    await alert.waitFor({ state: 'hidden' });
    await started(page);
  }, 40_000);

  it('looks right wide and narrow, light and dark', async () => {
    const { page } = await open();
    await page.goto(watchUrl);
    await started(page);
    await page.evaluate(() => (window as unknown as ReelWindow).reel.video.pause());
    for (const scheme of ['light', 'dark'] as const) {
      for (const viewport of [
        { width: 1440, height: 900 },
        { width: 390, height: 844 },
      ]) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.setViewportSize(viewport);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
          viewport.width,
        );
        // Every control of the bar on one row, even on a phone.
        const wrapped = await page.locator('.rp-row > :not([hidden])').evaluateAll((els) => {
          const firstBottom = els[0]!.getBoundingClientRect().bottom;
          return els
            .filter((el) => el.getBoundingClientRect().top >= firstBottom)
            .map((el) => el.outerHTML.slice(0, 80));
        });
        expect(wrapped, `controls on a second row at ${viewport.width} px`).toEqual([]);
        await screenshot(page, `player-${viewport.width}-${scheme}`);
      }
    }
    // The embed fills its frame, the control bar inside it.
    await page.setViewportSize({ width: 640, height: 360 });
    await page.goto(`${t.url}/embed/${id}/public`);
    await started(page);
    expect(
      await page.evaluate(() => ({
        width: document.documentElement.scrollWidth,
        height: document.documentElement.scrollHeight,
      })),
    ).toEqual({ width: 640, height: 360 });
    expect(await page.locator('.rp-bar').isVisible()).toBe(true);
    await screenshot(page, 'player-embed-640');
  }, 30_000);
});

/** The storyboard cue at a time: its image (relative to storyboard.vtt) and region. */
function cueAt(vtt: string, time: number) {
  const toSeconds = (s: string) => s.split(':').reduce((acc, n) => acc * 60 + Number(n), 0);
  const cues = [...vtt.matchAll(/([\d:.]+) --> ([\d:.]+)\s*\n(.+)#xywh=(\d+),(\d+),(\d+),(\d+)/g)].map(
    (m) => ({
      start: toSeconds(m[1]!),
      end: toSeconds(m[2]!),
      file: m[3]!.trim(),
      x: Number(m[4]),
      y: Number(m[5]),
      w: Number(m[6]),
      h: Number(m[7]),
    }),
  );
  const cue = cues.filter((c) => c.start <= time).at(-1);
  if (!cue) throw new Error(`no storyboard cue at ${time} s in:\n${vtt}`);
  return cue;
}

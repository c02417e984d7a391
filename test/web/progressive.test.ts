/**
 * Progressive playback in Debian's Chromium: the public watch page opened as soon as a video is playable,
 * while its later chunks are still being encoded, plays it with hls.js from the first frame, through the
 * media playlists' switch from EVENT to VOD, to the last frame, without a stall. A small source, so that
 * encoding outpaces playback.
 */
import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, screenshot } from './browser.js';

const SECONDS = 24;

describe('progressive playback in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let clip: string;

  beforeAll(async () => {
    [t, browser, clip] = await Promise.all([
      startTestReel({ ladder: '360,240' }),
      launchChromium(),
      makeClip('progressive-360p', { width: 640, height: 360, seconds: SECONDS, audio: true }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  it('starts while the video is processing and plays through EVENT → VOD to the last frame without a stall', async () => {
    const id = await tusUpload(t, fs.readFileSync(clip), {
      filename: 'progressive.mp4',
      playback_policy: 'public',
    });
    await waitFor(
      'playable',
      async () => {
        const v = (await (await t.api(`/v1/videos/${id}`)).json()) as { playable: boolean; status: string };
        if (v.status === 'failed') throw new Error('the video failed');
        return v.playable;
      },
      60_000,
      25,
    );
    const statusAtOpen = ((await (await t.api(`/v1/videos/${id}`)).json()) as { status: string }).status;

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const { page, problems } = await openPage(context);
    const playlistTypes: string[] = [];
    page.on('response', async (res) => {
      if (!res.url().includes('/360p/index.m3u8') || res.status() !== 200) return;
      const text = await res.text().catch(() => '');
      playlistTypes.push(/#EXT-X-PLAYLIST-TYPE:(\w+)/.exec(text)?.[1] ?? '?');
    });
    // Stalls after playback began, and the end.
    await page.addInitScript(() => {
      const w = window as unknown as { __stalls: number; __ended: boolean; __started: boolean };
      w.__stalls = 0;
      w.__ended = false;
      w.__started = false;
      document.addEventListener(
        'playing',
        () => {
          w.__started = true;
        },
        true,
      );
      document.addEventListener(
        'waiting',
        () => {
          if (w.__started) w.__stalls++;
        },
        true,
      );
      document.addEventListener(
        'ended',
        () => {
          w.__ended = true;
        },
        true,
      );
    });
    await page.goto(`${t.url}/watch/${id}/public`);
    await page.waitForFunction(() => (window.reel?.video.currentTime ?? 0) > 0.2, undefined, {
      timeout: 30_000,
    });
    // It starts at the beginning, not at the "live edge" of the EVENT playlist.
    const startedAt = await page.evaluate(() => window.reel!.video.currentTime);
    expect(startedAt).toBeLessThan(3);
    await screenshot(page, 'progressive-playing');
    await page.waitForFunction(() => (window as unknown as { __ended: boolean }).__ended, undefined, {
      timeout: (SECONDS + 30) * 1000,
    });
    const end = await page.evaluate(() => ({
      time: window.reel!.video.currentTime,
      duration: window.reel!.video.duration,
      stalls: (window as unknown as { __stalls: number }).__stalls,
    }));
    await context.close();

    expect(statusAtOpen, 'the page was opened before the video was ready').toBe('processing');
    expect(playlistTypes[0], `playlist types seen: ${playlistTypes.join(',')}`).toBe('EVENT');
    expect(playlistTypes.at(-1)).toBe('VOD');
    expect(Math.abs(end.duration - SECONDS)).toBeLessThan(0.3);
    expect(end.time).toBeGreaterThan(SECONDS - 0.3);
    expect(end.stalls, `stalls after playback began; problems: ${problems.join('\n')}`).toBe(0);
    expect(problems).toEqual([]);
  }, 120_000);
});

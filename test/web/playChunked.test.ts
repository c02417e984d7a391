/**
 * A chunked video in Chromium while it processes: the owner's page and the share link's page start the
 * player as soon as the video is playable, hls.js starts at 0 on the EVENT playlist (not at its live edge),
 * and plays on through the switch to VOD to the last frame. The video is laid out by hand as the worker
 * side publishes one (test/helpers/chunked.ts).
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChunkedLadder,
  insertChunkedVideo,
  makeChunkedLadder,
  markPlayable,
  markReady,
  publishOutput,
  publishSegments,
} from '../helpers/chunked.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';
import { launchChromium, openPage, screenshot } from './browser.js';

interface Levels {
  type: string | null;
  live: boolean;
  segments: number;
}

/** What hls.js knows of the playing level's playlist. */
const levelDetails = (page: Page) =>
  page.evaluate(() => {
    const hls = (window as unknown as { reel: { hls: { levels: { details?: Record<string, unknown> }[] } } })
      .reel.hls;
    const d = hls.levels.find((l) => l.details)?.details;
    return d
      ? ({
          type: (d.type as string | null) ?? null,
          live: Boolean(d.live),
          segments: (d.fragments as unknown[]).length,
        } satisfies Levels)
      : null;
  });

describe('a chunked video plays in Chromium while it processes', () => {
  let t: TestReel;
  let browser: Browser;
  let ladder: ChunkedLadder;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [t, browser, ladder] = await Promise.all([
      startTestReel({ roles: 'upload,play' }),
      launchChromium(),
      // Six 4 s segments: a player that joined the EVENT playlist at its live edge would start near 8 s.
      makeChunkedLadder('chunked-web', { width: 426, height: 240, seconds: 24 }, [240]),
    ]);
  }, 180_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
    await ladder?.cleanup();
  });

  it('the owner’s page shows the player once playable; the share link plays from 0 through the switch to VOD to the end', async () => {
    expect(ladder.files.has('240p/seg_00005.m4s')).toBe(true);
    await insertChunkedVideo(t, ladder, 'liveW', 'public');
    await publishSegments(t, ladder, 'liveW', [0, 1]);

    // The owner's page before it is playable: no player, the progress.
    const ownerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(ownerContext);
    await ownerContext.addInitScript((key: string) => localStorage.setItem('reel.apiKey', key), t.apiKey);
    const owner = await openPage(ownerContext);
    await owner.page.goto(`${t.url}/videos/liveW`);
    await owner.page.waitForSelector('#pending-text:has-text("Processing")');
    expect(await owner.page.locator('#player video').count()).toBe(0);

    // Playable (the live feed tells the page): the player appears and plays while it still processes.
    await publishSegments(t, ladder, 'liveW', [2, 3, 4]);
    await markPlayable(t, 'liveW');
    await owner.page.waitForSelector('#player video', { timeout: 15_000 });
    // The library says so too.
    const library = await openPage(ownerContext);
    await library.page.goto(`${t.url}/`);
    await library.page.waitForSelector('li.card[data-id="liveW"] .status:has-text("can be watched")', {
      timeout: 15_000,
    });
    await library.page.close();
    await owner.page.waitForFunction(
      () =>
        ((window as unknown as { reel?: { video: HTMLVideoElement } }).reel?.video.currentTime ?? 0) > 0.5,
      undefined,
      { timeout: 30_000 },
    );
    expect(await owner.page.locator('#pending-text').textContent()).toMatch(/watch it already/);
    expect(await levelDetails(owner.page)).toMatchObject({ type: 'EVENT', live: true, segments: 5 });
    await screenshot(owner.page, 'video-playable-while-processing');
    await owner.page.close();

    // The share link: from the start, not the live edge (20 s published: the edge is 8 s in).
    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(viewerContext);
    const viewer = await openPage(viewerContext);
    await viewer.page.goto(`${t.url}/watch/liveW/public`);
    await viewer.page.waitForFunction(
      () =>
        ((window as unknown as { reel?: { video: HTMLVideoElement } }).reel?.video.currentTime ?? 0) > 0.2,
      undefined,
      { timeout: 30_000 },
    );
    const started = await viewer.page.evaluate(() => {
      const w = window as unknown as { reel: { video: HTMLVideoElement }; __stalls: number };
      const v = w.reel.video;
      // Counted from here: every time playback had to wait for data.
      w.__stalls = 0;
      v.addEventListener('waiting', () => w.__stalls++);
      return { from: v.played.length ? v.played.start(0) : -1, at: v.currentTime };
    });
    expect(started.from).toBeLessThan(0.5);
    expect(started.at).toBeLessThan(4);
    expect(await levelDetails(viewer.page)).toMatchObject({ type: 'EVENT', live: true });

    // The last chunk and the poster come in; the video turns ready: the playlists become VOD.
    await publishSegments(t, ladder, 'liveW', [5]);
    await publishOutput(t, ladder, 'liveW', 'poster.jpg');
    await markReady(t, ladder, 'liveW');
    // Once hls.js has reloaded both playlists as VOD: faster than real time, to the end.
    await viewer.page.waitForFunction(
      () => {
        const hls = (
          window as unknown as {
            reel: {
              hls: {
                levels: { details?: { live: boolean } }[];
                audioTracks: { details?: { live: boolean } }[];
              };
            };
          }
        ).reel.hls;
        const all = [...hls.levels, ...hls.audioTracks].filter((l) => l.details);
        return all.length >= 2 && all.every((l) => l.details!.live === false);
      },
      undefined,
      { timeout: 30_000 },
    );
    await viewer.page.evaluate(() => {
      const v = (window as unknown as { reel: { video: HTMLVideoElement } }).reel.video;
      v.playbackRate = 4;
    });
    await viewer.page.waitForFunction(
      () => (window as unknown as { reel: { video: HTMLVideoElement } }).reel.video.ended,
      undefined,
      { timeout: 60_000 },
    );
    const end = await viewer.page.evaluate(() => {
      const v = (window as unknown as { reel: { video: HTMLVideoElement } }).reel.video;
      const played = [];
      for (let i = 0; i < v.played.length; i++) played.push([v.played.start(i), v.played.end(i)]);
      return { played, duration: v.duration, currentTime: v.currentTime };
    });
    // One stretch from 0 to the end: nothing skipped at the switch.
    expect(end.played).toHaveLength(1);
    expect(end.played[0]![0]).toBeLessThan(0.5);
    expect(end.played[0]![1]).toBeGreaterThan(ladder.durationMs / 1000 - 0.5);
    expect(await levelDetails(viewer.page)).toMatchObject({ type: 'VOD', live: false, segments: 6 });
    // And it never had to wait for data once it had started.
    expect(await viewer.page.evaluate(() => (window as unknown as { __stalls: number }).__stalls)).toBe(0);
    // No playback request was refused (the 404 of a poster not yet published aside).
    expect(viewer.problems.filter((p) => !p.includes('poster.jpg'))).toEqual([]);
  });
});

/**
 * The web app in Debian's Chromium (headless, playwright-core) against a real Reel: upload through the page,
 * the library turning the video ready live, the player (hls.js levels, quality menu), resuming an upload
 * after a reload, share links for signed videos, refusals, /docs. Screenshots of every page go to
 * test-artifacts/screenshots/.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip, makeTextFile } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusFetch } from '../helpers/tus.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, screenshot } from './browser.js';

declare global {
  interface Window {
    /** Set by the player pages: hls.js and the <video>. */
    reel?: {
      hls: { levels: { height: number }[]; currentLevel: number; autoLevelEnabled: boolean } | null;
      video: HTMLVideoElement;
    };
    __sameDocument?: boolean;
    __statuses?: string[];
  }
}

const MAX_UPLOAD = 20_000_000;

/** Visible form controls without a name a screen reader can announce. */
const unlabelled = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
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

describe('the web app in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let clip: string;
  let videoId = '';
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [t, browser, clip] = await Promise.all([
      startTestReel({ 'max-upload-bytes': String(MAX_UPLOAD) }),
      launchChromium(),
      // 720p: the default ladder gives 720p, 480p and 240p.
      makeClip('web-720p', { width: 1280, height: 720, seconds: 8 }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A browser context that already holds the API key (as after the first visit). */
  async function signedIn(extra: Record<string, string> = {}, viewport = { width: 1280, height: 900 }) {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    await context.addInitScript(
      (items: Record<string, string>) => {
        for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v);
      },
      // Files wait for "Start upload" (the page starts them at once by default).
      { 'reel.apiKey': t.apiKey, 'reel.uploadAutoStart': 'false', ...extra },
    );
    return context;
  }

  const waitForPlayback = (page: Page, seconds: number) =>
    page.waitForFunction((s) => (window.reel?.video.currentTime ?? 0) > s, seconds, { timeout: 60_000 });

  it('uploads through the page; the library shows it turn ready without a reload; the player adapts and switches on request', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const lib = await openPage(context);

    // The key is asked once, checked, and kept.
    await lib.page.goto(`${t.url}/`);
    const keyInput = lib.page.getByLabel('API key', { exact: true });
    await keyInput.waitFor();
    await screenshot(lib.page, '01-api-key');
    await keyInput.fill('reel_wrong');
    await lib.page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => lib.page.getByRole('alert').first().textContent()).toMatch(/not accepted/);
    await keyInput.fill(t.apiKey);
    await keyInput.press('Enter');
    await lib.page.getByRole('heading', { name: 'Library' }).waitFor();
    await expect.poll(() => lib.page.locator('#live').textContent()).toBe('Live');
    expect(await lib.page.evaluate(() => localStorage.getItem('reel.apiKey'))).toBe(t.apiKey);

    // From here on the library page is never reloaded: a marker on its window proves it.
    await lib.page.evaluate(() => {
      window.__sameDocument = true;
      window.__statuses = [];
      const seen = window.__statuses;
      new MutationObserver(() => {
        for (const card of document.querySelectorAll('.card')) {
          const s = `${card.getAttribute('data-status')}:${card.querySelector('progress')?.getAttribute('value') ?? ''}`;
          if (seen[seen.length - 1] !== s) seen.push(s);
        }
      }).observe(document.querySelector('#videos')!, { subtree: true, childList: true, attributes: true });
    });

    // Upload in another tab of the same browser: the key is already there.
    const up = await openPage(context);
    await up.page.goto(`${t.url}/upload`);
    await up.page.getByRole('heading', { name: 'Upload videos' }).waitFor();
    // The first key press reaches the skip link; the file picker is reachable from the keyboard.
    await up.page.keyboard.press('Tab');
    expect(await up.page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await up.page.keyboard.press('Enter');
    for (let i = 0; i < 10 && (await up.page.evaluate(() => document.activeElement?.id)) !== 'files'; i++) {
      await up.page.keyboard.press('Tab');
    }
    expect(await up.page.evaluate(() => document.activeElement?.id)).toBe('files');
    await up.page.getByLabel('Start uploads as soon as files are added').uncheck();
    await up.page.getByLabel('Choose files').setInputFiles(clip);
    await up.page.getByLabel('Title', { exact: true }).fill('Web test clip');
    expect(await unlabelled(up.page)).toEqual([]);
    await up.page.getByRole('button', { name: 'Start upload' }).click();
    const item = up.page.locator('.upload-item').first();
    await expect.poll(() => item.getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    expect(await item.locator('progress').evaluate((p) => (p as HTMLProgressElement).value)).toBe(100);
    expect(await item.locator('.figures').textContent()).toMatch(/\(100%\)/);
    videoId = (await item.getAttribute('data-video-id')) ?? '';
    expect(videoId).toMatch(/^[A-Za-z0-9_-]+$/);
    await screenshot(up.page, '02-upload-done');

    // The library learns of it by itself, follows its progress, and shows it ready with its poster.
    const card = lib.page.locator(`.card[data-id="${videoId}"]`);
    await card.waitFor({ timeout: 30_000 });
    await expect
      .poll(() => card.getAttribute('data-status'), { timeout: 90_000, interval: 100 })
      .toMatch(/processing|ready/);
    if ((await card.getAttribute('data-status')) === 'processing') {
      await screenshot(lib.page, '03-library-processing');
    }
    await expect
      .poll(() => card.getAttribute('data-status'), { timeout: 120_000, interval: 250 })
      .toBe('ready');
    expect(await lib.page.evaluate(() => window.__sameDocument)).toBe(true);
    const statuses = (await lib.page.evaluate(() => window.__statuses)) ?? [];
    // It was seen unfinished first (uploading, queued, processing: how many depends on the machine's speed).
    expect(statuses[0]).not.toMatch(/^ready/);
    expect(statuses.at(-1)).toMatch(/^ready/);
    await expect
      .poll(() => card.locator('img').evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    expect(await card.textContent()).toMatch(/0:08/);
    expect(await unlabelled(lib.page)).toEqual([]);
    await screenshot(lib.page, '04-library');

    // The player: hls.js with every rendition, playing.
    await card.getByRole('link', { name: 'Web test clip' }).click();
    const player = lib.page;
    await player.waitForURL(new RegExp(`/videos/${videoId}$`));
    await waitForPlayback(player, 3);
    const heights = await player.evaluate(() => window.reel!.hls!.levels.map((l) => l.height));
    expect(heights.length).toBeGreaterThanOrEqual(3);
    expect([...heights].sort((a, b) => b - a)).toEqual([720, 480, 240]);

    // Choosing a rendition in the menu makes the player fetch that rendition's segments: first the highest,
    // then the lowest, each checked on the network.
    const requests: string[] = [];
    player.on('request', (r) => requests.push(r.url()));
    const quality = player.getByLabel('Quality');
    const labels = await quality.locator('option').allTextContents();
    expect(labels[0]).toBe('Automatic');
    expect(labels.slice(1).map((l) => l.split(' ')[0])).toEqual(['720p', '480p', '240p']);
    await quality.selectOption({ label: labels[1]! });
    await waitFor(
      'a 720p segment',
      async () => requests.some((u) => /\/720p\/seg_\d+\.m4s$/.test(u)),
      30_000,
    );
    await expect.poll(() => player.locator('#stat-level').textContent()).toMatch(/^720p/);
    requests.length = 0;
    await quality.selectOption({ label: labels[3]! });
    await waitFor(
      'a 240p segment',
      async () => requests.some((u) => /\/240p\/seg_\d+\.m4s$/.test(u)),
      30_000,
    );
    await expect.poll(() => player.locator('#stat-level').textContent()).toMatch(/^240p/);
    expect(
      await player.evaluate(() => window.reel!.hls!.levels[window.reel!.hls!.currentLevel]!.height),
    ).toBe(240);
    await expect.poll(() => player.locator('#stat-bandwidth').textContent()).toMatch(/bit\/s/);
    await expect.poll(() => player.locator('#stat-buffer').textContent()).toMatch(/\d s$/);
    expect(await unlabelled(player)).toEqual([]);
    await screenshot(player, '05-player');
    // The menu works from the keyboard: Home picks "Automatic" again.
    await quality.focus();
    await player.keyboard.press('Home');
    expect(await quality.inputValue()).toBe('-1');
    await expect.poll(() => player.evaluate(() => window.reel!.hls!.autoLevelEnabled)).toBe(true);

    // A phone-sized window: nothing wider than the screen.
    await player.setViewportSize({ width: 390, height: 844 });
    expect(await player.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(player, '06-player-phone');
    await player.goto(`${t.url}/`);
    await lib.page.locator(`.card[data-id="${videoId}"]`).waitFor();
    expect(await player.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(player, '07-library-phone');

    // The one refusal: the wrong key tried first.
    expect([...lib.problems, ...up.problems]).toEqual([`HTTP 401 GET ${t.url}/v1/videos?limit=1`]);
  });

  it('an upload interrupted by a reload continues from its offset, not from zero', async () => {
    const file = await makeClip('web-resume', { width: 640, height: 360, seconds: 4 });
    const size = fs.statSync(file).size;
    // Small chunks and a slow server, so that the reload comes in the middle.
    const context = await signedIn({ 'reel.uploadChunkBytes': String(64 * 1024) });
    let delayMs = 250;
    await context.route('**/v1/uploads/*', async (route) => {
      if (route.request().method() === 'PATCH') await new Promise((r) => setTimeout(r, delayMs));
      await route.continue().catch(() => undefined); // the page went away meanwhile
    });
    const log: { method: string; url: string; offset: string | undefined; phase: number }[] = [];
    let phase = 1;
    context.on('request', (r) => {
      if (r.url().includes('/v1/uploads')) {
        log.push({ method: r.method(), url: r.url(), offset: r.headers()['upload-offset'], phase });
      }
    });

    const { page, problems } = await openPage(context);
    await page.goto(`${t.url}/upload`);
    await page.getByLabel('Public: anyone who has the video’s link').check();
    await page.getByLabel('Choose files').setInputFiles(file);
    await page.getByRole('button', { name: 'Start upload' }).click();
    const item = page.locator('.upload-item').first();
    await expect
      .poll(() => item.locator('progress').evaluate((p) => (p as HTMLProgressElement).value), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(25);
    // Speed and time left are shown while it runs.
    expect(await item.locator('.figures').textContent()).toMatch(/of .*\(\d+%\) · .*\/s · .* left/);
    await screenshot(page, '08-upload-progress');
    const pauseButton = item.getByRole('button', { name: /^Pause / });
    expect(await pauseButton.isVisible()).toBe(true);

    phase = 2;
    await page.reload();
    const uploadUrl = log.find((r) => r.method === 'PATCH')!.url;
    const offsetOf = async () =>
      Number((await tusFetch.head(uploadUrl, t.auth)).headers.get('upload-offset'));
    // The page lists the unfinished upload with how far it got.
    await page.getByRole('heading', { name: 'Unfinished uploads' }).waitFor();
    await expect.poll(() => page.locator('#unfinished').textContent()).toMatch(/web-resume.*\d+%/);
    await screenshot(page, '09-upload-unfinished');
    const offsetAtReload = await offsetOf();
    expect(offsetAtReload).toBeGreaterThan(0);
    expect(offsetAtReload).toBeLessThan(size);

    // Choosing the same file again continues it.
    delayMs = 0;
    phase = 3;
    await page.getByLabel('Choose files').setInputFiles(file);
    const resumed = page.locator('.upload-item').first();
    await expect.poll(() => resumed.getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    const after = log.filter((r) => r.phase === 3 && r.method !== 'OPTIONS');
    expect(after.filter((r) => r.method === 'POST')).toEqual([]); // no new upload
    expect(after[0]).toMatchObject({ method: 'HEAD', url: uploadUrl });
    const firstPatch = after.find((r) => r.method === 'PATCH')!;
    expect(firstPatch.url).toBe(uploadUrl);
    expect(Number(firstPatch.offset)).toBeGreaterThanOrEqual(offsetAtReload);
    expect(Number(firstPatch.offset)).toBeGreaterThan(0);

    // And the bytes that arrived are the file, exactly.
    const id = uploadUrl.split('/').pop()!;
    expect(await resumed.getAttribute('data-video-id')).toBe(id);
    const stored = await waitFor('the source in the store', async () => {
      const key = `sources/${id}/original`;
      if (!(await t.reel.store.stat(key))) return undefined;
      const chunks: Buffer[] = [];
      for await (const c of await t.reel.store.get(key)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    });
    const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
    expect(sha(stored)).toBe(sha(fs.readFileSync(file)));
    expect(localStorageEntries(await page.evaluate(() => Object.keys(localStorage)))).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('an upload whose connection drops goes on by itself from where it stopped', async () => {
    const file = await makeClip('web-drop', { width: 640, height: 360, seconds: 3 });
    const chunk = 128 * 1024;
    const context = await signedIn({ 'reel.uploadChunkBytes': String(chunk) });
    const patches: string[] = [];
    let dropped = 0;
    await context.route('**/v1/uploads/*', async (route) => {
      const r = route.request();
      if (r.method() === 'PATCH') patches.push(r.headers()['upload-offset']!);
      if (r.method() === 'PATCH' && patches.length === 3) {
        dropped++;
        await route.abort('connectionreset');
        return;
      }
      await route.continue().catch(() => undefined);
    });
    const { page } = await openPage(context);
    await page.goto(`${t.url}/upload`);
    await page.getByLabel('Choose files').setInputFiles(file);
    await page.getByRole('button', { name: 'Start upload' }).click();
    const item = page.locator('.upload-item').first();
    await expect.poll(() => item.getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    expect(dropped).toBe(1);
    // The third chunk was lost; after asking the offset (HEAD), tus sent it again from there.
    expect(patches.slice(0, 4).map(Number)).toEqual([0, chunk, 2 * chunk, 2 * chunk]);
    const id = (await item.getAttribute('data-video-id'))!;
    const source = await waitFor('the source in the store', async () =>
      t.reel.store.stat(`sources/${id}/original`),
    );
    expect(source.size).toBe(fs.statSync(file).size);
  });

  it('a signed video’s share link plays in a fresh browser; with a tampered token it does not, and the page says why', async () => {
    expect(videoId).not.toBe('');
    const owner = await openPage(await signedIn());
    await owner.page.goto(`${t.url}/videos/${videoId}`);
    // The Share panel makes share links (issue 14): no one-hour token link is offered for copying.
    await owner.page.getByRole('button', { name: 'Create share link' }).click();
    const linkInput = owner.page.getByLabel('Share link', { exact: true });
    await expect.poll(() => linkInput.inputValue(), { timeout: 30_000 }).toMatch(/\/s\//);
    const link = await linkInput.inputValue();
    expect(link).toMatch(new RegExp(`^${t.url}/s/[0-9A-Za-z]{22}$`));
    const embed = await owner.page.getByLabel('Embed code').inputValue();
    expect(embed).toContain(`<iframe src="${link}/embed"`);
    await screenshot(owner.page, '10-player-share');

    // A fresh context: no API key anywhere.
    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(viewerContext);
    const viewer = await openPage(viewerContext);
    await viewer.page.goto(link);
    await waitForPlayback(viewer.page, 1);
    expect(await viewer.page.getByRole('heading', { level: 1 }).textContent()).toBe('Web test clip');
    expect(await viewer.page.locator('#expiry').textContent()).toMatch(/This link works until/);
    expect(await viewer.page.evaluate(() => localStorage.getItem('reel.apiKey'))).toBeNull();
    expect(await unlabelled(viewer.page)).toEqual([]);
    await screenshot(viewer.page, '11-watch');

    // The embed plays too, once asked (embeds do not play by themselves).
    const embedUrl = /src="([^"]+)"/.exec(embed)![1]!;
    await viewer.page.goto(embedUrl);
    await viewer.page.getByRole('button', { name: 'Play', exact: true }).click();
    await waitForPlayback(viewer.page, 0.5);
    await screenshot(viewer.page, '12-embed');

    // A token link (GET /v1/videos/{id}/playback) with one character of the signature changed.
    const { url: tokenUrl } = (await (await t.api(`/v1/videos/${videoId}/playback`)).json()) as {
      url: string;
    };
    const token = new URL(tokenUrl).pathname.split('/')[3]!;
    const tokenLink = `${t.url}/watch/${videoId}/${token}`;
    const [head, payload, sig] = token.split('.') as [string, string, string];
    const i = Math.floor(sig.length / 2);
    const tampered = `${head}.${payload}.${sig.slice(0, i)}${sig[i] === 'A' ? 'B' : 'A'}${sig.slice(i + 1)}`;
    expect((await fetch(`${t.url}/play/${videoId}/${tampered}/master.m3u8`)).status).toBe(403);
    const fresh = await openPage(viewerContext);
    await fresh.page.goto(tokenLink.replace(token, tampered));
    const alert = fresh.page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/does not match its signature.*REEL_INVALID_TOKEN/s);
    expect(await fresh.page.getByRole('heading', { level: 1 }).textContent()).toBe(
      'This video cannot be played',
    );
    expect(await fresh.page.evaluate(() => window.reel)).toBeUndefined();
    await screenshot(fresh.page, '13-watch-tampered');
    expect([...owner.problems, ...viewer.problems]).toEqual([]);
  });

  it('refuses files that are not videos or too large; a failed video shows its error, retries, and is deleted after a confirm', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-web-'));
    const notes = path.join(dir, 'notes.txt');
    fs.writeFileSync(notes, 'not a video\n');
    const big = path.join(dir, 'big.mp4');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, MAX_UPLOAD + 1); // sparse

    const context = await signedIn();
    const { page, problems } = await openPage(context);
    await page.goto(`${t.url}/upload`);
    await page.getByLabel('Choose files').setInputFiles([notes, big]);
    const rows = page.locator('.upload-item');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.nth(0).getAttribute('data-state')).toBe('refused');
    expect(await rows.nth(0).getByRole('alert').textContent()).toMatch(
      /“notes\.txt” is not a video \(it is text\/plain\)/,
    );
    expect(await rows.nth(1).getAttribute('data-state')).toBe('refused');
    expect(await rows.nth(1).getByRole('alert').textContent()).toMatch(
      /“big\.mp4” is too large: 20,000,001 bytes.*at most 20,000,000 bytes/,
    );
    await screenshot(page, '14-upload-refused');

    // A file that only looks like a video fails in processing: the library shows why, and can retry.
    const badId = await tusUpload(t, fs.readFileSync(await makeTextFile()), { title: 'Broken file' });
    await page.goto(`${t.url}/`);
    const card = page.locator(`.card[data-id="${badId}"]`);
    await expect.poll(() => card.getAttribute('data-status'), { timeout: 60_000 }).toBe('failed');
    expect(await card.locator('.error').textContent()).toMatch(/not a video Reel can read/);
    await screenshot(page, '15-library-failed');
    await card.getByRole('button', { name: 'Retry Broken file' }).click();
    await waitFor('the second attempt to fail', async () => {
      const jobs = await t.reel.db.query<{ attempt: number; state: string }>(
        'SELECT attempt, state FROM jobs WHERE video_id = $1',
        [badId],
      );
      return jobs[0]?.attempt === 2 && jobs[0].state === 'failed';
    });
    await expect.poll(() => card.getAttribute('data-status'), { timeout: 10_000 }).toBe('failed');

    // Delete asks first: dismissed, nothing happens; accepted, the video is gone.
    page.once('dialog', (d) => void d.dismiss());
    await card.getByRole('button', { name: 'Delete Broken file' }).click();
    expect((await t.api(`/v1/videos/${badId}`)).status).toBe(200);
    page.once('dialog', (d) => void d.accept());
    await card.getByRole('button', { name: 'Delete Broken file' }).click();
    await card.waitFor({ state: 'detached' });
    expect((await t.api(`/v1/videos/${badId}`)).status).toBe(404);

    // The API reference, generated from the route schemas.
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(Object.keys(doc.components.schemas.Video!.properties).sort()).toEqual(
      Object.keys((await (await t.api(`/v1/videos/${videoId}`)).json()) as object).sort(),
    );
    expect(doc.paths['/v1/videos/{id}']!.get!.responses['200']).toBeDefined();
    expect(Object.keys(doc.paths['/v1/uploads/{id}']!).sort()).toEqual([
      'delete',
      'head',
      'options',
      'patch',
    ]);
    expect(doc.paths['/v1/events']).toBeDefined();
    await page.goto(`${t.url}/docs`);
    await page.getByText('Reel API', { exact: false }).first().waitFor();
    await page.locator('.opblock').first().waitFor();
    await screenshot(page, '16-docs');
    expect(problems).toEqual([]);
  });
});

/** tus-js-client's remembered uploads. */
function localStorageEntries(keys: string[]): string[] {
  return keys.filter((k) => k.startsWith('tus::'));
}

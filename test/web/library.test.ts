/**
 * The library as a product (issue 14), in Chromium against a test Reel: the empty library, a grid whose
 * rows keep their height with a portrait poster, search / filters / sort, more pages on scroll, several
 * videos deleted or retried at once with focus kept, the video page's edit panel (title, privacy, and a
 * poster picked by time on one real video, whose poster.jpg bytes change), and the smaller fixes (failed
 * page, missing page, key screen, /docs, header on a phone). Screenshots at 1440×900, 1366×768, 390×844
 * and dark go to test-artifacts/screenshots/library-*.png.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG, makeClip } from '../fixtures/generate.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage, SCREENSHOTS, screenshot } from './browser.js';

const run = promisify(execFile);

/** Where a screenshot of the visible part only goes (a full page of 30 cards or of /docs is slow). */
async function screenshotPath(name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  return `${SCREENSHOTS}/${name}.png`;
}

/** Which fakes are special: a portrait poster, a long title, a failed video (all in the first rows). */
const PORTRAIT = 26;
const LONG = 27;
const FAILED = 25;
const fake = (i: number) => `lib${String(i).padStart(2, '0')}`;

const SIZES = [
  { name: '1440', width: 1440, height: 900 },
  { name: '1366', width: 1366, height: 768 },
  { name: '390', width: 390, height: 844 },
] as const;

/** A JPEG of w×h in one colour. */
async function jpeg(w: number, h: number, colour: string): Promise<Buffer> {
  const { stdout } = await run(
    FFMPEG,
    ['-v', 'error', '-f', 'lavfi', '-i', `color=${colour}:s=${w}x${h}`, '-frames:v', '1', '-f', 'mjpeg', '-'],
    { encoding: 'buffer', maxBuffer: 1 << 22 },
  );
  return stdout as unknown as Buffer;
}

describe('the library in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let realId = '';
  let realReady: Promise<void>;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [t, browser] = await Promise.all([startTestReel({ ladder: '240' }), launchChromium()]);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function signedIn(
    viewport: { width: number; height: number } = { width: 1440, height: 900 },
    dark = false,
  ) {
    const context = await browser.newContext({ viewport, colorScheme: dark ? 'dark' : 'light' });
    contexts.push(context);
    await context.addInitScript((key: string) => localStorage.setItem('reel.apiKey', key), t.apiKey);
    return context;
  }
  const openLibrary = async (context: BrowserContext, query = '') => {
    const w = await openPage(context);
    w.page.on('dialog', (d) => void d.accept());
    await w.page.goto(`${t.url}/${query}`);
    await w.page.getByRole('heading', { name: 'Library' }).waitFor();
    await expect.poll(() => w.page.locator('#live').textContent()).toBe('Live');
    return w;
  };
  const titles = (page: Page) => page.locator('.card .title a').allTextContents();

  it('an empty library shows where to upload and the one-liners; the header keeps to one row on a phone', async () => {
    const { page } = await openLibrary(await signedIn());
    await page.locator('#empty').waitFor();
    expect(await page.locator('#empty').textContent()).toMatch(/reel upload --server http:\/\/127\.0\.0\.1/);
    expect(await page.getByRole('link', { name: /Upload your first video/ }).getAttribute('href')).toBe(
      '/upload',
    );
    for (const size of SIZES) {
      await page.setViewportSize(size);
      const header = await page.locator('header.top').boundingBox();
      const brand = await page.locator('.brand').boundingBox();
      const forget = await page.locator('#forget-key').boundingBox();
      // One row: the brand and "Forget API key" share a line.
      expect(Math.abs(brand!.y + brand!.height / 2 - (forget!.y + forget!.height / 2))).toBeLessThan(8);
      expect(header!.height).toBeLessThan(64);
      // Nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.width);
      // Not a main action: smaller type than the page's, no filled background.
      const style = await page.locator('#forget-key').evaluate((b) => getComputedStyle(b).fontSize);
      expect(Number.parseFloat(style)).toBeLessThan(16);
      await screenshot(page, `library-empty-${size.name}`);
    }
    // Start the one real video now: it processes while the next tests run.
    const clip = await makeClip('library-poster', { width: 320, height: 180, seconds: 4, audio: false });
    realId = await tusUpload(t, fs.readFileSync(clip), { filename: 'real.mp4', title: 'Real clip' });
    realReady = waitUntilReady(t, realId, 60_000);
  });

  it('cards keep one height per row with a portrait poster; long titles stop at two lines', async () => {
    const { store, db } = t.reel;
    const portrait = await jpeg(180, 320, 'red');
    const landscape = await jpeg(320, 180, 'blue');
    // 29 fakes (and the real one): more than one page of 24.
    for (let i = 0; i < 29; i++) {
      const id = fake(i);
      await publishFake(t, id, i % 3 === 0 ? 'public' : 'signed', i === FAILED ? 'failed' : 'ready');
      const title =
        i === LONG
          ? 'A very long title that goes on and on about the trip we had by the sea, the boats and the food, and does not stop'
          : `${i % 4 === 0 ? 'Holiday' : 'Meeting'} ${String.fromCharCode(65 + (i % 26))} ${i}`;
      await db.query(
        `UPDATE videos SET title = $2, duration_ms = $3, source_size = $4, error = $5,
                created_at = now() - make_interval(secs => $6) WHERE id = $1`,
        [
          id,
          title,
          65_000 + i * 1000,
          5_000_000 + i,
          i === FAILED ? 'The source has no video stream.' : null,
          100 - i,
        ],
      );
      await store.put(`videos/${id}/a1/poster.jpg`, i === PORTRAIT ? portrait : landscape);
    }
    const { page } = await openLibrary(await signedIn());
    await expect.poll(() => page.locator('.card').count()).toBeGreaterThanOrEqual(24);
    await expect
      .poll(() =>
        page
          .locator(`.card[data-id="${fake(PORTRAIT)}"] img`)
          .evaluate((img) => (img as HTMLImageElement).naturalHeight),
      )
      .toBe(320);
    // The row of the portrait poster: every card as tall as the others, every poster box 16:9.
    const boxes = await page.locator('.card').evaluateAll((cards) =>
      cards.slice(0, 8).map((c) => {
        const r = c.getBoundingClientRect();
        const thumb = c.querySelector('.thumb')!.getBoundingClientRect();
        return {
          top: Math.round(r.top),
          height: r.height,
          ratio: thumb.width / thumb.height,
          id: c.getAttribute('data-id'),
        };
      }),
    );
    const row = boxes.filter((b) => b.top === boxes.find((x) => x.id === fake(PORTRAIT))!.top);
    expect(row.length).toBeGreaterThan(1);
    for (const b of row) expect(b.ratio).toBeCloseTo(16 / 9, 1);
    for (const b of row) expect(b.height).toBeCloseTo(row[0]!.height, 0);
    // The row is as tall as a landscape row (the next one holds no portrait poster).
    const nextRow = boxes.filter((b) => b.top > row[0]!.top);
    expect(row[0]!.height).toBeLessThanOrEqual(Math.max(...nextRow.map((b) => b.height)) + 24);
    // Two lines at most.
    const long = await page.locator(`.card[data-id="${fake(LONG)}"] .title`).evaluate((el) => ({
      height: el.getBoundingClientRect().height,
      line: Number.parseFloat(getComputedStyle(el).lineHeight),
      title: el.getAttribute('title'),
    }));
    expect(long.height).toBeLessThanOrEqual(long.line * 2 + 1);
    expect(long.title).toMatch(/does not stop$/);
    // Date, duration, size, privacy on every card.
    const card = await page.locator('.card[data-id="lib24"]').textContent();
    expect(card).toMatch(/1:29/);
    expect(card).toMatch(/5\.0 MB/);
    expect(card).toMatch(/Public/);
    expect(card).toMatch(new RegExp(new Date().getFullYear().toString()));
    expect(await page.locator('.card[data-id="lib23"]').textContent()).toMatch(/Signed/);

    // More as the list scrolls: 24 first, the rest when the end comes into view.
    expect(await page.locator('.card').count()).toBe(24);
    await page.locator('#more').scrollIntoViewIfNeeded();
    await expect.poll(() => page.locator('.card').count()).toBe(30);
    await expect.poll(() => page.locator('#more').isHidden()).toBe(true);

    // The same page at each size, and dark.
    await page.evaluate(() => window.scrollTo(0, 0));
    for (const [size, dark] of [
      [SIZES[0], false],
      [SIZES[1], false],
      [SIZES[2], false],
      [SIZES[0], true],
      [SIZES[2], true],
    ] as const) {
      await page.setViewportSize(size);
      await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
      await page.screenshot({
        path: await screenshotPath(`library-grid-${size.name}${dark ? '-dark' : ''}`),
      });
    }
  });

  it('search, filters and sort go to the API and into the address; a reload keeps them', async () => {
    const { page } = await openLibrary(await signedIn());
    await page.getByLabel('Search titles').fill('holiday');
    await expect.poll(async () => (await titles(page)).length).toBe(8);
    for (const title of await titles(page)) expect(title.toLowerCase()).toContain('holiday');
    expect(page.url()).toMatch(/\?q=holiday$/);
    await page.getByLabel('Privacy').selectOption('public');
    // Holiday and public: i % 12 === 0 → lib00, lib12, lib24 (newest first).
    await expect.poll(() => titles(page)).toEqual(['Holiday Y 24', 'Holiday M 12', 'Holiday A 0']);
    await page.getByLabel('Sort').selectOption('title');
    await expect.poll(() => titles(page)).toEqual(['Holiday A 0', 'Holiday M 12', 'Holiday Y 24']);
    expect(page.url()).toMatch(/\?q=holiday&policy=public&sort=title$/);
    await page.reload();
    await expect.poll(() => titles(page)).toEqual(['Holiday A 0', 'Holiday M 12', 'Holiday Y 24']);
    expect(await page.getByLabel('Search titles').inputValue()).toBe('holiday');
    await page.getByLabel('Search titles').fill('no such title');
    await page.locator('#no-match').waitFor();
    await page.getByRole('button', { name: 'Clear search and filters' }).click();
    await expect.poll(async () => (await titles(page)).length).toBeGreaterThan(20);
    await page.getByLabel('Status').selectOption('failed');
    await expect.poll(() => titles(page)).toEqual(['Meeting Z 25']);
    await screenshot(page, 'library-filtered-failed');
  });

  it('selects several to delete (focus moves to the next card) or retry; one delete keeps focus too', async () => {
    const { page } = await openLibrary(await signedIn());
    await expect.poll(() => page.locator('.card').count()).toBe(24);
    const shown = await titles(page);
    await page.getByLabel(`Select ${shown[1]!}`, { exact: true }).check();
    await page.getByLabel(`Select ${shown[2]!}`, { exact: true }).check();
    await page.getByLabel('Select Meeting Z 25', { exact: true }).check();
    await expect.poll(() => page.locator('#selection-count').textContent()).toBe('3 selected');
    await screenshot(page, 'library-selection');
    // Retry applies to the failed one only.
    await page.getByRole('button', { name: 'Retry 1 failed' }).click();
    await expect.poll(() => page.locator('#selection-count').textContent()).toBe('2 selected');
    const [first, second, third] = await page
      .locator('.card')
      .evaluateAll((c) => c.map((e) => e.getAttribute('data-id')));
    expect(first).toBeTruthy();
    await page.getByRole('button', { name: 'Delete 2' }).click();
    await expect.poll(() => page.locator(`.card[data-id="${second}"]`).count()).toBe(0);
    expect(await page.locator(`.card[data-id="${third}"]`).count()).toBe(0);
    expect((await t.api(`/v1/videos/${second}`)).status).toBe(404);
    expect((await t.api(`/v1/videos/${third}`)).status).toBe(404);
    // Focus is on the card that followed them.
    const focused = await page.evaluate(() =>
      document.activeElement?.closest('.card')?.getAttribute('data-id'),
    );
    const ids = await page.locator('.card').evaluateAll((c) => c.map((e) => e.getAttribute('data-id')));
    expect(focused).toBe(ids[1]);
    // One card's Delete, by keyboard: focus goes to the next card's title.
    const next = ids[2];
    await page.locator(`.card[data-id="${ids[1]}"] .delete`).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator(`.card[data-id="${ids[1]}"]`).count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.closest('.card')?.getAttribute('data-id'))).toBe(
      next,
    );
  });

  it('edits title and privacy on the video page; picks a poster frame that becomes poster.jpg', async () => {
    await realReady;
    const context = await signedIn();
    const { page, problems } = await openPage(context);
    await page.goto(`${t.url}/videos/lib03`);
    await page.getByRole('heading', { name: 'Edit' }).waitFor();
    await page.getByLabel('Title', { exact: true }).fill('Renamed in the page');
    await page.getByLabel(/^Signed/).check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.locator('#edit-status').textContent()).toBe('Saved.');
    const changed = (await (await t.api('/v1/videos/lib03')).json()) as {
      title: string;
      playbackPolicy: string;
    };
    expect(changed).toMatchObject({ title: 'Renamed in the page', playbackPolicy: 'signed' });
    expect(await page.locator('#title').textContent()).toBe('Renamed in the page');
    // The fake has no frames to pick from: the picker says so rather than failing silently.

    const posterOf = async () => {
      const res = await fetch(`${t.url}/play/${realId}/public/poster.jpg`);
      return {
        status: res.status,
        cache: res.headers.get('cache-control'),
        bytes: Buffer.from(await res.arrayBuffer()),
      };
    };
    await t.api(`/v1/videos/${realId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ playbackPolicy: 'public' }),
    });
    const before = await posterOf();
    expect(before.status).toBe(200);
    await page.goto(`${t.url}/videos/${realId}`);
    await page.locator('#poster-pick').waitFor();
    await page.getByLabel('Seconds from the start').fill('3.2');
    await page.getByLabel('Seconds from the start').press('Enter');
    await page.getByLabel('Seconds from the start').blur();
    await expect
      .poll(() => page.locator('#poster-preview').evaluate((i) => (i as HTMLImageElement).currentSrc), {
        message: `${problems.join('\n')} ${await page.locator('#edit').textContent()}`,
        timeout: 15_000,
      })
      .toMatch(/thumbnail\.jpg\?time=3\.2&width=640$/);
    await expect
      .poll(() => page.locator('#poster-preview').evaluate((i) => (i as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await screenshot(page, `library-video-edit-${size.name}`);
    }
    await page.getByRole('button', { name: 'Use this frame as the poster' }).click();
    await expect
      .poll(() => page.locator('#edit-status').textContent(), { timeout: 20_000 })
      .toMatch(/is the poster now/);
    const after = await posterOf();
    expect(after.status).toBe(200);
    expect(after.bytes.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect(after.bytes.equals(before.bytes)).toBe(false);
    expect(after.cache).toMatch(/max-age=10\b/);
    const view = (await (await t.api(`/v1/videos/${realId}`)).json()) as { posterTime: number };
    expect(view.posterTime).toBeCloseTo(3.2, 3);
    // One chosen poster object is kept: choosing again replaces (and deletes) the previous one.
    const posters = async () => (await t.reel.store.list(`videos/${realId}/posters/`)).length;
    expect(await posters()).toBe(1);
    await page.getByRole('button', { name: 'Back to the original poster' }).click();
    await expect.poll(() => page.locator('#edit-status').textContent()).toMatch(/original poster is back/);
    expect((await posterOf()).bytes.equals(before.bytes)).toBe(true);
    expect(await posters()).toBe(0);
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'library-video-edit-dark');
    expect(problems.filter((p) => !/thumbnail|poster/.test(p))).toEqual([]);
  });

  it('failed page shows its error once; a missing video offers no Delete; the key screen marks no page; /docs leads back', async () => {
    const context = await signedIn();
    const { page } = await openPage(context);
    await publishFake(t, 'libfail', 'public');
    await t.reel.db.query(
      `UPDATE videos SET status = 'failed', error = 'The source has no video stream.' WHERE id = 'libfail'`,
    );
    await page.goto(`${t.url}/videos/libfail`);
    await page.locator('#error').filter({ hasText: 'no video stream' }).waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: the text a person sees (hidden elements left out)
    const text = (await page.locator('main').innerText()).match(/no video stream/g) ?? [];
    expect(text.length).toBe(1);
    expect(await page.locator('#pending').isVisible()).toBe(false);
    await screenshot(page, 'library-failed-page');

    await page.goto(`${t.url}/videos/not_a_video`);
    await page.getByRole('heading', { name: 'No such video' }).waitFor();
    expect(await page.getByRole('button', { name: /Delete/ }).count()).toBe(0);
    await screenshot(page, 'library-missing-page');

    const fresh = await browser.newContext({ viewport: { width: 390, height: 844 } });
    contexts.push(fresh);
    const gate = await fresh.newPage();
    await gate.goto(`${t.url}/`);
    await gate.getByLabel('API key', { exact: true }).waitFor();
    expect(await gate.locator('.top nav a[aria-current]').count()).toBe(0);
    await screenshot(gate, 'library-key-390');

    // Dark mode is where the code chips covered the line above.
    const docsContext = await browser.newContext({
      viewport: { width: 1366, height: 768 },
      colorScheme: 'dark',
    });
    contexts.push(docsContext);
    const docs = await docsContext.newPage();
    await docs.goto(`${t.url}/docs`);
    const back = docs.getByRole('link', { name: /Back to the Reel web app/ });
    await back.waitFor();
    expect(await back.getAttribute('href')).toBe('/');
    const chip = await docs
      .locator('.info .renderedMarkdown code')
      .first()
      .evaluate((c) => getComputedStyle(c).paddingTop);
    expect(Number.parseFloat(chip)).toBeLessThan(3);
    await docs.screenshot({ path: await screenshotPath('library-docs-dark') });
  });

  it('a processing card estimates the time left from the progress it has seen move', async () => {
    await publishFake(t, 'libeta', 'signed', 'processing');
    await t.reel.db.query(`UPDATE videos SET title = 'Busy', progress = 0.1 WHERE id = 'libeta'`);
    const { page } = await openLibrary(await signedIn(), '?q=Busy');
    const pct = page.locator('.card[data-id="libeta"] .pct');
    await expect.poll(() => pct.textContent()).toBe('10%');
    await new Promise((r) => setTimeout(r, 3200));
    await t.reel.db.query(`UPDATE videos SET progress = 0.3 WHERE id = 'libeta'`);
    // About 3.2 s for 20 %: 70 % more takes about 11 s.
    await expect.poll(() => pct.textContent(), { timeout: 10_000 }).toMatch(/^30%, about \d+ s left$/);
  });
});

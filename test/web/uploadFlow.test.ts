/**
 * Uploads that cannot strand a file, in Chromium against a real Reel (upload and play roles: no worker, so a
 * fully uploaded video waits, queued, and nothing is transcoded): a text file renamed .mp4 is refused before
 * a byte is sent; a dropped file starts by itself; other pages show it in their header; paused shows no
 * speed; leaving mid-upload asks first; an upload whose page was closed shows its percentage in the library
 * and resumes there when its file is picked again; a stranded upload can be discarded. Screenshots at
 * 1440×900, 1366×768, 390×844 and in dark mode go to test-artifacts/screenshots/uploadux-*.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusFetch } from '../helpers/tus.js';
import { launchChromium, openPage, screenshot } from './browser.js';

const CHUNK = 64 * 1024;
const SIZE = 10 * CHUNK;

/** Bytes that start like an MP4 (an ftyp box), then noise: enough for the page; no worker reads them. */
function mp4Like(size: number, seed: number): Buffer {
  const b = crypto.createHash('sha256').update(String(seed)).digest();
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += b.length) b.copy(out, i);
  Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex').copy(out, 0);
  return out;
}

/** The page at the three sizes and in dark mode. */
async function shots(page: Page, name: string) {
  for (const [w, hgt] of [
    [1440, 900],
    [1366, 768],
    [390, 844],
  ] as const) {
    await page.setViewportSize({ width: w, height: hgt });
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth),
      `${name} at ${w}`,
    ).toBeLessThanOrEqual(w);
    await screenshot(page, `uploadux-${name}-${w}`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, `uploadux-${name}-dark`);
  await page.emulateMedia({ colorScheme: 'light' });
}

describe('uploads that cannot strand a file', () => {
  let t: TestReel;
  let browser: Browser;
  let dir: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [t, browser] = await Promise.all([startTestReel({ roles: 'upload,play' }), launchChromium()]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-uploadux-'));
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
  });

  /** A context with the API key and small chunks; PATCH requests wait `delay.ms` (0: none). */
  async function signedIn(delay = { ms: 0 }) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    await context.addInitScript(
      (items: Record<string, string>) => {
        for (const [k, v] of Object.entries(items))
          if (localStorage.getItem(k) === null) localStorage.setItem(k, v);
      },
      { 'reel.apiKey': t.apiKey, 'reel.uploadChunkBytes': String(CHUNK) },
    );
    await context.route('**/v1/uploads/*', async (route) => {
      if (route.request().method() === 'PATCH' && delay.ms) await new Promise((r) => setTimeout(r, delay.ms));
      await route.continue().catch(() => undefined); // the page went away meanwhile
    });
    return context;
  }

  /** Drops a file built in the page (bytes from `seed`, as mp4Like) on the drop zone. */
  async function dropFile(page: Page, name: string, text: string | null, seed = 1) {
    const bytes =
      text === null ? mp4Like(SIZE, seed).toString('base64') : Buffer.from(text).toString('base64');
    const dataTransfer = await page.evaluateHandle(
      ([b64, fileName]) => {
        const raw = Uint8Array.from(atob(b64!), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([raw], fileName!, { type: 'video/mp4', lastModified: 1_700_000_000_000 }));
        return dt;
      },
      [bytes, name],
    );
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
  }

  it('refuses a text file renamed .mp4 at once, with the reason, and sends nothing', async () => {
    const context = await signedIn();
    const { page, problems } = await openPage(context);
    const sent: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/uploads') && r.method() !== 'OPTIONS') sent.push(`${r.method()} ${r.url()}`);
    });
    await page.goto(`${t.url}/upload`);
    await page.getByRole('heading', { name: 'Upload videos' }).waitFor();
    // Chosen, and dropped: the browser calls both video/mp4.
    await page.getByLabel('Choose files').setInputFiles({
      name: 'notes.mp4',
      mimeType: 'video/mp4',
      buffer: Buffer.from('Meeting notes, not a video.\n'.repeat(50)),
    });
    await dropFile(page, 'playlist.mp4', '#EXTM3U\n#EXTINF:4,\nfile:///etc/passwd\n');
    const rows = page.locator('.upload-item');
    await expect.poll(() => rows.count()).toBe(2);
    for (const row of await rows.all()) expect(await row.getAttribute('data-state')).toBe('refused');
    expect(await rows.nth(0).getByRole('alert').textContent()).toBe(
      '“notes.mp4” is not a video Reel can read: its first bytes are those of a text file. ' +
        'Reel accepts MP4/MOV, MKV/WebM, AVI, WMV, MPEG-TS, MPEG-PS, FLV and Ogg files.',
    );
    expect(await rows.nth(1).getByRole('alert').textContent()).toMatch(/“playlist\.mp4”.*an HLS playlist/);
    await page.waitForTimeout(300);
    expect(await page.locator('main').textContent()).not.toMatch(/Uploaded/);
    // Files wait for Start when the setting is off (remembered across reloads); the button stays in view.
    await page.getByLabel('Start uploads as soon as files are added').uncheck();
    await page.reload();
    const autoStart = page.getByLabel('Start uploads as soon as files are added');
    await autoStart.waitFor();
    expect(await autoStart.isChecked()).toBe(false);
    await page.getByLabel('Choose files').setInputFiles({
      name: 'waiting.mp4',
      mimeType: 'video/mp4',
      buffer: mp4Like(CHUNK, 9),
    });
    await page.getByRole('button', { name: 'Start upload' }).waitFor();
    expect(await page.locator('.upload-item').getAttribute('data-state')).toBe('ready');
    expect(await page.locator('#queue-actions').evaluate((el) => getComputedStyle(el).position)).toBe(
      'sticky',
    );
    expect(sent).toEqual([]);
    const list = (await (await t.api('/v1/videos')).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('a dropped file starts by itself; the header of other pages shows it; paused shows no speed; leaving asks first', async () => {
    const delay = { ms: 350 };
    const context = await signedIn(delay);
    const up = await openPage(context);
    await up.page.goto(`${t.url}/upload`);
    await up.page.getByRole('heading', { name: 'Upload videos' }).waitFor();
    expect(await up.page.getByLabel('Start uploads as soon as files are added').isChecked()).toBe(true);
    await dropFile(up.page, 'dropped.mp4', null, 2);
    const item = up.page.locator('.upload-item').first();
    await expect.poll(() => item.getAttribute('data-state')).toBe('uploading');
    await expect
      .poll(() => item.locator('.figures').textContent(), { timeout: 10_000 })
      .toMatch(/\/s · .* left/);
    // Privacy per file: the row has its own choice.
    expect(await item.getByLabel('Who can watch').inputValue()).toBe('signed');
    // Changed while it uploads: the video is changed (PATCH) once it exists.
    await item.getByLabel('Who can watch').selectOption('public');
    await item.getByLabel('Title', { exact: true }).fill('Dropped clip');
    await item.getByLabel('Title', { exact: true }).press('Tab');

    // Another page of the app, in another tab: its header shows the upload and leads to the upload page.
    const lib = await openPage(context);
    await lib.page.goto(`${t.url}/`);
    const indicator = lib.page.locator('#uploads-indicator');
    await indicator.waitFor();
    expect(await indicator.textContent()).toMatch(/^Uploading · \d+%$/);
    expect(await indicator.getAttribute('href')).toBe('/upload');
    await screenshot(lib.page, 'uploadux-library-indicator');
    // Its card says it is being sent from another tab (no resume offered there).
    const id = await waitFor('the upload’s video id', () =>
      item.evaluate(() => {
        for (let i = 0; i < localStorage.length; i++) {
          const k = localStorage.key(i)!;
          if (k.startsWith('reel.activeUploads.'))
            return JSON.parse(localStorage.getItem(k)!).uploads[0]?.id as string;
        }
        return undefined;
      }),
    );
    const card = lib.page.locator(`.card[data-id="${id}"]`);
    await expect
      .poll(() => card.locator('.upload-resume').textContent())
      .toMatch(/\d+% uploaded.*another tab/);
    expect(await card.getByText('Pick the file again').count()).toBe(0);

    // Offline: the figures say so at once, with no speed; back online it goes on by itself.
    await context.setOffline(true);
    await expect.poll(() => item.locator('.figures').textContent()).toMatch(/\(\d+%\) · offline$/);
    expect(await item.locator('.message').textContent()).toMatch(/^Offline\./);
    await context.setOffline(false);

    // Paused: no speed, no time left, even a while later.
    await item.getByRole('button', { name: 'Pause dropped.mp4' }).click();
    expect(await item.getAttribute('data-state')).toBe('paused');
    const paused = await item.locator('.figures').textContent();
    expect(paused).toMatch(/\(\d+%\) · paused$/);
    expect(paused).not.toMatch(/\/s|left/);
    await up.page.waitForTimeout(1200);
    expect(await item.locator('.figures').textContent()).toBe(paused);
    // Not uploading: the header elsewhere lets go of it.
    await expect.poll(() => indicator.isHidden()).toBe(true);
    // Slower from here, so that it still runs while the page is left and photographed.
    delay.ms = 2000;
    await item.getByRole('button', { name: 'Resume dropped.mp4' }).click();
    await expect.poll(() => indicator.isVisible()).toBe(true);

    // Leaving while it runs: the browser asks; staying keeps the upload going.
    const dialogs: string[] = [];
    up.page.on('dialog', (d) => {
      dialogs.push(d.type());
      void d.dismiss();
    });
    await up.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Library' }).click();
    await expect.poll(() => dialogs).toEqual(['beforeunload']);
    expect(new URL(up.page.url()).pathname).toBe('/upload');
    expect(await item.getAttribute('data-state')).toBe('uploading');
    await shots(up.page, 'upload');

    delay.ms = 0;
    await expect.poll(() => item.getAttribute('data-state'), { timeout: 20_000 }).toBe('done');
    await expect.poll(() => indicator.isHidden()).toBe(true);
    const saved = (await (await t.api(`/v1/videos/${id}`)).json()) as {
      title: string;
      playbackPolicy: string;
    };
    expect(saved).toMatchObject({ title: 'Dropped clip', playbackPolicy: 'public' });
    // Done: leaving asks nothing.
    await up.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Library' }).click();
    await up.page.waitForURL(`${t.url}/`);
    expect(dialogs).toEqual(['beforeunload']);
    expect([...up.problems, ...lib.problems]).toEqual([]);
  });

  it('a stranded upload shows its percentage in the library and resumes there when its file is picked again; another is discarded', async () => {
    const file = path.join(dir, 'stranded.mp4');
    fs.writeFileSync(file, mp4Like(SIZE, 3));
    const delay = { ms: 300 };
    const context = await signedIn(delay);
    const up = await openPage(context);
    await up.page.goto(`${t.url}/upload`);
    await up.page.getByLabel('Public: anyone who has the video’s link').check();
    await up.page.getByLabel('Choose files').setInputFiles(file);
    const item = up.page.locator('.upload-item').first();
    await expect
      .poll(() => item.locator('progress').evaluate((p) => (p as HTMLProgressElement).value), {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(20);
    // The page goes away mid-upload (closed without asking, as a crash would).
    await up.page.close();
    const list = (await (await t.api('/v1/videos')).json()) as {
      data: { id: string; status: string; playbackPolicy: string }[];
    };
    const video = list.data.find((v) => v.status === 'uploading')!;
    expect(video.playbackPolicy).toBe('public');
    const uploadUrl = `${t.url}/v1/uploads/${video.id}`;
    // (A PATCH that was on its way when the page closed may still land: the offset is asked each time.)
    const offsetNow = async () =>
      Number((await tusFetch.head(uploadUrl, t.auth)).headers.get('upload-offset'));
    const stoppedAt = await offsetNow();
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(SIZE);

    // The upload page, opened again, offers it.
    const again = await openPage(context);
    await again.page.goto(`${t.url}/upload`);
    await again.page.getByRole('heading', { name: 'Unfinished uploads' }).waitFor();
    const row = again.page.locator('#unfinished li').first();
    await expect.poll(() => row.textContent()).toMatch(/stranded\.mp4.*\d+%.*Pick the file to resume/);
    await again.page.close();

    // A stranded upload made by hand (tus), to be discarded.
    const created = await tusFetch.create(`${t.url}/v1/uploads`, {
      length: SIZE,
      metadata: { filename: 'abandoned.mp4', title: 'Abandoned' },
      headers: t.auth,
    });
    const abandonedUrl = created.headers.get('location')!;
    const abandonedId = abandonedUrl.split('/').pop()!;
    expect((await tusFetch.patch(abandonedUrl, 0, new Uint8Array(mp4Like(SIZE / 4, 4)), t.auth)).status).toBe(
      204,
    );

    // The library: both show how far they got.
    const lib = await openPage(context);
    await lib.page.goto(`${t.url}/`);
    const card = lib.page.locator(`.card[data-id="${video.id}"]`);
    await expect
      .poll(
        async () => {
          const pct = Math.floor(((await offsetNow()) / SIZE) * 100);
          const text = await card.locator('.upload-resume .figures').textContent();
          return text?.startsWith(`${pct}% uploaded · `) ?? false;
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    const offset = await offsetNow();
    expect(offset).toBeLessThan(SIZE);
    const abandoned = lib.page.locator(`.card[data-id="${abandonedId}"]`);
    await expect
      .poll(() => abandoned.locator('.upload-resume .figures').textContent())
      .toMatch(/^25% uploaded/);
    await shots(lib.page, 'library');

    // Hostile picks: a text file, and a video of another size, are refused on the card; nothing is sent.
    const input = card.locator('.upload-resume input[type="file"]');
    await input.setInputFiles({
      name: 'stranded.mp4',
      mimeType: 'video/mp4',
      buffer: Buffer.from('not a video\n'),
    });
    await expect
      .poll(() => card.getByRole('alert').textContent())
      .toMatch(/first bytes are those of a text file/);
    await input.setInputFiles({ name: 'stranded.mp4', mimeType: 'video/mp4', buffer: mp4Like(SIZE - 1, 3) });
    await expect.poll(() => card.getByRole('alert').textContent()).toMatch(/not the file of this upload/);
    expect(Number((await tusFetch.head(uploadUrl, t.auth)).headers.get('upload-offset'))).toBe(offset);

    // The right file: it continues from the server's offset, through the URL this browser stored for it.
    const patches: number[] = [];
    lib.page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().includes('/v1/uploads')) patches.push(-1);
      if (r.method() === 'PATCH' && r.url() === uploadUrl) patches.push(Number(r.headers()['upload-offset']));
    });
    delay.ms = 0;
    await input.setInputFiles(file);
    await expect.poll(() => card.getAttribute('data-status'), { timeout: 20_000 }).toBe('queued');
    expect(patches[0]).toBe(offset);
    expect(patches).not.toContain(-1);
    const stored = await waitFor('the source in the store', async () => {
      const key = `sources/${video.id}/original`;
      if (!(await t.reel.store.stat(key))) return undefined;
      const chunks: Buffer[] = [];
      for await (const c of await t.reel.store.get(key)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    });
    expect(stored.equals(fs.readFileSync(file))).toBe(true);
    // tus-js-client's entry for it is gone (the upload page will not offer it again).
    expect(
      await lib.page.evaluate(
        (vid) =>
          Object.keys(localStorage).filter(
            (k) => k.startsWith('tus::') && localStorage.getItem(k)!.includes(vid),
          ),
        video.id,
      ),
    ).toEqual([]);

    // Discard: a read-only key cannot; the owner deletes it from the library, and the upload goes too.
    const readKey = (
      (await (
        await t.api('/v1/keys', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
        })
      ).json()) as { key: string }
    ).key;
    const asReader = { Authorization: `Bearer ${readKey}` };
    expect(
      (await fetch(`${t.url}/v1/videos/${abandonedId}`, { method: 'DELETE', headers: asReader })).status,
    ).toBe(403);
    expect((await tusFetch.head(abandonedUrl, asReader)).status).toBe(403);
    expect((await tusFetch.head(abandonedUrl, t.auth)).status).toBe(200);
    lib.page.once('dialog', (d) => void d.accept());
    await abandoned.getByRole('button', { name: 'Delete Abandoned' }).click();
    await abandoned.waitFor({ state: 'detached' });
    expect((await t.api(`/v1/videos/${abandonedId}`)).status).toBe(404);
    expect((await tusFetch.head(abandonedUrl, t.auth)).status).toBe(404);
    expect(
      (await tusFetch.patch(abandonedUrl, SIZE / 4, new Uint8Array(mp4Like(16, 5)), t.auth)).status,
    ).toBe(404);
    expect(lib.problems).toEqual([]);
  });
});

/**
 * The upload page's "Let someone else upload" panel in Chromium: it makes an upload link and shows the
 * link and an HTML snippet; the snippet, put in a page of another origin (the link's corsOrigin), uploads a
 * file with tus-js-client and no API key.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { launchChromium, openPage, screenshot } from './browser.js';

const require = createRequire(import.meta.url);
const TUS_BUILD = path.join(path.dirname(require.resolve('tus-js-client/package.json')), 'dist/tus.min.js');

/** Another origin on this machine (another port): the site that embeds the snippet. */
interface Site {
  url: string;
  server: http.Server;
  setPage(html: string): void;
}
async function startSite(): Promise<Site> {
  let page = '';
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, setPage: (html) => (page = html) };
}

describe('upload links on the upload page', () => {
  let t: TestReel;
  let browser: Browser;
  let clip: string;
  let site: Site;

  beforeAll(async () => {
    site = await startSite();
    [t, browser, clip] = await Promise.all([
      startTestReel(),
      launchChromium(),
      makeClip('link-web-240p', { width: 320, height: 240, seconds: 2 }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    site?.server.close();
  });

  it('makes a link and a snippet; the snippet on the link’s origin uploads a file with no API key', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    await context.addInitScript((key: string) => localStorage.setItem('reel.apiKey', key), t.apiKey);
    const { page, problems } = await openPage(context);
    await page.goto(`${t.url}/upload`);

    await page.getByLabel('Title of the uploaded video').fill('Sent by a friend');
    await page
      .locator('#link-form')
      .getByRole('radio', { name: /^Public/ })
      .check();
    await page.getByLabel('The link can start an upload for').selectOption('86400');
    const originInput = page.getByLabel(/Web page that uploads with it/);
    await originInput.fill('not an origin');
    await page.getByRole('button', { name: 'Create upload link' }).click();
    await expect
      .poll(() => page.locator('#link-error').textContent())
      .toMatch(/corsOrigin must be an origin/);
    expect(await originInput.getAttribute('aria-invalid')).toBe('true');

    await originInput.fill(site.url);
    await page.getByRole('button', { name: 'Create upload link' }).click();
    const urlInput = page.getByLabel(/^Upload link/);
    await urlInput.waitFor();
    const url = await urlInput.inputValue();
    expect(url).toMatch(new RegExp(`^${t.url}/v1/upload-links/ul_`));
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('link-url');
    const snippet = await page.getByLabel(/^HTML for your page/).inputValue();
    expect(snippet).toContain(`endpoint: ${JSON.stringify(url)}`);
    expect(snippet).toContain('https://cdn.jsdelivr.net/npm/tus-js-client@4/dist/tus.min.js');
    expect(await page.locator('#link-expires').textContent()).toMatch(/takes one file/);
    await screenshot(page, 'upload-link');
    expect(problems.filter((p) => !p.includes('/v1/uploads/links'))).toEqual([]);

    // The snippet in a page of the link's origin (no API key there), tus-js-client from the "CDN".
    const sitePage = await context.newPage();
    await context.route('https://cdn.jsdelivr.net/**', (route) =>
      route.fulfill({ path: TUS_BUILD, contentType: 'text/javascript' }),
    );
    site.setPage(`<!doctype html><title>My site</title>${snippet}`);
    await sitePage.goto(`${site.url}/my-site`);
    await sitePage.getByLabel('Choose a video').setInputFiles(clip);
    await expect
      .poll(() => sitePage.locator('#reel-progress').textContent(), { timeout: 30_000 })
      .toBe('Uploaded. Thank you!');
    const videoId = /video (\S+) in your library/.exec(
      (await page.locator('#link-expires').textContent()) ?? '',
    )?.[1];
    const made = (await (await t.api(`/v1/videos/${videoId}`)).json()) as {
      title: string;
      playbackPolicy: string;
    };
    expect(made).toMatchObject({ title: 'Sent by a friend', playbackPolicy: 'public' });
    await waitFor('queued', async () => {
      const v = (await (await t.api(`/v1/videos/${videoId}`)).json()) as { status: string };
      return v.status !== 'uploading';
    });
  });
});

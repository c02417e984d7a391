/**
 * The settings page in Debian's Chromium against a real Reel: an admin creates a read key (its secret shown
 * once, copied, working for read and refused for write), revokes it (the API refuses it at once), is warned
 * before revoking the key the page itself uses; adds a webhook to a local receiver, sends a test event and
 * sees it delivered; a read key sees a sentence instead of the forms. Screenshots at 1440×900, 1366×768 and
 * 390×844, light and dark, go to test-artifacts/screenshots/.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { createApiKey } from '../../src/db/apiKeys.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';
import { type Receiver, startReceiver, verifyDelivery } from '../helpers/webhookReceiver.js';
import { launchChromium, openPage, screenshot } from './browser.js';

const SIZES = [
  { name: '1440', width: 1440, height: 900 },
  { name: '1366', width: 1366, height: 768 },
  { name: '390', width: 390, height: 844 },
] as const;

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

/**
 * Screenshots of this page at the given sizes (all three unless told), then in dark mode at the narrowest
 * (and the widest with `darkWide`); the page is left at 1440×900, light.
 */
async function shots(
  page: Page,
  name: string,
  sizes: readonly (typeof SIZES)[number][] = SIZES,
  darkWide = true,
) {
  for (const s of sizes) {
    await page.setViewportSize({ width: s.width, height: s.height });
    await screenshot(page, `settings-${name}-${s.name}`);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, `settings-${name}-390-dark`);
  if (darkWide) {
    await page.setViewportSize({ width: 1440, height: 900 });
    await screenshot(page, `settings-${name}-1440-dark`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.emulateMedia({ colorScheme: 'light' });
}

describe('the settings page in Chromium', () => {
  let t: TestReel;
  let browser: Browser;
  let receiver: Receiver;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [t, browser, receiver] = await Promise.all([
      startTestReel({
        roles: 'upload',
        'allow-private-networks': 'true',
        'webhook-retry-scale': '0.001',
        'webhook-timeout-seconds': '2',
      }),
      launchChromium(),
      startReceiver(),
    ]);
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
    await receiver?.close();
  });

  async function signedIn(key: string) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
    await context.addInitScript((k: string) => localStorage.setItem('reel.apiKey', k), key);
    return openPage(context);
  }
  const asKey = (key: string, path: string, init: RequestInit = {}) =>
    fetch(t.url + path, { ...init, headers: { Authorization: `Bearer ${key}` } });

  it('an admin creates a read key (shown once, works for read, refused for write) and revokes it', async () => {
    // A name that is markup is shown as text.
    const marked = await createApiKey(t.reel.db, '<img src=x onerror="window.__pwned=1">', ['read']);
    const { page, problems } = await signedIn(t.apiKey);
    const res = await page.goto(`${t.url}/settings`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    expect(await page.locator('#keys-body tr', { hasText: 'This browser' }).count()).toBe(1);
    const markedRow = page.locator(`#keys-body tr[data-key-id="${marked.id}"]`);
    expect(await markedRow.locator('.key-name').textContent()).toBe('<img src=x onerror="window.__pwned=1">');
    expect(await page.locator('#keys-body img').count()).toBe(0);
    expect(await page.evaluate(() => 'window.__pwned' in window || '__pwned' in window)).toBe(false);

    // Keyboard only: the name, then the scope by arrow key, then Enter.
    await page.getByLabel('Name', { exact: true }).focus();
    await page.keyboard.type('Dashboard');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).value)).toBe('read');
    await page.getByLabel('Name', { exact: true }).focus();
    await page.keyboard.press('Enter');
    const secretInput = page.getByLabel(/^New key/);
    await secretInput.waitFor();
    const secret = await secretInput.inputValue();
    expect(secret).toMatch(/^reel_/);
    // The page moves focus to the new key once it has shown it (a moment after the field appears; under
    // load the check once came first).
    await page.waitForFunction(() => document.activeElement?.id === 'key-secret', undefined, {
      timeout: 5000,
    });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('key-secret');
    expect(await page.locator('#key-created h3').textContent()).toMatch(/you won’t see it again/);
    await page.getByRole('button', { name: 'Copy key' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

    const row = page.locator('#keys-body tr', { hasText: 'Dashboard' });
    await expect.poll(() => row.locator('td[data-label="Access"]').textContent()).toBe('Read');
    expect(await row.locator('td[data-label="Last used"]').textContent()).toBe('Never');
    expect(await unlabelled(page)).toEqual([]);

    // The key works for read and is refused for write.
    expect((await asKey(secret, '/v1/videos')).status).toBe(200);
    const write = await asKey(secret, '/v1/videos/vid_nothing', { method: 'DELETE' });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { code: string }).code).toBe(errors.scopeDenied.code);

    await shots(page, 'key-created', [SIZES[2]], false);

    // "I have copied it": the secret is gone from the page, and a reload never shows it again.
    await page.getByRole('button', { name: 'I have copied it' }).click();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('key-name');
    await page.reload();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await expect.poll(() => row.count()).toBe(1);
    expect(await page.content()).not.toContain(secret);
    expect(await row.locator('td[data-label="Last used"]').textContent()).not.toBe('Never');

    // Revoke, confirmed: the API refuses the key from then on.
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await row.getByRole('button', { name: 'Revoke key “Dashboard”' }).click();
    await expect.poll(() => row.getAttribute('class')).toBe('revoked');
    expect(dialogs[0]).toMatch(/^Revoke the key “Dashboard”\?/);
    expect(await row.textContent()).toMatch(/Revoked/);
    expect(await row.getByRole('button').count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('keys-title');
    expect((await asKey(secret, '/v1/videos')).status).toBe(401);
    expect(problems).toEqual([]);
  });

  it('revoking the key the page itself uses is warned about, and then asks for another key', async () => {
    const laptop = await createApiKey(t.reel.db, 'Laptop', ['admin']);
    const { page } = await signedIn(laptop.secret);
    await page.goto(`${t.url}/settings`);
    const own = page.locator('#keys-body tr', { hasText: 'This browser' });
    await expect.poll(() => own.locator('.key-name').textContent()).toBe('Laptop');
    const revoke = own.getByRole('button', { name: /^Revoke key “Laptop” \(used by this browser\)$/ });

    // Dismissed: nothing happens.
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await revoke.click();
    await expect.poll(() => dialogs.length).toBe(1);
    expect(dialogs[0]).toMatch(/is the key this browser is using/);
    expect((await asKey(laptop.secret, '/v1/keys')).status).toBe(200);

    page.once('dialog', (d) => void d.accept());
    await revoke.click();
    await page.getByLabel('API key', { exact: true }).waitFor();
    expect(await page.locator('#key-error').textContent()).toMatch(/revoked/);
    expect((await asKey(laptop.secret, '/v1/keys')).status).toBe(401);
  });

  it('adds a webhook to a local receiver (secret shown once), sends a test event, shows it delivered', async () => {
    const { page, problems } = await signedIn(t.apiKey);
    await page.goto(`${t.url}/settings`);
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await expect.poll(() => page.locator('#hooks-empty').isVisible()).toBe(true);

    // Nothing chosen: said, nothing made.
    await page.getByLabel('Endpoint URL').fill(receiver.url);
    for (const box of await page.locator('input[name="events"]').all()) await box.uncheck();
    await page.getByRole('button', { name: 'Add webhook' }).click();
    expect(await page.locator('#hook-form-error').textContent()).toBe('Choose at least one event.');
    // A URL Reel will not open: the server's reason, beside the field.
    await page.getByLabel('video.ready').check();
    await page.getByLabel('Endpoint URL').fill('ftp://example.com/hook');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await expect.poll(() => page.locator('#hook-form-error').textContent()).toMatch(/will not open this URL/);
    expect(await page.getByLabel('Endpoint URL').getAttribute('aria-invalid')).toBe('true');
    expect(((await (await t.api('/v1/webhooks')).json()) as { data: unknown[] }).data).toEqual([]);

    await page.getByLabel('Endpoint URL').fill(receiver.url);
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secretInput = page.getByLabel(/^Signing secret for/);
    await secretInput.waitFor();
    const secret = await secretInput.inputValue();
    expect(secret).toMatch(/^whsec_/);
    expect(await page.locator('#hook-created h3').textContent()).toMatch(/you won’t see it again/);
    const item = page.locator('#hooks li.hook');
    await expect.poll(() => item.count()).toBe(1);
    expect(await item.textContent()).toContain('Events: video.ready');
    expect(await item.textContent()).toContain('No deliveries yet');

    await item.getByRole('button', { name: `Send a test event to ${receiver.url}` }).click();
    await expect
      .poll(() => item.getByRole('status').textContent(), { timeout: 15_000 })
      .toMatch(/^Test event delivered: HTTP 200\.$/);
    const delivery = item.locator('tr[data-state="delivered"]');
    expect(await delivery.count()).toBe(1);
    expect(await delivery.locator('td[data-label="Event"]').textContent()).toContain('webhook.test');
    expect(await delivery.locator('td[data-label="Status"]').textContent()).toBe('Delivered');
    expect(await delivery.locator('td[data-label="Attempts"]').textContent()).toBe('1');
    expect(await delivery.locator('td[data-label="Last response"]').textContent()).toBe('HTTP 200');
    expect(receiver.received.map((r) => r.json.type)).toEqual(['webhook.test']);
    await verifyDelivery(secret, receiver.received[0]!);

    // A receiver that fails: the failure and the next attempt are shown.
    receiver.handle(() => 503);
    await item.getByRole('button', { name: /^Send a test event/ }).click();
    await expect
      .poll(() => item.getByRole('status').textContent(), { timeout: 15_000 })
      .toMatch(/^The test event was not delivered: HTTP 503/);
    receiver.handle(() => 200);
    expect(await unlabelled(page)).toEqual([]);
    await shots(page, 'webhooks');

    // Delete, confirmed: gone, deliveries with it.
    page.once('dialog', (d) => void d.accept());
    await item.getByRole('button', { name: `Delete the webhook to ${receiver.url}` }).click();
    await expect.poll(() => item.count()).toBe(0);
    expect(await page.locator('#hooks-empty').isVisible()).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('hooks-title');
    expect(((await (await t.api('/v1/webhooks')).json()) as { data: unknown[] }).data).toEqual([]);
    // The only failed request is the refused ftp: URL, whose reason the form showed.
    expect(problems).toEqual([`HTTP 400 POST ${t.url}/v1/webhooks`]);
  });

  it('a read key sees why instead of the forms', async () => {
    const reader = await createApiKey(t.reel.db, 'Wall screen', ['read']);
    const { page, problems } = await signedIn(reader.secret);
    await page.goto(`${t.url}/settings`);
    const note = page.locator('#not-admin');
    await note.waitFor();
    expect(await note.textContent()).toMatch(/can only be managed with an admin key\./);
    expect(await page.locator('#not-admin-text').textContent()).toMatch(
      /^This browser uses “Wall screen”, a key with read access\. The server answered: “This API key may not do this: it needs the "admin" scope/,
    );
    expect(await page.locator('#admin').isHidden()).toBe(true);
    expect(await page.locator('form').count()).toBe(2); // both in the hidden admin part
    expect(await page.getByRole('button', { name: 'Use another key' }).isVisible()).toBe(true);
    // The only failed request is the 403 that the sentence reports.
    expect(problems).toEqual([`HTTP 403 GET ${t.url}/v1/keys`]);
    await shots(page, 'read-key', [SIZES[0], SIZES[2]]);
  });
});

/**
 * A playback token a customer signs with `jose` and their own signing key (POST /v1/signing-keys) plays in
 * hls.js in Debian's Chromium: the share page built on /play/{id}/{jwt}/master.m3u8 plays to the end.
 */
import { importPKCS8, SignJWT } from 'jose';
import type { Browser } from 'playwright-core';
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
import { launchChromium, openPage } from './browser.js';

describe('a customer-signed token in the browser', () => {
  let t: TestReel;
  let browser: Browser;
  let ladder: ChunkedLadder;
  beforeAll(async () => {
    [t, browser, ladder] = await Promise.all([
      startTestReel({ roles: 'upload,play' }),
      launchChromium(),
      makeChunkedLadder('sigkeys-web', { width: 426, height: 240, seconds: 4 }, [240]),
    ]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await ladder?.cleanup();
  });

  it('hls.js plays /play/{id}/{jwt}/master.m3u8 with a JWT minted by jose', async () => {
    await insertChunkedVideo(t, ladder, 'custW', 'signed');
    const seqs = [...new Set([...ladder.files.values()].map((f) => f.seq).filter((s) => s !== null))];
    await publishSegments(t, ladder, 'custW', seqs as number[]);
    await publishOutput(t, ladder, 'custW', 'poster.jpg');
    await markPlayable(t, 'custW');
    await markReady(t, ladder, 'custW');

    const res = await t.api('/v1/signing-keys', { method: 'POST' });
    expect(res.status).toBe(201);
    const { id, privateKey } = (await res.json()) as { id: string; privateKey: string };
    // The README's five lines.
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: id })
      .setSubject('custW')
      .setExpirationTime('10m')
      .sign(await importPKCS8(privateKey, 'RS256'));

    const context = await browser.newContext();
    const viewer = await openPage(context);
    const masters: number[] = [];
    viewer.page.on('response', (r) => {
      if (r.url().endsWith(`/play/custW/${jwt}/master.m3u8`)) masters.push(r.status());
    });
    await viewer.page.goto(`${t.url}/watch/custW/${jwt}`);
    await viewer.page.waitForFunction(
      () => {
        const v = (window as unknown as { reel?: { video: HTMLVideoElement } }).reel?.video;
        return Boolean(v && (v.ended || v.currentTime > 1.5));
      },
      undefined,
      { timeout: 30_000 },
    );
    expect(masters).toEqual([200]);
    expect(viewer.problems).toEqual([]);
    await context.close();
  });
});

/**
 * When the deliverer looks again: nothing pending means "nothing due" (null), not "due now". A NULL
 * minimum once read as 0 ms, and every idle Reel with the upload role queried its database every 10 ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertUploadingVideo } from '../../src/db/videos.js';
import { createWebhook, msUntilNextDelivery } from '../../src/db/webhooks.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
beforeAll(async () => {
  t = await pgliteDb();
});
afterAll(async () => t?.drop());

describe('msUntilNextDelivery', () => {
  it('is null with no deliveries at all, then the time until a pending one is due', async () => {
    expect(await msUntilNextDelivery(t.db)).toBeNull();
    await createWebhook(
      t.db,
      { url: 'https://example.com/hook', events: ['video.created'], secret: 's', apiKeyId: undefined },
      10,
    );
    await insertUploadingVideo(t.db, {
      id: 'nextdelivery0001',
      title: 't',
      filename: 't.mp4',
      playbackPolicy: 'signed',
    });
    expect(await msUntilNextDelivery(t.db)).toBe(0);
    await t.db.query(`UPDATE webhook_deliveries SET run_after = now() + interval '30 seconds'`);
    const ms = await msUntilNextDelivery(t.db);
    expect(ms).toBeGreaterThan(29_000);
    expect(ms).toBeLessThanOrEqual(30_000);
    await t.db.query(`UPDATE webhook_deliveries SET state = 'delivered'`);
    expect(await msUntilNextDelivery(t.db)).toBeNull();
  });
});

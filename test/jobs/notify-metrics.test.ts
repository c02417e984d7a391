import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';

describe('an idle worker on Postgres', () => {
  let pg: TestDb;
  let t: TestReel;
  beforeAll(async () => {
    pg = await postgresDb();
    // Polling once a minute: only a notification can wake it within a second.
    t = await startTestReel({
      'database-url': pg.url!,
      roles: 'worker',
      'poll-ms': '60000',
      'metrics-port': '0',
    });
    await new Promise((r) => setTimeout(r, 1000)); // let it go idle and LISTEN
  });
  afterAll(async () => {
    await t.close();
    await pg.drop();
  });

  it('starts a newly queued job within a second, woken by NOTIFY (queued from another connection)', async () => {
    await insertUploadingVideo(pg.db, {
      id: 'n1',
      title: 'n1',
      filename: 'n1.mp4',
      playbackPolicy: 'signed',
    });
    const queuedAt = Date.now();
    await queueUploadedVideo(pg.db, {
      id: 'n1',
      sourceKey: 'sources/n1/original',
      sourceSize: 1,
      maxAttempts: 1,
    });
    const claimed = await waitFor(
      'the claim',
      async () =>
        (
          await pg.db.query<{ worker_id: string; ms: number }>(
            `SELECT e.worker_id, extract(epoch FROM e.at - j.created_at)::float8 * 1000 AS ms
               FROM job_events e JOIN jobs j ON j.id = e.job_id
              WHERE e.video_id = 'n1' AND e.event = 'claimed'`,
          )
        )[0],
      5000,
      20,
    );
    const seenAfterMs = Date.now() - queuedAt;
    // Claimed by this worker, less than a second after the job was queued by the database's clock, and seen
    // by this test within a second too (a poll would have waited a minute).
    expect(claimed.worker_id).toBe(t.reel.worker!.id);
    expect(claimed.ms).toBeGreaterThanOrEqual(0);
    expect(claimed.ms).toBeLessThan(1000);
    expect(seenAfterMs).toBeLessThan(1000);
  });

  it('exposes Prometheus metrics: job states and events per worker', async () => {
    await waitFor(
      'the job to end',
      async () =>
        (await pg.db.query(`SELECT 1 FROM jobs WHERE video_id = 'n1' AND state IN ('failed', 'queued')`))
          .length > 0,
    );
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const worker = t.reel.worker!.id;
    expect(text).toMatch(/^reel_jobs\{state="queued"\} \d+$/m);
    expect(text).toMatch(/^reel_jobs\{state="running"\} 0$/m);
    expect(text).toContain(`reel_job_events_total{event="claimed",worker="${worker}"} 1`);
    expect(text).toMatch(/^# TYPE reel_transcode_seconds histogram$/m);
    expect(text).toMatch(/^reel_process_cpu_seconds_total/m);
  });
});

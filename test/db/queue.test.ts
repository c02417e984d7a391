import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimJob, collectableOrphans, heartbeat, recordAttemptPrefix } from '../../src/db/jobs.js';
import { migrate } from '../../src/db/migrate.js';
import { claimTask } from '../../src/db/tasks.js';
import { getVideo, insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { failJob, releaseJob, requeueWithoutAttempt, retryVideo } from '../../src/jobs/queue.js';
import { planVideo, publishTask } from '../../src/jobs/taskQueue.js';
import { keys } from '../../src/storage/keys.js';
import { pgliteDb, postgresDb, type TestDb } from '../helpers/db.js';

/** A planning commit with one chunk, leased to the planner. */
const oneChunk = {
  durationMs: 1000,
  width: 640,
  height: 360,
  renditions: [],
  audio: null,
  tasks: [
    {
      kind: 'video' as const,
      chunk: 0,
      rank: 0,
      spec: { plan: {}, demuxer: 'mov', durationMs: 1000 },
      claim: true,
    },
  ],
};

describe.each([
  ['PGlite', pgliteDb],
  ['Postgres', postgresDb],
])('lease queue on %s', (_name, open) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await open();
  });
  afterEach(async () => {
    await t.drop();
  });

  async function queueVideo(id: string, maxAttempts = 3) {
    await insertUploadingVideo(t.db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: 'signed' });
    expect(
      await queueUploadedVideo(t.db, { id, sourceKey: `sources/${id}/original`, sourceSize: 1, maxAttempts }),
    ).toBe(true);
  }
  const expireLeases = () => t.db.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 second'`);

  it('migrations are idempotent', async () => {
    expect(await migrate(t.db)).toEqual([]);
  });

  it('queues the video and its job in one step, once', async () => {
    await queueVideo('v1');
    expect((await getVideo(t.db, 'v1'))?.status).toBe('queued');
    expect(await queueUploadedVideo(t.db, { id: 'v1', sourceKey: 'x', sourceSize: 1, maxAttempts: 3 })).toBe(
      false,
    );
    expect(await t.db.query('SELECT * FROM jobs')).toHaveLength(1);
  });

  it('two claimers never hold the same job', async () => {
    for (let i = 0; i < 6; i++) await queueVideo(`v${i}`);
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => claimJob(t.db, `w${i}`, 30)));
    const got = claims.filter((c) => c !== null).map((c) => c!.videoId);
    expect(got.sort()).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    expect(await claimJob(t.db, 'late', 30)).toBeNull();
    expect((await getVideo(t.db, 'v0'))?.status).toBe('processing');
  });

  it('an expired lease is reclaimed with a higher token, and the stale holder can no longer commit', async () => {
    await queueVideo('v1');
    const first = (await claimJob(t.db, 'a', 30))!;
    expect(first.attempt).toBe(1);
    expect(first.reclaimed).toBe(false);
    expect(await claimJob(t.db, 'b', 30)).toBeNull(); // lease still alive

    await expireLeases();
    const second = (await claimJob(t.db, 'b', 30))!;
    expect(second.attempt).toBe(2);
    expect(second.reclaimed).toBe(true);

    expect(await heartbeat(t.db, first, 30)).toBe(false);
    expect(await planVideo(t.db, first, oneChunk, 30)).toBeNull();
    expect(await t.db.query('SELECT id FROM tasks')).toEqual([]);
    expect((await failJob(t.db, first, { message: 'x', code: 'X', permanent: true }, 0)).outcome).toBe(
      'stale',
    );
    expect((await getVideo(t.db, 'v1'))?.status).toBe('processing');

    expect(await heartbeat(t.db, second, 30)).toBe(true);
    expect(await planVideo(t.db, second, oneChunk, 30)).toHaveLength(1);
    const video = await getVideo(t.db, 'v1');
    expect(video?.status).toBe('processing');
    // The audit trail tells the story, with exactly one planning commit.
    const events = await t.db.query<{ event: string; attempt: number; worker_id: string }>(
      `SELECT event, attempt, worker_id FROM job_events WHERE video_id = 'v1' ORDER BY id`,
    );
    expect(events).toEqual([
      { event: 'claimed', attempt: 1, worker_id: 'a' },
      { event: 'reclaimed', attempt: 2, worker_id: 'b' },
      { event: 'planned', attempt: 2, worker_id: 'b' },
      { event: 'claimed', attempt: 1, worker_id: 'b' },
    ]);
  });

  it('a heartbeat keeps the lease; only the database clock decides expiry', async () => {
    await queueVideo('v1');
    const job = (await claimJob(t.db, 'a', 0.5))!;
    await new Promise((r) => setTimeout(r, 300));
    expect(await heartbeat(t.db, job, 0.5)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(await claimJob(t.db, 'b', 30)).toBeNull();
    await new Promise((r) => setTimeout(r, 400));
    expect((await claimJob(t.db, 'b', 30))?.attempt).toBe(2);
  });

  it('a full disk requeues after the given delay without spending an attempt; fencing still holds', async () => {
    await queueVideo('v1', 1);
    const a1 = (await claimJob(t.db, 'w', 30))!;
    expect([a1.attempt, a1.maxAttempts]).toEqual([1, 1]);
    const r = await requeueWithoutAttempt(t.db, a1, { message: 'the disk is full' }, 300);
    expect(r).toEqual({ outcome: 'retry', retryInSeconds: 300 });
    const [job] = await t.db.query<{ state: string; wait: number; max_attempts: number; last_error: string }>(
      `SELECT state, extract(epoch FROM run_after - now())::float AS wait, max_attempts, last_error FROM jobs`,
    );
    expect(job).toMatchObject({ state: 'queued', max_attempts: 2, last_error: 'the disk is full' });
    expect(job!.wait).toBeGreaterThan(290);
    expect((await getVideo(t.db, 'v1'))?.status).toBe('queued');
    expect(await claimJob(t.db, 'w', 30)).toBeNull(); // waiting for space

    await t.db.query('UPDATE jobs SET run_after = now()');
    const a2 = (await claimJob(t.db, 'w', 30))!;
    // The token still grows (a stale holder of attempt 1 can change nothing) ...
    expect(a2.attempt).toBe(2);
    expect(await heartbeat(t.db, a1, 30)).toBe(false);
    expect((await requeueWithoutAttempt(t.db, a1, { message: 'late' }, 1)).outcome).toBe('stale');
    // ... and the one real attempt the job had is still there: a genuine failure now is its last one.
    expect(a2.maxAttempts).toBe(2);
    const last = await failJob(t.db, a2, { message: 'broken', code: 'X', permanent: false }, 60);
    expect(last.outcome).toBe('failed');
    const events = await t.db.query<{ event: string; detail: string | null }>(
      `SELECT event, detail FROM job_events WHERE video_id = 'v1' ORDER BY id`,
    );
    expect(events.map((e) => e.event)).toEqual(['claimed', 'retry', 'claimed', 'failed']);
    expect(events[1]!.detail).toBe('not counted: the disk is full');
  });

  it('retries with exponential backoff, then fails with the reason', async () => {
    await queueVideo('v1', 2);
    const a1 = (await claimJob(t.db, 'w', 30))!;
    const r1 = await failJob(t.db, a1, { message: 'disk full', code: 'X', permanent: false }, 60);
    expect(r1).toEqual({ outcome: 'retry', retryInSeconds: 60 });
    expect(await claimJob(t.db, 'w', 30)).toBeNull(); // backing off
    await t.db.query('UPDATE jobs SET run_after = now()');
    const a2 = (await claimJob(t.db, 'w', 30))!;
    expect(a2.attempt).toBe(2);
    expect((await failJob(t.db, a2, { message: 'disk full', code: 'X', permanent: false }, 60)).outcome).toBe(
      'failed',
    );
    const video = await getVideo(t.db, 'v1');
    expect(video?.status).toBe('failed');
    expect(video?.error).toBe('disk full');

    expect((await retryVideo(t.db, 'v1', 2))?.status).toBe('queued');
    expect((await getVideo(t.db, 'v1'))?.status).toBe('queued');
    expect((await claimJob(t.db, 'w', 30))?.attempt).toBe(3);
  });

  it('a permanent error fails at once', async () => {
    await queueVideo('v1', 5);
    const a1 = (await claimJob(t.db, 'w', 30))!;
    expect((await failJob(t.db, a1, { message: 'not a video', code: 'X', permanent: true }, 0)).outcome).toBe(
      'failed',
    );
    expect(await claimJob(t.db, 'w', 30)).toBeNull();
  });

  it('a released job is claimable at once', async () => {
    await queueVideo('v1');
    const a1 = (await claimJob(t.db, 'w', 30))!;
    expect(await releaseJob(t.db, a1)).toBe(true);
    expect((await claimJob(t.db, 'other', 30))?.attempt).toBe(2);
  });

  it('deleting the video ends the lease', async () => {
    await queueVideo('v1');
    const a1 = (await claimJob(t.db, 'w', 30))!;
    await t.db.query(`DELETE FROM videos WHERE id = 'v1'`);
    expect(await heartbeat(t.db, a1, 30)).toBe(false);
  });

  it('prefixes of attempts that did not publish become collectable; the published one does not', async () => {
    await queueVideo('v1');
    const job = (await claimJob(t.db, 'w', 30))!;
    const [a1] = (await planVideo(t.db, job, oneChunk, 30))!;
    const p1 = keys.taskPrefix('v1', a1!.taskId, 1);
    await recordAttemptPrefix(t.db, p1);
    expect(await collectableOrphans(t.db, 0)).toEqual([]); // its lease is alive
    await t.db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second'`);
    const a2 = (await claimTask(t.db, 'w2', 30))!;
    expect(a2.attempt).toBe(2);
    const p2 = keys.taskPrefix('v1', a2.taskId, 2);
    await recordAttemptPrefix(t.db, p2);
    const file = {
      path: '360p/seg_00000.m4s',
      key: `${p2}360p/seg_00000.m4s`,
      rendition: '360p',
      seq: 0,
      duration: 1,
      bytes: 9,
    };
    expect(await publishTask(t.db, a2, { files: [file], complete: true, prefix: p2 })).toBe('ready');
    expect(await collectableOrphans(t.db, 0)).toEqual([p1]);
  });
});

import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errors, isReelError } from '../../src/core/errors.js';
import { claimJob } from '../../src/db/jobs.js';
import { getVideo, insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { JobLease, Lease } from '../../src/jobs/lease.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';

const log = pino({ level: 'silent' });
/** A short lease, renewed well within it. */
const LEASE = { leaseSeconds: 0.5, heartbeatSeconds: 0.1, log };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A planning commit with no tasks: the smallest fenced commit a job's lease makes. */
const planned = { durationMs: 1000, width: 640, height: 360, renditions: [], audio: null, tasks: [] };

describe('Lease', () => {
  let t: TestDb;
  const leases: Lease[] = [];
  // One database for the file (starting PGlite is the slow part); each test starts from one queued video.
  beforeAll(async () => {
    t = await pgliteDb();
  });
  afterAll(async () => {
    await t.drop();
  });
  beforeEach(async () => {
    await t.db.query('DELETE FROM job_events');
    await t.db.query('DELETE FROM jobs');
    await t.db.query('DELETE FROM videos');
    await insertUploadingVideo(t.db, { id: 'v1', title: 'v1', filename: 'v1.mp4', playbackPolicy: 'public' });
    await queueUploadedVideo(t.db, {
      id: 'v1',
      sourceKey: 'sources/v1/original',
      sourceSize: 1,
      maxAttempts: 3,
    });
  });
  afterEach(async () => {
    for (const l of leases.splice(0)) l.stopHeartbeat();
  });

  async function lease(workerId: string): Promise<JobLease> {
    const job = await claimJob(t.db, workerId, LEASE.leaseSeconds);
    expect(job).not.toBeNull();
    const l = new JobLease(t.db, job!, LEASE);
    leases.push(l);
    return l;
  }

  /** Takes the job over as another worker would once the lease expired. */
  async function steal(): Promise<JobLease> {
    await t.db.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 second'`);
    return lease('thief');
  }

  const jobRow = async () =>
    (
      await t.db.query<{ state: string; attempt: number; worker_id: string }>(
        'SELECT state, attempt, worker_id FROM jobs',
      )
    )[0];

  it('holds the fencing token of its claim', async () => {
    const l = await lease('w1');
    expect(l.token).toEqual({ id: l.job.jobId, attempt: 1 });
    expect(l.lost).toBe(false);
    expect(l.signal.aborted).toBe(false);
  });

  it('a heartbeat keeps the lease past its length', async () => {
    const l = (await lease('w1')).keep();
    await sleep(1200); // more than twice the lease
    expect(await claimJob(t.db, 'other', 30)).toBeNull();
    expect(l.lost).toBe(false);
    expect(l.signal.aborted).toBe(false);
    expect(await l.plan(planned, 30)).toEqual([]);
    expect((await jobRow())?.state).toBe('planned');
  });

  it('without a heartbeat the lease expires and is taken', async () => {
    await lease('w1');
    await sleep(700);
    expect((await claimJob(t.db, 'other', 30))?.attempt).toBe(2);
  });

  it('a lost heartbeat aborts the signal with REEL_LEASE_LOST', async () => {
    const l = (await lease('w1')).keep();
    const aborted = new Promise<unknown>((resolve) =>
      l.signal.addEventListener('abort', () => resolve(l.signal.reason), { once: true }),
    );
    await steal();
    const reason = await aborted;
    expect(isReelError(reason) && reason.code).toBe('REEL_LEASE_LOST');
    expect(l.lost).toBe(true);
  });

  it('fenced operations are no-ops after the loss', async () => {
    const l = (await lease('w1')).keep();
    const thief = await steal();
    await sleep(300);
    expect(l.lost).toBe(true);

    expect(await l.plan(planned, 30)).toBeNull();
    expect(await l.fail(errors.transcodeFailed('x'), 0)).toEqual({ outcome: 'stale' });
    expect(await l.requeue(errors.processingNoSpace('full'), 0)).toEqual({ outcome: 'stale' });
    expect(await l.release()).toBe(false);

    // The thief's attempt is untouched ...
    expect(await jobRow()).toEqual({ state: 'running', attempt: 2, worker_id: 'thief' });
    const video = await getVideo(t.db, 'v1');
    expect([video?.status, video?.progress, video?.output_prefix]).toEqual(['processing', 0, null]);
    const events = await t.db.query<{ event: string; attempt: number }>(
      'SELECT event, attempt FROM job_events ORDER BY id',
    );
    expect(events).toEqual([
      { event: 'claimed', attempt: 1 },
      { event: 'reclaimed', attempt: 2 },
    ]);
    // ... and still its own to commit.
    expect(await thief.plan(planned, 30)).toEqual([]);
  });

  it('a fenced write that finds the lease gone marks it lost, without waiting for a heartbeat', async () => {
    const l = await lease('w1');
    await steal();
    expect(await l.plan(planned, 30)).toBeNull();
    expect(l.lost).toBe(true);
    expect(l.signal.aborted).toBe(true);
    expect(await l.fail(errors.transcodeFailed('x'), 0)).toEqual({ outcome: 'stale' });
  });

  it('giving up aborts the signal but keeps the lease, which can then be handed back', async () => {
    const l = (await lease('w1')).keep();
    l.abort(new Error('worker stopping'));
    expect(l.signal.aborted).toBe(true);
    expect(l.lost).toBe(false);
    l.stopHeartbeat();
    expect(await l.release()).toBe(true);
    expect((await jobRow())?.state).toBe('queued');
    expect((await getVideo(t.db, 'v1'))?.status).toBe('queued');
  });

  it('is not tied to a job: it renews and fences whatever it is given', async () => {
    let held = true;
    let renewals = 0;
    const l = new Lease(
      { id: 7, attempt: 1 },
      {
        renew: async () => {
          renewals++;
          return held;
        },
        heartbeatSeconds: 0.05,
        log,
      },
    ).keep();
    leases.push(l);
    await sleep(200);
    expect(renewals).toBeGreaterThan(1);
    expect(
      await l.fenced(
        async () => 'written',
        'stale',
        (r) => r === 'stale',
      ),
    ).toBe('written');
    held = false;
    await sleep(150);
    expect(l.lost).toBe(true);
    let ran = false;
    expect(
      await l.fenced(
        async () => {
          ran = true;
          return 'written';
        },
        'stale',
        (r) => r === 'stale',
      ),
    ).toBe('stale');
    expect(ran).toBe(false);
  });
});

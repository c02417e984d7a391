/**
 * The chunked pipeline's lease queue, on PGlite and on Postgres, without ffmpeg: planning into tasks, the
 * fair claim order, fencing per task, playable and ready decided in the commits, failure cancelling the
 * rest, retry re-running only what failed, delete cancelling every task.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import type { RenditionInfo } from '../../src/core/types.js';
import {
  type ClaimedJob,
  claimJob,
  claimOrphan,
  markOrphanCollected,
  recordAttemptPrefix,
} from '../../src/db/jobs.js';
import { claimTask, heartbeatTask, type NewTask } from '../../src/db/tasks.js';
import { deleteVideoRow, getVideo, insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { retryVideo } from '../../src/jobs/queue.js';
import { failTask, planVideo, publishTask } from '../../src/jobs/taskQueue.js';
import { pgliteDb, postgresDb, type TestDb } from '../helpers/db.js';

const rung = (name: string, height: number): RenditionInfo => ({
  name,
  width: Math.round((height * 16) / 9 / 2) * 2,
  height,
  bandwidth: 9_000_000,
  averageBandwidth: 4_000_000,
  codecs: '',
  frameRate: 30,
});

function tasksFor(chunks: number): NewTask[] {
  const spec = { plan: {}, demuxer: 'mov', durationMs: 60_000 };
  return [
    ...Array.from({ length: chunks }, (_, i) => ({
      kind: 'video' as const,
      chunk: i,
      rank: i === 0 ? 0 : 1,
      spec: { ...spec, chunk: { index: i } },
      claim: i === 0,
    })),
    { kind: 'audio' as const, chunk: 0, rank: 0, spec, claim: true },
  ];
}

const seg = (rendition: string, seq: number, duration = 4, bytes = 100_000) => ({
  path: `${rendition}/seg_${String(seq).padStart(5, '0')}.m4s`,
  key: `videos/x/${rendition}/${seq}`,
  rendition,
  seq,
  duration,
  bytes,
});

describe.each([
  ['PGlite', pgliteDb],
  ['Postgres', postgresDb],
])('task queue on %s', (_name, open) => {
  let t: TestDb;
  beforeEach(async () => {
    t = await open();
  });
  afterEach(async () => {
    await t.drop();
  });

  async function planned(
    id: string,
    chunks = 3,
  ): Promise<{ job: ClaimedJob; first: Awaited<ReturnType<typeof planVideo>> }> {
    await insertUploadingVideo(t.db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: 'public' });
    await queueUploadedVideo(t.db, {
      id,
      sourceKey: `sources/${id}/original`,
      sourceSize: 1,
      maxAttempts: 2,
    });
    const job = (await claimJob(t.db, 'planner', 30))!;
    expect(job.videoId).toBe(id);
    const first = await planVideo(
      t.db,
      job,
      {
        durationMs: 60_000,
        width: 1280,
        height: 720,
        renditions: [rung('720p', 720), rung('360p', 360)],
        audio: { name: 'audio', codecs: 'mp4a.40.2', bandwidth: 140_000, channels: 2 },
        tasks: tasksFor(chunks),
      },
      30,
    );
    return { job, first };
  }

  it('planning leases the first chunk and the audio to the planner and queues the rest', async () => {
    const { job, first } = await planned('v1');
    expect(first?.map((c) => [c.kind, c.chunk, c.attempt, c.workerId])).toEqual([
      ['video', 0, 1, 'planner'],
      ['audio', 0, 1, 'planner'],
    ]);
    // A second commit by the same (now finished) planning attempt changes nothing.
    expect(
      await planVideo(
        t.db,
        job,
        { durationMs: 1, width: 2, height: 2, renditions: [], audio: null, tasks: [] },
        30,
      ),
    ).toBeNull();
    const v = await getVideo(t.db, 'v1');
    expect(v?.status).toBe('processing');
    expect(v?.output_prefix).toBeNull();
    const next = await claimTask(t.db, 'w2', 30);
    expect([next?.kind, next?.chunk]).toEqual(['video', 1]);
  });

  it('claims fairly: every waiting first chunk before any later chunk, whatever the age', async () => {
    const { first } = await planned('long', 4);
    // The planner of the long video dies: its first chunk and audio expire.
    await t.db.query(
      `UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE video_id = 'long' AND state = 'running'`,
    );
    await planned('short', 2);
    await t.db.query(
      `UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE video_id = 'short' AND state = 'running'`,
    );
    expect(first).toHaveLength(2);
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await claimTask(t.db, 'w', 30);
      if (c) order.push(`${c.videoId}:${c.kind}${c.chunk}`);
    }
    // Rank 0 (first chunks and audio) of both videos, oldest first, then the later chunks.
    expect(order.slice(0, 4).sort()).toEqual(['long:audio0', 'long:video0', 'short:audio0', 'short:video0']);
    expect(order.slice(4)).toEqual(['long:video1', 'long:video2', 'long:video3', 'short:video1']);
  });

  it('a stale attempt publishes nothing; playable once every rendition has its first segment; ready at the last', async () => {
    const { first } = await planned('v2', 2);
    const [chunk0, audio] = first!;
    // Chunk 0's lease expires and another worker takes it over: the first attempt is now stale.
    await t.db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
      chunk0!.taskId,
    ]);
    const taken = (await claimTask(t.db, 'w2', 30))!;
    expect([taken.taskId, taken.attempt]).toEqual([chunk0!.taskId, 2]);
    expect(await heartbeatTask(t.db, chunk0!, 30)).toBe(false);
    expect(await publishTask(t.db, chunk0!, { files: [seg('720p', 0)], complete: true, prefix: 'p/' })).toBe(
      'stale',
    );
    expect((await t.db.query('SELECT * FROM outputs WHERE video_id = $1', ['v2'])).length).toBe(0);

    const codecs = { '720p': 'avc1.64001f', '360p': 'avc1.64001e' };
    expect(
      await publishTask(t.db, taken, {
        files: [seg('720p', 0, 2), seg('360p', 0, 2)],
        complete: true,
        prefix: 'p/',
        codecs,
      }),
    ).toBe('published');
    let v = await getVideo(t.db, 'v2');
    expect(v?.playable_at ?? null).toBeNull();
    expect(v?.renditions.map((r) => r.codecs)).toEqual(['avc1.64001f,mp4a.40.2', 'avc1.64001e,mp4a.40.2']);
    // The audio's first segment makes it playable while it goes on.
    expect(
      await publishTask(t.db, audio!, { files: [seg('audio', 0, 4, 60_000)], complete: false, prefix: 'a/' }),
    ).toBe('published');
    v = await getVideo(t.db, 'v2');
    expect(v?.playable_at).not.toBeNull();
    expect(v?.status).toBe('processing');
    expect(
      await publishTask(t.db, audio!, { files: [seg('audio', 1, 4, 60_000)], complete: true, prefix: 'a/' }),
    ).toBe('published');
    const last = (await claimTask(t.db, 'w3', 30))!;
    expect([last.kind, last.chunk]).toEqual(['video', 1]);
    expect(
      await publishTask(t.db, last, {
        files: [seg('720p', 1, 4, 400_000), seg('360p', 1, 4, 100_000)],
        complete: true,
        prefix: 'q/',
      }),
    ).toBe('ready');
    v = await getVideo(t.db, 'v2');
    expect(v?.status).toBe('ready');
    expect(v?.progress).toBe(1);
    // Measured: the peak 720p window (seq 1, 400 kB in 4 s = 800 kbit/s) plus the audio's peak.
    expect(v?.renditions[0]?.bandwidth).toBe(800_000 + 120_000);
    const events = await t.db.query<{ event: string; task_id: string | null }>(
      `SELECT event, task_id FROM job_events WHERE video_id = 'v2' AND event IN ('published', 'ready', 'stale') ORDER BY id`,
    );
    expect(events.map((e) => e.event)).toEqual(['published', 'published', 'published', 'ready']);
    expect((await t.db.query(`SELECT state FROM jobs WHERE video_id = 'v2'`))[0]).toEqual({ state: 'done' });
  });

  it('the orphan collector and a late publication never both win an attempt prefix', async () => {
    const { first } = await planned('v5', 2);
    const [chunk0, audio] = first!;
    const [p0, pa] = [`videos/v5/t${chunk0!.taskId}-a1/`, `videos/v5/t${audio!.taskId}-a1/`];
    await recordAttemptPrefix(t.db, p0);
    await recordAttemptPrefix(t.db, pa);
    // The collector takes chunk 0's prefix (its lease had lapsed unseen): that attempt publishes nothing.
    expect(await claimOrphan(t.db, p0, 60)).toBe(true);
    expect(await publishTask(t.db, chunk0!, { files: [seg('720p', 0, 2)], complete: true, prefix: p0 })).toBe(
      'stale',
    );
    expect(await t.db.query('SELECT path FROM outputs WHERE video_id = $1', ['v5'])).toEqual([]);
    // The audio published first: the collector leaves its prefix alone, and its later commits go on.
    const audioSeg = (seq: number) => ({ ...seg('audio', seq), key: `${pa}audio/${seq}` });
    expect(await publishTask(t.db, audio!, { files: [audioSeg(0)], complete: false, prefix: pa })).toBe(
      'published',
    );
    expect(await claimOrphan(t.db, pa, 60)).toBe(false);
    expect(await publishTask(t.db, audio!, { files: [audioSeg(1)], complete: false, prefix: pa })).toBe(
      'published',
    );
    // A collector that died holding a prefix is taken over once its grace is past.
    expect(await claimOrphan(t.db, p0, 60)).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(await claimOrphan(t.db, p0, 0)).toBe(true);
    // Once collected, it stays collected: an attempt that wakes up later still publishes nothing.
    await markOrphanCollected(t.db, p0);
    expect(await claimOrphan(t.db, p0, 0)).toBe(false);
    expect(await publishTask(t.db, chunk0!, { files: [seg('720p', 0, 2)], complete: true, prefix: p0 })).toBe(
      'stale',
    );
  });

  it('a finish task is claimed only after every other task; the video is ready at its commit, or without it when it fails', async () => {
    for (const id of ['f1', 'f2']) {
      await insertUploadingVideo(t.db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: 'public' });
      await queueUploadedVideo(t.db, {
        id,
        sourceKey: `sources/${id}/original`,
        sourceSize: 1,
        maxAttempts: 1,
      });
      const job = (await claimJob(t.db, 'planner', 30))!;
      const spec = { plan: {}, demuxer: 'mov', durationMs: 4000 };
      const [chunk0] = (await planVideo(
        t.db,
        job,
        {
          durationMs: 4000,
          width: 640,
          height: 360,
          renditions: [rung('360p', 360)],
          audio: null,
          tasks: [
            { kind: 'video', chunk: 0, rank: 0, spec: { ...spec, chunk: { index: 0 } }, claim: true },
            { kind: 'finish', chunk: 0, rank: 1, spec: { ...spec, finish: { mp4: true } }, claim: false },
          ],
        },
        30,
      ))!;
      // Nothing to claim while the chunk runs: the finish task waits for it.
      expect(await claimTask(t.db, 'w', 30)).toBeNull();
      expect(
        await publishTask(t.db, chunk0!, { files: [seg('360p', 0, 4)], complete: true, prefix: `c-${id}/` }),
      ).toBe('published');
      expect((await getVideo(t.db, id))?.status).toBe('processing');
      const finish = (await claimTask(t.db, 'w', 30))!;
      expect([finish.videoId, finish.kind]).toEqual([id, 'finish']);
      if (id === 'f1') {
        const dl = { name: '360p', width: 640, height: 360, size: 1234 };
        const file = {
          path: 'download/360p.mp4',
          key: 'k',
          rendition: null,
          seq: null,
          duration: null,
          bytes: 1234,
        };
        expect(
          await publishTask(t.db, finish, { files: [file], complete: true, prefix: 'f/', downloads: [dl] }),
        ).toBe('ready');
        expect((await getVideo(t.db, id))?.downloads).toEqual([dl]);
      } else {
        expect(
          await failTask(t.db, finish, { message: 'remux failed', code: 'X', permanent: true }, 1),
        ).toEqual({
          outcome: 'failed',
        });
        const v = await getVideo(t.db, id);
        expect([v?.status, v?.downloads]).toEqual(['ready', null]);
      }
    }
  });

  it('a task that fails for good fails the video and cancels the rest; retry re-runs only what did not finish', async () => {
    const { first } = await planned('v3', 3);
    const [chunk0, audio] = first!;
    await publishTask(t.db, chunk0!, {
      files: [seg('720p', 0, 2), seg('360p', 0, 2)],
      complete: true,
      prefix: 'p/',
    });
    const c1 = (await claimTask(t.db, 'w2', 30))!;
    expect(await failTask(t.db, c1, errors.truncatedSource('cut short'), 0)).toEqual({ outcome: 'failed' });
    let v = await getVideo(t.db, 'v3');
    expect(v?.status).toBe('failed');
    // The audio, still running elsewhere, finds its lease gone; the queued chunk is cancelled.
    expect(await heartbeatTask(t.db, audio!, 30)).toBe(false);
    expect(await claimTask(t.db, 'w3', 30)).toBeNull();

    expect((await retryVideo(t.db, 'v3', 2))?.status).toBe('queued');
    const states = await t.db.query<{ kind: string; chunk: number; state: string }>(
      `SELECT kind, chunk, state FROM tasks WHERE video_id = 'v3' ORDER BY kind DESC, chunk`,
    );
    expect(states.map((s) => `${s.kind}${s.chunk}:${s.state}`)).toEqual([
      'video0:done',
      'video1:queued',
      'video2:queued',
      'audio0:queued',
    ]);
    // The job is not planned again: no new planning claim.
    expect(await claimJob(t.db, 'w4', 30)).toBeNull();
    const again = (await claimTask(t.db, 'w4', 30))!;
    expect([again.kind, again.chunk]).toEqual(['audio', 0]);
    v = await getVideo(t.db, 'v3');
    expect(v?.status).toBe('processing');
  });

  it('delete cancels every task of the video: leases are lost and nothing is left to claim', async () => {
    const { first } = await planned('v4', 3);
    expect(await deleteVideoRow(t.db, 'v4')).toBe(true);
    for (const c of first!) expect(await heartbeatTask(t.db, c, 30)).toBe(false);
    expect(await claimTask(t.db, 'w', 30)).toBeNull();
    expect(
      await publishTask(t.db, first![0]!, { files: [seg('720p', 0)], complete: true, prefix: 'p/' }),
    ).toBe('stale');
  });
});

/**
 * PATCH mp4 on a planned video, at the database (PGlite, no ffmpeg): `mp4: true` puts mp4 into a finish
 * task not yet run, or queues a new one (once) after one that ran; `mp4: false` removes the published
 * downloads (rows, `downloads`) and takes mp4 out of finish tasks not yet run; a video not planned yet
 * gets no task (its planning reads the flag).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimJob } from '../../src/db/jobs.js';
import type { NewTask } from '../../src/db/tasks.js';
import { insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { applyMp4, updateVideo } from '../../src/db/videoUpdate.js';
import { planVideo } from '../../src/jobs/taskQueue.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';

const spec = { plan: { fps: 30 }, demuxer: 'mov', durationMs: 12_000 };
const TASKS: NewTask[] = [
  { kind: 'video', chunk: 0, rank: 0, spec: { ...spec, chunk: { index: 0 } }, claim: true },
  {
    kind: 'finish',
    chunk: 0,
    rank: 1,
    spec: { ...spec, finish: { mp4: false, subtitleStreams: [{ index: 3, codec: 'mov_text' }] } },
    claim: false,
  },
];

describe('PATCH mp4 and the finish task', () => {
  let t: TestDb;
  // One database for the file (opening one costs seconds); every test has its own video.
  beforeAll(async () => {
    t = await pgliteDb();
  });
  afterAll(async () => {
    await t?.drop();
  });

  const finishTasks = (id: string) =>
    t.db.query<{ chunk: number; state: string; spec: { plan: unknown; finish: unknown } }>(
      `SELECT chunk, state, spec FROM tasks WHERE video_id = $1 AND kind = 'finish' ORDER BY chunk`,
      [id],
    );
  const setMp4 = (id: string, mp4: boolean) =>
    t.db.transaction(async (tx) => {
      const row = (await updateVideo(tx, id, { mp4 }))!;
      return applyMp4(tx, row, mp4, 3);
    });

  async function video(id: string, planned: boolean) {
    await insertUploadingVideo(t.db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: 'public' });
    await queueUploadedVideo(t.db, {
      id,
      sourceKey: `sources/${id}/original`,
      sourceSize: 1,
      maxAttempts: 3,
    });
    if (!planned) return;
    const job = (await claimJob(t.db, 'planner', 30))!;
    await planVideo(
      t.db,
      job,
      { durationMs: 12_000, width: 640, height: 360, renditions: [], audio: null, tasks: TASKS },
      30,
    );
  }

  it('true: into the queued finish task, once; after it ran, a new one that only makes downloads', async () => {
    await video('v1', true);
    expect(await setMp4('v1', true)).toEqual([]);
    expect(await setMp4('v1', true)).toEqual([]);
    let finish = await finishTasks('v1');
    expect(finish.map((f) => [f.chunk, f.state, f.spec.finish])).toEqual([
      [0, 'queued', { mp4: true, subtitleStreams: [{ index: 3, codec: 'mov_text' }] }],
    ]);

    // It ran and published the downloads; false removes them (rows, `downloads`), keys returned.
    await t.db.query(`UPDATE tasks SET state = 'done' WHERE video_id = 'v1' AND kind = 'finish'`);
    await t.db.query(
      `INSERT INTO outputs (video_id, path, key, rendition, seq, duration, bytes, task_id)
       VALUES ('v1', 'download/360p.mp4', 'videos/v1/t9-a1/download/360p.mp4', NULL, NULL, NULL, 10, 9),
              ('v1', '360p/init.mp4', 'videos/v1/t1-a1/360p/init.mp4', '360p', NULL, NULL, 5, 1)`,
    );
    await t.db.query(
      `UPDATE videos SET downloads = '[{"name":"360p","width":640,"height":360,"size":10}]' WHERE id = 'v1'`,
    );
    expect(await setMp4('v1', false)).toEqual(['videos/v1/t9-a1/download/360p.mp4']);
    const rows = await t.db.query<{ path: string }>(`SELECT path FROM outputs WHERE video_id = 'v1'`);
    expect(rows.map((r) => r.path)).toEqual(['360p/init.mp4']);
    const [v] = await t.db.query<{ downloads: unknown; mp4: boolean }>(
      `SELECT downloads, mp4 FROM videos WHERE id = 'v1'`,
    );
    expect(v).toEqual({ downloads: null, mp4: false });

    // true again: the done task stays done; a new one makes the downloads only (the captions are made).
    await setMp4('v1', true);
    await setMp4('v1', true);
    finish = await finishTasks('v1');
    expect(finish.map((f) => [f.chunk, f.state, f.spec.finish])).toEqual([
      [0, 'done', { mp4: true, subtitleStreams: [{ index: 3, codec: 'mov_text' }] }],
      [1, 'queued', { mp4: true, subtitleStreams: [] }],
    ]);
    expect(finish[1]!.spec.plan).toEqual(spec.plan);
  });

  it('false takes mp4 out of a finish task not yet run', async () => {
    await video('v2', true);
    await setMp4('v2', true);
    await setMp4('v2', false);
    expect((await finishTasks('v2')).map((f) => f.spec.finish)).toEqual([
      { mp4: false, subtitleStreams: [{ index: 3, codec: 'mov_text' }] },
    ]);
  });

  it('a video not planned yet gets no task: its planning reads the flag', async () => {
    await video('v3', false);
    await setMp4('v3', true);
    expect(await t.db.query(`SELECT id FROM tasks WHERE video_id = 'v3'`)).toEqual([]);
    const [v] = await t.db.query<{ mp4: boolean }>(`SELECT mp4 FROM videos WHERE id = 'v3'`);
    expect(v?.mp4).toBe(true);
  });
});

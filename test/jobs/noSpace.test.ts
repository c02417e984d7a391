/**
 * A full disk on the worker (ENOSPC) is retried later without spending an attempt. The failure is injected
 * through the worker's existing seams, everything else is real (PGlite, the fs store, ffprobe, ffmpeg):
 * the object store it is given refuses to store outputs with an ENOSPC error, as a full disk does; and
 * FFMPEG_PATH points at a script that fails the way ffmpeg does when its output disk is full.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { ObjectStore } from '../../src/core/ports.js';
import { getVideo, insertUploadingVideo, queueUploadedVideo } from '../../src/db/videos.js';
import { isNoSpaceError } from '../../src/jobs/attempt.js';
import { Worker } from '../../src/jobs/worker.js';
import { createFsStore } from '../../src/storage/fs.js';
import { makeClip } from '../fixtures/generate.js';
import { pgliteDb, type TestDb } from '../helpers/db.js';
import { waitFor } from '../helpers/reel.js';

const enospc = () =>
  Object.assign(new Error("ENOSPC: no space left on device, write '/data/objects/.tmp/x'"), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
  });

describe('a worker whose disk is full', () => {
  let t: TestDb | undefined;
  let worker: Worker | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await worker?.stop(0);
    await t?.drop();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  async function setUp(flags: Record<string, string>, fail: { putFile: boolean }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-nospace-'));
    dirs.push(dir);
    t = await pgliteDb();
    const fsStore = createFsStore(path.join(dir, 'objects'));
    const store: ObjectStore = {
      ...fsStore,
      putFile: (key, file, opts) =>
        fail.putFile ? Promise.reject(enospc()) : fsStore.putFile(key, file, opts),
    };
    const config = loadConfig(
      {
        'data-dir': dir,
        'lease-seconds': '3',
        'poll-ms': '50',
        'x264-preset': 'ultrafast',
        ladder: '240',
        'max-attempts': '3',
        'retry-base-seconds': '0',
        'no-space-retry-seconds': '120',
        ...flags,
      },
      {},
    );
    const clip = await makeClip('tiny', { width: 160, height: 120, seconds: 2 });
    await store.put('sources/v1/original', fs.readFileSync(clip));
    await insertUploadingVideo(t.db, { id: 'v1', title: 'v1', filename: 'v1.mp4', playbackPolicy: 'public' });
    await queueUploadedVideo(t.db, {
      id: 'v1',
      sourceKey: 'sources/v1/original',
      sourceSize: 1,
      maxAttempts: 3,
    });
    worker = new Worker({ db: t.db, store, config, log: pino({ level: 'silent' }) });
    worker.start();
  }

  /** The video's (only) chunk task. */
  const taskRow = async () =>
    (
      await t!.db.query<{
        state: string;
        attempt: number;
        max_attempts: number;
        wait: number;
        last_error: string;
      }>(
        `SELECT state, attempt, max_attempts, extract(epoch FROM run_after - now())::float AS wait, last_error
           FROM tasks WHERE kind = 'video' AND chunk = 0`,
      )
    )[0]!;

  async function expectWaitingForSpace() {
    const job = await waitFor('the task to be requeued', async () => {
      const j = await taskRow();
      return j?.state === 'queued' && j.attempt === 1 ? j : undefined;
    });
    // Not an attempt spent: one more allowed; and a long back-off (REEL_NO_SPACE_RETRY_SECONDS), not 0 s.
    expect(job.max_attempts).toBe(4);
    expect(job.wait).toBeGreaterThan(100);
    expect(job.last_error).toMatch(
      /disk is full \(no space left on device\); processing will resume by itself/,
    );
    const video = await getVideo(t!.db, 'v1');
    expect(video?.status).toBe('processing');
    expect(video?.error).toBeNull();
  }

  it('storing the outputs fails with ENOSPC: requeued for later, the attempt not counted; then it finishes', async () => {
    const fail = { putFile: true };
    await setUp({}, fail);
    await expectWaitingForSpace();
    // Still waiting a while later: no attempts are burnt in a loop.
    await new Promise((r) => setTimeout(r, 500));
    expect((await taskRow()).attempt).toBe(1);

    fail.putFile = false; // space was freed
    await t!.db.query('UPDATE tasks SET run_after = now()');
    await waitFor('the video to be ready', async () => {
      const v = await getVideo(t!.db, 'v1');
      return v?.status === 'ready' ? v : undefined;
    });
    expect(await taskRow()).toMatchObject({ state: 'done', attempt: 2, max_attempts: 4 });
    const keys = await t!.db.query<{ key: string }>(
      `SELECT o.key FROM outputs o JOIN tasks k ON k.id = o.task_id WHERE k.kind = 'video'`,
    );
    expect(keys.length).toBeGreaterThan(0);
    for (const { key } of keys) expect(key).toMatch(/^videos\/v1\/t\d+-a2\//);
  });

  it('ffmpeg\'s "No space left on device" is recognised the same way', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-fake-ffmpeg-'));
    dirs.push(dir);
    const fake = path.join(dir, 'ffmpeg');
    fs.writeFileSync(
      fake,
      '#!/bin/sh\necho "[hls @ 0x5555] Failed to open file \'seg_00000.m4s\'" >&2\n' +
        'echo "av_interleaved_write_frame(): No space left on device" >&2\n' +
        'echo "Error writing trailer: No space left on device" >&2\necho "Conversion failed!" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    await setUp({ ffmpeg: fake }, { putFile: false });
    await expectWaitingForSpace();
  });
});

describe('isNoSpaceError (pure)', () => {
  it('recognises ENOSPC errors and ffmpeg lines, nothing else', () => {
    expect(isNoSpaceError(enospc())).toBeDefined();
    const ffmpeg = Object.assign(new Error('Transcoding failed: Conversion failed!'), {
      cause: { stderr: ['x', 'Error writing trailer: No space left on device', 'Conversion failed!'] },
    });
    expect(isNoSpaceError(ffmpeg)).toBeDefined();
    expect(isNoSpaceError(new Error('Invalid data found when processing input'))).toBeUndefined();
    expect(isNoSpaceError(Object.assign(new Error('x'), { code: 'EACCES' }))).toBeUndefined();
    expect(isNoSpaceError(undefined)).toBeUndefined();
  });
});

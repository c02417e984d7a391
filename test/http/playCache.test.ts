/**
 * The play role answers a ready video from memory (http/playCache.ts, http/mediaCache.ts) and stays right:
 * a delete, a policy change or a new caption made through ANOTHER process reaches the play process within
 * a second (Postgres: LISTEN/NOTIFY; embedded: in-process). Run on both databases; on Postgres the API
 * and the play role are two Reels on one database, as in a scaled deployment.
 */
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { newVideoId } from '../../src/storage/keys.js';
import {
  type ChunkedLadder,
  makeChunkedLadder,
  playbackToken,
  publishReadyVideo,
} from '../helpers/chunked.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';

let ladder: ChunkedLadder;
beforeAll(async () => {
  ladder = await makeChunkedLadder('play-cache', { width: 320, height: 180, seconds: 6 }, [180]);
});
afterAll(() => ladder?.cleanup());

/** Counts the queries a Reel's database answers. */
function countQueries(t: TestReel): { readonly n: number } {
  const counter = { n: 0 };
  const db = t.reel.db as { query: (...a: unknown[]) => Promise<unknown> };
  const query = db.query.bind(db);
  db.query = (...a: unknown[]) => {
    counter.n++;
    return query(...a);
  };
  return counter;
}

/** Every segment of the ladder's 180p timeline, ready. */
const publishReady = (t: TestReel, id: string, policy: 'public' | 'signed') =>
  publishReadyVideo(
    t,
    ladder,
    id,
    policy,
    [...ladder.files.values()].filter((f) => f.rendition === '180p' && f.seq !== null).map((f) => f.seq!),
  );

describe.each(['embedded', 'postgres'] as const)('the play cache (%s)', (backend) => {
  let pgDb: TestDb | undefined;
  let api: TestReel; // the API process (upload role)
  let play: TestReel; // the play process
  let queries: { readonly n: number };

  beforeAll(async () => {
    if (backend === 'postgres') {
      pgDb = await postgresDb();
      const flags = { 'database-url': pgDb.url! };
      api = await startTestReel({ ...flags, roles: 'upload' });
      // One store for both (the data directory's objects), as S3 would be.
      play = await startTestReel({ ...flags, roles: 'play' }, api.dataDir);
    } else {
      api = await startTestReel({ roles: 'upload,play' });
      play = api;
    }
    queries = countQueries(play);
  });
  afterAll(async () => {
    if (play !== api) await play?.close();
    await api?.close();
    await pgDb?.drop();
  });

  const get = (id: string, access: string, file: string, headers: Record<string, string> = {}) =>
    fetch(`${play.url}/play/${id}/${access}/${file}`, { headers });

  /** Every request a viewer makes, once. */
  async function watch(id: string, access: string): Promise<number[]> {
    const statuses: number[] = [];
    for (const f of ['master.m3u8', '180p/index.m3u8', '180p/init.mp4', '180p/seg_00000.m4s', 'poster.jpg']) {
      const res = await get(id, access, f);
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    return statuses;
  }

  /** Polls until `fn` holds; returns the milliseconds it took. */
  async function within(ms: number, what: string, fn: () => Promise<boolean>): Promise<number> {
    const start = Date.now();
    await waitFor(what, async () => (await fn()) || undefined, ms, 20);
    return Date.now() - start;
  }

  it('a ready video costs no database query per request once it has been read', async () => {
    const id = newVideoId();
    await publishReady(api, id, 'public');
    expect(await watch(id, 'public')).toEqual([200, 200, 200, 200, 200]);
    // On Postgres the cache serves once its LISTEN connection is up: wait for a round that asks nothing.
    await within(5000, 'a round without queries', async () => {
      const before = queries.n;
      await watch(id, 'public');
      return queries.n === before;
    });
    const before = queries.n;
    for (let i = 0; i < 20; i++) expect(await watch(id, 'public')).toEqual([200, 200, 200, 200, 200]);
    expect(queries.n - before).toBe(0);

    // A signed video: the token is verified once, and the playback's requests ask the database nothing.
    const sid = newVideoId();
    await publishReady(api, sid, 'signed');
    const token = await playbackToken(api, sid);
    await watch(sid, token);
    const master = await (await get(sid, token, 'master.m3u8')).text();
    const session = /^\.\.\/([^/]+)\/180p\/index\.m3u8$/m.exec(master)?.[1];
    expect(session).toBeTruthy();
    await (await get(sid, session!, '180p/index.m3u8')).text();
    const q = queries.n;
    for (let i = 0; i < 10; i++) {
      expect((await get(sid, session!, '180p/seg_00000.m4s')).status).toBe(200);
      expect((await get(sid, session!, '180p/index.m3u8')).status).toBe(200);
    }
    expect(queries.n - q).toBe(0);
  });

  it('a delete through another process: 404 on the play process within a second', async () => {
    const id = newVideoId();
    await publishReady(api, id, 'public');
    await watch(id, 'public');
    await watch(id, 'public');
    expect((await api.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    const ms = await within(1000, 'the deleted video refused', async () => {
      const res = await get(id, 'public', '180p/seg_00000.m4s');
      await res.arrayBuffer();
      return res.status === 404;
    });
    if (backend === 'embedded') expect(ms).toBeLessThan(50); // in-process: at once
    for (const s of await watch(id, 'public')) expect(s).toBe(404);
  });

  it('a policy change and a new caption through another process are served within a second', async () => {
    const id = newVideoId();
    await publishReady(api, id, 'public');
    await watch(id, 'public');
    await watch(id, 'public');
    const caption = await api.api(`/v1/videos/${id}/captions?language=en`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/vtt' },
      body: 'WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n',
    });
    expect(caption.status).toBe(201);
    await within(1000, 'the master lists the caption', async () =>
      (await (await get(id, 'public', 'master.m3u8')).text()).includes('TYPE=SUBTITLES'),
    );
    const patch = await api.api(`/v1/videos/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ playbackPolicy: 'signed' }),
    });
    expect(patch.status).toBe(200);
    await within(1000, 'the public URL refused', async () => {
      const res = await get(id, 'public', '180p/seg_00000.m4s');
      const body = (await res.json().catch(() => ({}))) as { code?: string };
      return res.status === 401 && body.code === errors.missingToken.code;
    });
  });

  it('a file published after the video was read is served (outputs announce their video)', async () => {
    const id = newVideoId();
    await publishReady(api, id, 'public');
    await watch(id, 'public');
    expect((await get(id, 'public', 'download/180p.mp4')).status).toBe(404);
    // As the finish task would: the object and its row, then mp4 on (a row of outputs alone announces too).
    const key = `videos/${id}/chunked/download/180p.mp4`;
    await api.reel.store.put(key, Buffer.from('not really an mp4'));
    await api.reel.db.query(
      `INSERT INTO outputs (video_id, path, key, bytes) VALUES ($1, 'download/180p.mp4', $2, 17)`,
      [id, key],
    );
    await api.reel.db.query('UPDATE videos SET mp4 = true WHERE id = $1', [id]);
    await within(1000, 'the download served', async () => {
      const res = await get(id, 'public', 'download/180p.mp4');
      return res.status === 200 && (await res.text()) === 'not really an mp4';
    });
  });

  it('ETag, Last-Modified, 304, ranges and If-Range on media and playlists kept in memory', async () => {
    const id = newVideoId();
    await publishReady(api, id, 'public');
    const bytes = await readFile(path.join(ladder.dir, '180p/seg_00000.m4s'));
    await watch(id, 'public');
    const first = await get(id, 'public', '180p/seg_00000.m4s');
    expect(Buffer.from(await first.arrayBuffer()).equals(bytes)).toBe(true);
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    expect(etag).toMatch(/^"[\w-]+-\d+"$/);
    expect(new Date(lastModified).getTime()).toBeGreaterThan(Date.now() - 120_000);

    const cond = await get(id, 'public', '180p/seg_00000.m4s', { 'If-None-Match': `"other", ${etag}` });
    expect(cond.status).toBe(304);
    expect(await cond.text()).toBe('');
    expect(
      (await get(id, 'public', '180p/seg_00000.m4s', { 'If-Modified-Since': lastModified })).status,
    ).toBe(304);
    // If-None-Match decides over If-Modified-Since (RFC 9110): another ETag → the whole file.
    const other = await get(id, 'public', '180p/seg_00000.m4s', {
      'If-None-Match': '"other"',
      'If-Modified-Since': lastModified,
    });
    expect(other.status).toBe(200);
    await other.arrayBuffer();

    const range = await get(id, 'public', '180p/seg_00000.m4s', { Range: 'bytes=100-199' });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
    const stale = await get(id, 'public', '180p/seg_00000.m4s', { Range: 'bytes=0-9', 'If-Range': '"old"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(bytes.length);
    const bad = await get(id, 'public', '180p/seg_00000.m4s', { Range: `bytes=${bytes.length + 10}-` });
    expect(bad.status).toBe(416);

    const pl = await get(id, 'public', '180p/index.m3u8');
    const plTag = pl.headers.get('etag')!;
    expect(plTag).toBeTruthy();
    await pl.text();
    expect((await get(id, 'public', '180p/index.m3u8', { 'If-None-Match': plTag })).status).toBe(304);
  });

  // Postgres only (a LISTEN connection of its own): registered for that backend alone, never skipped.
  if (backend === 'postgres')
    it('a listening connection that hears nothing (its own pings lost) is given up: answers come from the database', async () => {
      const id = newVideoId();
      await publishReady(api, id, 'public');
      await watch(id, 'public');
      await watch(id, 'public');
      // The play process's pings go out through its pool: drop them, as a dead connection would lose them.
      const db = play.reel.db as { query: (sql: string, params?: unknown[]) => Promise<unknown> };
      const query = db.query.bind(db);
      db.query = (sql, params) =>
        String(params?.[1] ?? '').startsWith('ping:') ? Promise.resolve([]) : query(sql, params);
      try {
        await waitFor(
          'the play cache to give up its connection',
          async () => readFile(play.logFile, 'utf8').then((l) => l.includes('did not hear its own ping')),
          15_000,
          200,
        );
        // Given up: the next request reads the database.
        const before = queries.n;
        await watch(id, 'public');
        expect(queries.n).toBeGreaterThan(before);
      } finally {
        db.query = query;
      }
    });

  // Postgres only (a LISTEN connection of its own): registered for that backend alone, never skipped.
  if (backend === 'postgres')
    it('while its LISTEN connection is down the play process reads the database; a delete still counts', async () => {
      const id = newVideoId();
      await publishReady(api, id, 'public');
      await watch(id, 'public');
      await watch(id, 'public');
      const admin = new pg.Client({ connectionString: pgDb!.url });
      await admin.connect();
      try {
        // Cut every LISTEN connection of the play cache (the announcements are lost while it is down).
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND query = 'LISTEN reel_play'`,
        );
        await admin.query('DELETE FROM videos WHERE id = $1', [id]);
      } finally {
        await admin.end();
      }
      await within(1000, 'the deleted video refused', async () => {
        const res = await get(id, 'public', '180p/seg_00000.m4s');
        await res.arrayBuffer();
        return res.status === 404;
      });
    });
});

describe('hostile requests against the caches', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
  });
  afterAll(() => t?.close());

  it('an error is never kept: no X-Accel-Expires, no long Cache-Control, no validators on a failed answer', async () => {
    const id = newVideoId();
    await publishReady(t, id, 'public');
    // The object of a segment is gone from the store (a failing disk, an S3 hiccup): its row says it exists.
    await t.reel.store.delete(`videos/${id}/chunked/180p/seg_00000.m4s`);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${t.url}/play/${id}/public/180p/seg_00000.m4s`, {
        headers: { 'X-Reel-Edge': '1' },
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      await res.arrayBuffer();
      expect(res.headers.get('x-accel-expires')).toBeNull();
      expect(res.headers.get('cache-control') ?? '').not.toMatch(/max-age=[1-9]/);
      expect(res.headers.get('etag')).toBeNull();
      expect(res.headers.get('last-modified')).toBeNull();
    }
    // A file that is there: the edge may keep it (a public copy: revalidated every 5 s).
    const ok = await fetch(`${t.url}/play/${id}/public/180p/init.mp4`, { headers: { 'X-Reel-Edge': '1' } });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    expect(ok.headers.get('x-accel-expires')).toBe('5');
  });

  it('a token kept for one video; a made-up file of a kept video is 404', async () => {
    const a = newVideoId();
    const b = newVideoId();
    await publishReady(t, a, 'signed');
    await publishReady(t, b, 'signed');
    const token = await playbackToken(t, a);
    for (let i = 0; i < 2; i++) {
      expect((await fetch(`${t.url}/play/${a}/${token}/180p/seg_00000.m4s`)).status).toBe(200);
      const other = await fetch(`${t.url}/play/${b}/${token}/180p/seg_00000.m4s`);
      expect(other.status).toBe(403);
      expect(((await other.json()) as { code: string }).code).toBe(errors.tokenForOtherVideo.code);
    }
    // A tampered copy of a kept token is not the kept token.
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await fetch(`${t.url}/play/${a}/${tampered}/180p/seg_00000.m4s`)).status).toBe(403);
    for (const f of ['180p/seg_00099.m4s', '720p/seg_00000.m4s', 'storyboard/7.jpg', '180p/../../x']) {
      const res = await fetch(`${t.url}/play/${a}/${token}/${f}`);
      expect(res.status, f).toBe(404);
    }
    // A random id is read from the database each time and stays 404 (nothing is kept for it).
    const nope = crypto.randomBytes(8).toString('hex');
    expect((await fetch(`${t.url}/play/${nope}/public/master.m3u8`)).status).toBe(404);
  });
});

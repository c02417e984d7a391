/**
 * Reel on S3 storage (the s3rver emulator, started here): tus uploads streamed into multipart uploads,
 * direct-to-storage multipart uploads and their rules, playback by proxy and by presigned redirect, and
 * the roles as separate processes (upload+play, two workers) over Postgres.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Store } from '../../src/storage/s3.js';
import { assembleUpload } from '../../src/uploads/assemble.js';
import { makeClip } from '../fixtures/generate.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { parseMasterPlaylist, probeRendition } from '../helpers/hls.js';
import { type ReelProcess, spawnReel } from '../helpers/process.js';
import { type TestReel, waitFor } from '../helpers/reel.js';
import { startS3, startS3Reel, type TestS3 } from '../helpers/s3.js';
import { tusFetch, tusHeaders } from '../helpers/tus.js';
import { tusUpload } from '../helpers/upload.js';

const MiB = 1024 * 1024;

const readStream = async (r: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
};

/** Bytes where every 4 KiB block differs, so that misplaced bytes show. */
function pattern(bytes: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= data.length; i += 4096) data.writeUInt32BE(i % 2 ** 32, i);
  return data;
}

describe('direct multipart uploads and tus on S3 (one process)', () => {
  let s3: TestS3;
  let t: TestReel;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ s3, t, close } = await startS3Reel({ ladder: '360,240', 'playback-delivery': 'redirect' }));
  });
  afterAll(() => close());

  const json = (body: unknown) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const settle = (id: string) =>
    waitFor(
      `video ${id}`,
      async () => {
        const v = await (await t.api(`/v1/videos/${id}`)).json();
        return v.status === 'ready' || v.status === 'failed' ? v : undefined;
      },
      120_000,
    );

  /** Starts a direct upload and PUTs the given parts straight to storage; returns what the client knows. */
  async function direct(data: Buffer) {
    const init = await t.api(
      '/v1/uploads/multipart',
      json({ size: data.length, filename: 'd.mp4', playbackPolicy: 'public' }),
    );
    expect(init.status).toBe(201);
    const { videoId, partSize, partCount } = await init.json();
    const putPart = async (n: number, body = data.subarray((n - 1) * partSize, n * partSize)) => {
      const { parts } = await (
        await t.api(`/v1/uploads/multipart/${videoId}/parts`, json({ partNumbers: [n] }))
      ).json();
      const res = await fetch(parts[0].url, {
        method: 'PUT',
        body: Buffer.from(body),
      });
      expect(res.status).toBe(200);
      return { etag: res.headers.get('etag')!, size: body.length };
    };
    const report = (n: number, etag: string, size: number) =>
      t.api(`/v1/uploads/multipart/${videoId}/parts/${n}`, { ...json({ etag, size }), method: 'PUT' });
    const complete = (parts: { partNumber: number; etag: string }[]) =>
      t.api(`/v1/uploads/multipart/${videoId}/complete`, json({ parts }));
    return { videoId, partSize, partCount, putPart, report, complete };
  }

  it('a direct upload goes straight to storage, resumes from the parts stored, and becomes a playable video', async () => {
    const clip = fs.readFileSync(await makeClip('s3-direct', { width: 1280, height: 720, seconds: 20 }));
    expect(clip.length).toBeGreaterThan(8 * MiB); // at least two parts
    const d = await direct(clip);
    expect(d.partSize).toBe(8 * MiB);
    expect(d.partCount).toBe(Math.ceil(clip.length / (8 * MiB)));
    const p1 = await d.putPart(1);
    expect((await d.report(1, p1.etag, p1.size)).status).toBe(204);
    // An interrupted client asks what is stored, and carries on from there.
    const listed = await (await t.api(`/v1/uploads/multipart/${d.videoId}/parts`)).json();
    expect(listed.parts).toEqual([{ partNumber: 1, etag: p1.etag, size: p1.size }]);
    const parts = [{ partNumber: 1, etag: p1.etag }];
    for (let n = 2; n <= d.partCount; n++) {
      const p = await d.putPart(n);
      expect((await d.report(n, p.etag, p.size)).status).toBe(204);
      parts.push({ partNumber: n, etag: p.etag });
    }
    const done = await d.complete(parts);
    expect(done.status).toBe(200);
    expect((await done.json()).status).toBe('queued');
    const v = await settle(d.videoId);
    expect(v.status).toBe('ready');
    // Playback: playlists from Reel, media by a redirect to presigned storage URLs.
    const { url } = await (await t.api(`/v1/videos/${d.videoId}/playback`)).json();
    const master = parseMasterPlaylist(await (await fetch(url)).text());
    const variant = new URL(master.variants[0]!.uri, url).href;
    const seg = await fetch(new URL('seg_00000.m4s', variant), { redirect: 'manual' });
    expect(seg.status).toBe(302);
    expect(seg.headers.get('location')).toMatch(
      new RegExp(`^${s3.endpoint}/${s3.bucket}/.*X-Amz-Signature=`),
    );
    const probe = await probeRendition(variant);
    expect([probe.width, probe.height]).toEqual([640, 360]);
    expect(Math.abs(probe.durationSec - 20)).toBeLessThan(0.25);
  });

  it('wrong input gets a clear 4xx and changes nothing', async () => {
    const data = Buffer.alloc(12 * MiB, 5);
    const d = await direct(data);
    const p1 = await d.putPart(1);
    const p2 = await d.putPart(2);
    const expect4xx = async (res: Response, status: number, re: RegExp) => {
      expect(res.status).toBe(status);
      const body = await res.json();
      expect(body.message).toMatch(re);
      expect(body.code).toMatch(/^REEL_/);
    };
    // A part smaller than S3's 5 MiB minimum (not the last), reported by the client.
    await expect4xx(await d.report(1, p1.etag, 1000), 400, /at least 5242880 bytes/);
    await expect4xx(await d.report(1, 'not-an-etag', p1.size), 400, /not an ETag/);
    await expect4xx(await d.report(3, p1.etag, p1.size), 400, /no part 3/);
    expect((await d.report(1, p1.etag, p1.size)).status).toBe(204);
    // Part 2 uploaded but never reported; then a missing ETag; then a wrong one.
    await expect4xx(await d.complete([{ partNumber: 1, etag: p1.etag }]), 400, /Part 2 is missing/);
    await expect4xx(
      await d.complete([
        { partNumber: 1, etag: p1.etag },
        { partNumber: 2, etag: p2.etag },
      ]),
      400,
      /Part 2 was not uploaded/,
    );
    expect((await d.report(2, p2.etag, p2.size)).status).toBe(204);
    await expect4xx(
      await d.complete([
        { partNumber: 1, etag: p1.etag },
        { partNumber: 2, etag: '"0123456789abcdef0123456789abcdef"' },
      ]),
      400,
      /ETag of part 2 does not match/,
    );
    // Nothing changed: still uploading, nothing in storage.
    expect((await (await t.api(`/v1/videos/${d.videoId}`)).json()).status).toBe('uploading');
    // Another key cannot see, complete or abort it.
    const other = await (await t.api('/v1/keys', json({ name: 'other' }))).json();
    const asOther = { Authorization: `Bearer ${other.key}` };
    expect(
      (await fetch(`${t.url}/v1/uploads/multipart/${d.videoId}/parts`, { headers: asOther })).status,
    ).toBe(404);
    expect(
      (await fetch(`${t.url}/v1/uploads/multipart/${d.videoId}`, { method: 'DELETE', headers: asOther }))
        .status,
    ).toBe(404);
    // Completed once; completing twice is a conflict.
    const ok = [
      { partNumber: 1, etag: p1.etag },
      { partNumber: 2, etag: p2.etag },
    ];
    expect((await d.complete(ok)).status).toBe(200);
    await expect4xx(await d.complete(ok), 409, /already complete/);

    // Aborted: completing afterwards is refused.
    const e = await direct(Buffer.alloc(6 * MiB, 1));
    const q1 = await e.putPart(1);
    expect((await e.report(1, q1.etag, q1.size)).status).toBe(204);
    expect((await t.api(`/v1/uploads/multipart/${e.videoId}`, { method: 'DELETE' })).status).toBe(204);
    await expect4xx(await e.complete([{ partNumber: 1, etag: q1.etag }]), 409, /aborted/);
    expect((await t.api(`/v1/videos/${e.videoId}`)).status).toBe(404);

    // Too large for this server: refused before any byte is stored.
    await expect4xx(await t.api('/v1/uploads/multipart', json({ size: 1e15 })), 413, /at most/);
  });

  it('a direct upload that stores more than it declared is refused at completion: 400, nothing queued, nothing left', async () => {
    // Declared: 1 KB, one part.
    const d = await direct(Buffer.alloc(1024, 1));
    expect(d.partCount).toBe(1);
    const { parts } = await (
      await t.api(`/v1/uploads/multipart/${d.videoId}/parts`, json({ partNumbers: [1] }))
    ).json();
    // The part URL signs the part's length: S3 refuses a PUT of any other length (s3rver does not check).
    expect(new URL(parts[0].url).searchParams.get('X-Amz-SignedHeaders')).toMatch(/(^|;)content-length(;|$)/);
    // Stored: 6 MiB, reported as the 1 KB declared.
    const p1 = await d.putPart(1, pattern(6 * MiB));
    expect((await d.report(1, p1.etag, 1024)).status).toBe(204);
    const refused = await d.complete([{ partNumber: 1, etag: p1.etag }]);
    expect(refused.status).toBe(400);
    const body = await refused.json();
    expect(body.code).toBe('REEL_UPLOAD_SIZE_MISMATCH');
    expect(body.message).toMatch(/holds 6291456 bytes .* started with size 1024: the upload was aborted/);
    // Nothing queued, nothing left in storage, and the upload is over.
    expect((await t.api(`/v1/videos/${d.videoId}`)).status).toBe(404);
    const jobs = await t.reel.db.query('SELECT 1 FROM jobs WHERE video_id = $1', [d.videoId]);
    expect(jobs).toEqual([]);
    expect(await t.reel.store.stat(`sources/${d.videoId}/original`)).toBeNull();
    expect(await t.reel.store.list(`sources/${d.videoId}/`)).toEqual([]);
    const again = await d.complete([{ partNumber: 1, etag: p1.etag }]);
    expect(again.status).toBe(409);
    expect((await again.json()).message).toMatch(/aborted/);

    // Fewer bytes than declared (a part cut short, reported whole) are refused the same way.
    const e = await direct(Buffer.alloc(3000, 2));
    const q1 = await e.putPart(1, Buffer.alloc(100, 2));
    expect((await e.report(1, q1.etag, 3000)).status).toBe(204);
    const short = await e.complete([{ partNumber: 1, etag: q1.etag }]);
    expect(short.status).toBe(400);
    expect((await short.json()).message).toMatch(/holds 100 bytes .* size 3000/);
    expect((await t.api(`/v1/videos/${e.videoId}`)).status).toBe(404);
    expect(await t.reel.store.stat(`sources/${e.videoId}/original`)).toBeNull();
  });

  it('recovery does not queue a joined direct upload of the wrong size either', async () => {
    // The process died between storage joining the parts and the size check: recovery finds the object.
    const d = await direct(Buffer.alloc(2048, 1));
    const p1 = await d.putPart(1, pattern(6 * MiB));
    expect((await d.report(1, p1.etag, 2048)).status).toBe(204);
    const store = t.reel.store as S3Store;
    const row = (
      await t.reel.db.query<{ s3_upload_id: string }>(
        'SELECT s3_upload_id FROM multipart_uploads WHERE video_id = $1',
        [d.videoId],
      )
    )[0]!;
    await store.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: store.bucket,
        Key: store.fullKey(`sources/${d.videoId}/original`),
        UploadId: row.s3_upload_id,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.etag }] },
      }),
    );
    await t.reel.db.query(`UPDATE multipart_uploads SET state = 'completed' WHERE video_id = $1`, [
      d.videoId,
    ]);
    await t.reel.uploads!.recover();
    expect((await t.api(`/v1/videos/${d.videoId}`)).status).toBe(404);
    expect(await t.reel.store.stat(`sources/${d.videoId}/original`)).toBeNull();
  });

  it('a tus upload cut off mid-request resumes on S3 from the bytes that arrived, byte for byte', async () => {
    const data = pattern(20 * MiB);
    const created = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(data.length),
    });
    const location = created.headers.get('location')!;
    const id = location.split('/').pop()!;
    // Send 13 MiB of the 20 and then drop the connection.
    const abort = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 13 * MiB) {
          await new Promise((r) => setTimeout(r, 500));
          abort.abort();
          return;
        }
        controller.enqueue(data.subarray(sent, sent + MiB));
        sent += MiB;
      },
    });
    await fetch(location, {
      method: 'PATCH',
      headers: tusHeaders.patch(0, t.auth),
      body,
      signal: abort.signal,
      duplex: 'half',
    } as RequestInit).catch(() => undefined);
    const offset = await waitFor(
      'the server to keep what arrived',
      async () => {
        const head = await tusFetch.head(location, t.auth);
        const o = Number(head.headers.get('upload-offset'));
        return o > 0 ? o : undefined;
      },
      10_000,
    );
    expect(offset).toBeGreaterThan(8 * MiB); // at least one whole part, and the tail after it
    expect(offset).toBeLessThanOrEqual(13 * MiB);
    const progress: number[] = [];
    await tusUpload(t, data, {}, { uploadUrl: location, onProgress: (n) => progress.push(n) });
    expect(Math.min(...progress)).toBeGreaterThanOrEqual(offset);
    // The worker joins the parts first thing (and then finds no video in these bytes).
    expect((await settle(id)).error).toMatch(/not a video/);
    const stored = await readStream(await t.reel.store.get(`sources/${id}/original`));
    expect(stored.equals(data)).toBe(true);
  });

  it('tus streams into S3 part by part across several PATCH requests, and the video plays', async () => {
    const clip = fs.readFileSync(await makeClip('s3-tus', { width: 640, height: 360, seconds: 20 }));
    // 3 MiB chunks: each PATCH leaves a tail smaller than a part, kept in the bucket until the next one.
    const id = await tusUpload(t, clip, { playback_policy: 'public' }, { chunkSize: 3 * MiB });
    const v = await settle(id);
    expect(v.status).toBe('ready');
    // Nothing of the upload was staged on the server's disk.
    expect(fs.readdirSync(path.join(t.dataDir, 'uploads'))).toEqual([]);
    const { url } = await (await t.api(`/v1/videos/${id}/playback`)).json();
    const master = parseMasterPlaylist(await (await fetch(url)).text());
    const probe = await probeRendition(new URL(master.variants[0]!.uri, url).href);
    expect(probe.height).toBe(360);
  });
});

describe('tus on S3: PATCHes of known length streamed part by part (upload role alone)', () => {
  let t: TestReel;
  let close: () => Promise<void>;
  beforeAll(async () => {
    // No worker here, so nothing joins the parts behind the test's back; 5 MiB parts keep it small.
    ({ t, close } = await startS3Reel({ roles: 'upload,play', 'tus-part-mib': '5' }));
  });
  afterAll(() => close());
  const create = async (size: number) => {
    const res = await t.api('/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(size),
    });
    expect(res.status).toBe(201);
    const location = res.headers.get('location')!;
    return { location, id: location.split('/').pop()! };
  };
  const patch = (location: string, offset: number, body: Buffer) =>
    tusFetch.patch(location, offset, new Uint8Array(body), t.auth);
  const offsetOf = async (location: string) =>
    Number((await tusFetch.head(location, t.auth)).headers.get('upload-offset'));
  const multipart = async (id: string) => ({
    row: (
      await t.reel.db.query<{ state: string; tail_size: number }>(
        'SELECT state, tail_size FROM multipart_uploads WHERE video_id = $1',
        [id],
      )
    )[0]!,
    parts: (
      await t.reel.db.query<{ size: string }>(
        'SELECT size FROM multipart_parts WHERE video_id = $1 ORDER BY part_number',
        [id],
      )
    ).map((p) => Number(p.size) / MiB),
  });
  const source = async (id: string) => readStream(await t.reel.store.get(`sources/${id}/original`));

  it('answers the final PATCH once every part is stored; the worker’s join gives back the same bytes', async () => {
    const data = pattern(23 * MiB);
    const { location, id } = await create(data.length);

    const first = await patch(location, 0, data.subarray(0, 12 * MiB));
    expect(first.status).toBe(204);
    expect(Number(first.headers.get('upload-offset'))).toBe(12 * MiB);
    // Two 5 MiB parts streamed; the 2 MiB after them are too few for a part and wait as the tail.
    expect(await multipart(id)).toEqual({ row: { state: 'open', tail_size: 2 * MiB }, parts: [5, 5] });

    const last = await patch(location, 12 * MiB, data.subarray(12 * MiB));
    expect(last.status).toBe(204);
    expect(Number(last.headers.get('upload-offset'))).toBe(23 * MiB);
    expect(await multipart(id)).toEqual({ row: { state: 'stored', tail_size: 0 }, parts: [5, 5, 5, 5, 3] });
    // Queued for processing, but not yet joined into one object: the worker does that first thing.
    expect((await (await t.api(`/v1/videos/${id}`)).json()).status).toBe('queued');
    expect(await t.reel.store.stat(`sources/${id}/original`)).toBeNull();
    expect(await offsetOf(location)).toBe(23 * MiB);
    // A finished upload is a queued video: a tus termination may not take its parts away.
    const terminate = await tusFetch.delete(location, t.auth);
    expect(terminate.status).toBe(400);
    expect((await multipart(id)).row.state).toBe('stored');

    const store = t.reel.store as S3Store;
    await assembleUpload(t.reel.db, store, id);
    expect((await source(id)).equals(data)).toBe(true);
    expect((await multipart(id)).row.state).toBe('completed');
    // Joining again — a second worker, or a retry after dying between the join and its record — is harmless.
    await t.reel.db.query(`UPDATE multipart_uploads SET state = 'stored' WHERE video_id = $1`, [id]);
    await assembleUpload(t.reel.db, store, id);
    expect((await multipart(id)).row.state).toBe('completed');
    expect((await source(id)).equals(data)).toBe(true);
  });

  it('a PATCH cut off mid-part keeps the whole parts before it, and the upload resumes byte for byte', async () => {
    const data = pattern(23 * MiB);
    const { location, id } = await create(data.length);
    // Announce all 23 MiB, send 13, then drop the connection: parts 1 and 2 are whole, part 3 is not.
    await new Promise<void>((resolve) => {
      const req = http.request(location, {
        method: 'PATCH',
        headers: tusHeaders.patch(0, { ...t.auth, 'Content-Length': String(data.length) }),
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(data.subarray(0, 13 * MiB), () => setTimeout(() => req.destroy(), 500));
    });
    const offset = await waitFor(
      'the interrupted PATCH to be settled',
      async () => ((await multipart(id)).parts.length === 2 ? offsetOf(location) : undefined),
      10_000,
    );
    expect(offset).toBe(10 * MiB);

    const rest = await patch(location, offset, data.subarray(offset));
    expect(rest.status).toBe(204);
    expect(Number(rest.headers.get('upload-offset'))).toBe(data.length);
    await assembleUpload(t.reel.db, t.reel.store as S3Store, id);
    expect((await source(id)).equals(data)).toBe(true);
  });
});

describe('roles as separate processes over Postgres and S3', () => {
  let s3: TestS3;
  let pg: TestDb;
  const procs: ReelProcess[] = [];
  const API_KEY = 'reel_test_s3_cluster_key_0123456789';
  let url = '';
  beforeAll(async () => {
    s3 = await startS3();
    pg = await postgresDb();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-s3-cluster-'));
    const env = {
      ...s3.env,
      REEL_S3_PREFIX: 'cluster',
      DATABASE_URL: pg.url!,
      REEL_API_KEY: API_KEY,
      REEL_X264_PRESET: 'superfast',
      REEL_LADDER: '360,240',
      HOST: '127.0.0.1',
    };
    const http = spawnReel(['serve', '--roles', 'upload,play'], {
      ...env,
      PORT: '0',
      REEL_DATA_DIR: path.join(dataDir, 'http'),
    });
    procs.push(http);
    url = (await http.waitForOutput(/URL:\s+(\S+)/))[1]!;
    for (const w of ['w1', 'w2']) {
      const p = spawnReel(['worker'], { ...env, REEL_DATA_DIR: path.join(dataDir, w) });
      procs.push(p);
      await p.waitForOutput(/worker started/);
    }
  });
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await pg.drop();
    await s3.close();
  });

  it('direct upload (reel upload --direct) and tus upload both become ready and playable', async () => {
    const file = await makeClip('s3-cluster', { width: 640, height: 360, seconds: 10 });
    const cli = spawnReel(['upload', '--direct', file, '--public', '--server', url], {
      REEL_API_KEY: API_KEY,
      REEL_UPLOAD_STATE: path.join(os.tmpdir(), `reel-state-${Date.now()}`),
    });
    expect(await cli.exited, cli.output()).toBe(0);
    const directId = cli.output().trim().split('\n').pop()!;
    const tusId = await tusUpload({ url, apiKey: API_KEY }, fs.readFileSync(file), {
      playback_policy: 'public',
    });
    for (const id of [directId, tusId]) {
      const v = await waitFor(
        `video ${id}`,
        async () => {
          const r = await (
            await fetch(`${url}/v1/videos/${id}`, { headers: { Authorization: `Bearer ${API_KEY}` } })
          ).json();
          return r.status === 'ready' || r.status === 'failed' ? r : undefined;
        },
        120_000,
      );
      expect(v.status, v.error).toBe('ready');
      const play = `${url}/play/${id}/public/master.m3u8`;
      const master = parseMasterPlaylist(await (await fetch(play)).text());
      const probe = await probeRendition(new URL(master.variants[0]!.uri, play).href);
      expect([probe.width, probe.height]).toEqual([640, 360]);
    }
    // The workers shared the work, through Postgres only.
    const workers = await pg.db.query<{ worker_id: string }>(
      `SELECT DISTINCT worker_id FROM job_events WHERE event = 'published'`,
    );
    expect(workers.length).toBeGreaterThanOrEqual(1);
  });
});

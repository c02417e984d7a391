/**
 * Import from a URL through the whole service (POST /v1/videos {url} → worker fetch → pipeline → playback),
 * against a local HTTP server. One Reel (one PGlite start keeps the file lean): first with
 * REEL_ALLOW_PRIVATE_NETWORKS on, as a private deployment would set it, so that it imports from the local
 * server; then with the setting off (the default; the route and the worker read it on each request), when
 * it refuses every private destination, at the POST and again in the worker.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { createApiKey } from '../../src/db/apiKeys.js';
import { insertImportedVideo, recordImportedSource } from '../../src/db/imports.js';
import { claimJob, insertJob, notifyJobQueued } from '../../src/db/jobs.js';
import type { VideoView } from '../../src/db/videos.js';
import { filenameOf } from '../../src/http/imports.js';
import { keys } from '../../src/storage/keys.js';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';

/** REEL_MAX_UPLOAD_BYTES of the importing Reel: above the clip, below the "big" files. */
const MAX_BYTES = 256 * 1024;

let clip: Buffer;
let origin: string;
let server: http.Server;
let t: TestReel;
/** The paths the local server was asked for, in order. */
const requested: string[] = [];

/** A video host with the answers an import meets: a file, redirects, errors, a slow and a huge file. */
function startOrigin(): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requested.push(url.pathname);
    const hop = /^\/hop\/(\d+)\/(.+)$/.exec(url.pathname);
    if (hop) {
      const n = Number(hop[1]);
      res.writeHead(302, { location: n > 0 ? `/hop/${n - 1}/${hop[2]}` : `/files/${hop[2]}` }).end();
      return;
    }
    switch (url.pathname) {
      case '/files/holiday.mp4':
      case '/files/takeover.mp4':
      case '/files/clip.mp4':
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.length }).end(clip);
        return;
      case '/files/notes.txt':
        res
          .writeHead(200, { 'content-type': 'text/plain' })
          .end('these are not the frames you are looking for\n');
        return;
      case '/files/big.mp4': // says how big it is: refused before any byte is stored
        res.writeHead(200, { 'content-length': MAX_BYTES * 4 });
        res.end(Buffer.alloc(MAX_BYTES * 4));
        return;
      case '/files/big-chunked.mp4': {
        // says nothing of its size: counted as it comes, and stopped past the limit
        res.writeHead(200, { 'content-type': 'video/mp4' });
        let sent = 0;
        const more = () => {
          while (sent < MAX_BYTES * 8 && !res.destroyed) {
            sent += 16 * 1024;
            if (!res.write(Buffer.alloc(16 * 1024))) return void res.once('drain', more);
          }
          res.end();
        };
        more();
        return;
      }
      case '/files/slow.mp4': {
        // headers at once, then a trickle that would take minutes
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': 200_000 });
        const timer = setInterval(() => res.write(Buffer.alloc(100)), 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/files/down.mp4':
        res.writeHead(503).end('maintenance');
        return;
      default:
        res.writeHead(404).end('no such file');
    }
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

const settle = (t: TestReel, id: string) =>
  waitFor(
    `video ${id} to settle`,
    async () => {
      const v = (await (await t.api(`/v1/videos/${id}`)).json()) as VideoView;
      return v.status === 'ready' || v.status === 'failed' ? v : undefined;
    },
    90_000,
    100,
  );
const attempts = async (t: TestReel, id: string) =>
  (await t.reel.db.query<{ attempt: number }>('SELECT attempt FROM jobs WHERE video_id = $1', [id]))[0]!
    .attempt;
const post = (t: TestReel, body: unknown, headers: Record<string, string> = {}, query = '') =>
  t.api(`/v1/videos${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  clip = fs.readFileSync(await makeClip('import-clip', { width: 320, height: 180, seconds: 2 }));
  expect(clip.length).toBeLessThan(MAX_BYTES);
  server = await startOrigin();
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await startTestReel({
    'allow-private-networks': 'true',
    'max-upload-bytes': String(MAX_BYTES),
    'import-timeout-seconds': '2',
    'max-attempts': '2',
  });
});
afterAll(async () => {
  await t?.close();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('import from a URL, private networks allowed (a private deployment)', () => {
  let writeKey: string;
  beforeAll(async () => {
    writeKey = (await createApiKey(t.reel.db, 'importer', ['write'])).secret;
  });

  it('a write key imports a video through redirects: 201 queued, then ready, and it plays', async () => {
    const res = await post(
      t,
      { url: `${origin}/hop/2/holiday.mp4`, playbackPolicy: 'public', externalId: 'crm-4411' },
      { Authorization: `Bearer ${writeKey}` },
      '?id=chosen-by-client',
    );
    expect(res.status).toBe(201);
    const created = (await res.json()) as VideoView;
    expect(created.status).toBe('queued');
    expect(created.id).not.toBe('chosen-by-client');
    expect(created.title).toBe('holiday');
    expect(created.playbackPolicy).toBe('public');
    expect(created.externalId).toBe('crm-4411');

    const v = await settle(t, created.id);
    expect(v.error).toBeNull();
    expect(v.status).toBe('ready');
    expect(v.width).toBe(320);
    // The stored source is the file the URL served, byte for byte.
    const stored: Buffer[] = [];
    const [row] = await t.reel.db.query<{ source_key: string; source_size: number }>(
      'SELECT source_key, source_size FROM videos WHERE id = $1',
      [v.id],
    );
    expect(Number(row!.source_size)).toBe(clip.length);
    for await (const c of await t.reel.store.get(row!.source_key)) stored.push(c as Buffer);
    const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
    expect(sha(Buffer.concat(stored))).toBe(sha(clip));
    const { url } = (await (await t.api(`/v1/videos/${v.id}/playback`)).json()) as { url: string };
    const master = await fetch(url);
    expect(master.status).toBe(200);
    expect(await master.text()).toContain('#EXT-X-STREAM-INF');
  });

  it('a URL that answers 404 fails at once with the status in the error; a retry fetches again', async () => {
    const { id } = (await (await post(t, { url: `${origin}/files/gone.mp4` })).json()) as VideoView;
    const v = await settle(t, id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/answered 404 Not Found/);
    expect(await attempts(t, id)).toBe(1);
    // A retry fetches the URL again (it may serve the file by now; here it still does not).
    const asked = () => requested.filter((p) => p === '/files/gone.mp4').length;
    expect(asked()).toBe(1);
    expect((await t.api(`/v1/videos/${id}/retry`, { method: 'POST' })).status).toBe(202);
    await waitFor('the retry to fetch again', async () => asked() === 2, 10_000, 50);
    expect((await settle(t, id)).error).toMatch(/answered 404 Not Found/);
  });

  it('a server error is tried again, then fails with the status', async () => {
    const before = requested.filter((p) => p === '/files/down.mp4').length;
    const { id } = (await (await post(t, { url: `${origin}/files/down.mp4` })).json()) as VideoView;
    const v = await settle(t, id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/answered 503 Service Unavailable/);
    expect(await attempts(t, id)).toBe(2);
    expect(requested.filter((p) => p === '/files/down.mp4').length - before).toBe(2);
  });

  it('a file larger than REEL_MAX_UPLOAD_BYTES fails, announced or not, and nothing of it is kept', async () => {
    for (const name of ['big.mp4', 'big-chunked.mp4']) {
      const { id } = (await (await post(t, { url: `${origin}/files/${name}` })).json()) as VideoView;
      const v = await settle(t, id);
      expect(v.status, name).toBe('failed');
      expect(v.error, name).toMatch(/too large/);
      expect(v.error, name).toContain(`at most ${MAX_BYTES} bytes`);
      expect(await attempts(t, id), name).toBe(1);
      expect(await t.reel.store.list(keys.sourcePrefix(id)), name).toEqual([]);
    }
  });

  it('a file that is not a video fails with the reason; a retry replaces the stored source', async () => {
    const { id } = (await (await post(t, { url: `${origin}/files/notes.txt` })).json()) as VideoView;
    const v = await settle(t, id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/not a video/);
    // A retry fetches again; the new source replaces the first, which is not kept.
    const sources = () => t.reel.store.list(keys.sourcePrefix(id));
    expect(await sources()).toEqual([keys.importedSource(id, 1)]);
    expect((await t.api(`/v1/videos/${id}/retry`, { method: 'POST' })).status).toBe(202);
    await waitFor('the retry to settle', async () => (await attempts(t, id)) === 2, 10_000, 50);
    expect((await settle(t, id)).error).toMatch(/not a video/);
    expect(await sources()).toEqual([keys.importedSource(id, 2)]);
  });

  it('more than 5 redirects fail', async () => {
    const { id } = (await (await post(t, { url: `${origin}/hop/6/holiday.mp4` })).json()) as VideoView;
    const v = await settle(t, id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/redirected more than 5 times/);
    expect(await attempts(t, id)).toBe(1);
  });

  it('an import whose worker died is fetched again by the next when the lease expires; the dead one can record nothing', async () => {
    // A worker that claims the import and dies at once: it never heartbeats, its lease runs out in 1 s.
    const id = 'taken-over-import';
    const dead = await t.reel.db.transaction(async (tx) => {
      await insertImportedVideo(tx, {
        id,
        title: 'takeover',
        filename: 'takeover.mp4',
        playbackPolicy: 'public',
        sourceUrl: `${origin}/files/takeover.mp4`,
      });
      await insertJob(tx, { videoId: id, maxAttempts: 2 });
      return (await claimJob(tx, 'dead-worker', 1))!;
    });
    expect(dead.videoId).toBe(id);
    const v = await settle(t, id);
    expect(v.status).toBe('ready');
    expect(await attempts(t, id)).toBe(2);
    const events = await t.reel.db.query<{ event: string; worker_id: string }>(
      'SELECT event, worker_id FROM job_events WHERE video_id = $1 AND task_id IS NULL ORDER BY id',
      [id],
    );
    expect(events.slice(0, 2).map((e) => e.event)).toEqual(['claimed', 'reclaimed']);
    expect(events[1]!.worker_id).toBe(t.reel.worker!.id);
    expect(requested.filter((p) => p === '/files/takeover.mp4')).toHaveLength(1);
    // Had the dead worker fetched after all, its record is fenced off and its bytes are not the source.
    expect(await recordImportedSource(t.reel.db, dead, { key: keys.importedSource(id, 1), size: 1 })).toBe(
      false,
    );
    expect(await t.reel.store.list(keys.sourcePrefix(id))).toEqual([keys.importedSource(id, 2)]);
  });

  it('a fetch slower than REEL_IMPORT_TIMEOUT_SECONDS is stopped, tried again, then fails', async () => {
    const { id } = (await (await post(t, { url: `${origin}/files/slow.mp4` })).json()) as VideoView;
    const v = await settle(t, id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/longer than 2 s \(REEL_IMPORT_TIMEOUT_SECONDS\)/);
    expect(await attempts(t, id)).toBe(2);
  });
});

it("names the video after the URL's last path segment", () => {
  const name = (u: string) => filenameOf(new URL(u));
  expect(name('https://example.com/media/Holiday%202026.mp4?sig=abc')).toBe('Holiday 2026.mp4');
  expect(name('https://example.com/')).toBe('video');
  expect(name('https://example.com/a/..%2F..%2Fetc%2Fpasswd')).toBe('passwd');
  expect(name('https://example.com/%E0%A4%A')).toBe('%E0%A4%A');
  expect(name('https://example.com/x%00y%0A.mp4')).toBe('xy.mp4');
  expect(name(`https://example.com/${'a'.repeat(300)}.mp4`)).toHaveLength(255);
});

describe('import from a URL, private networks refused (the default)', () => {
  let before: number;
  beforeAll(async () => {
    t.reel.config.allowPrivateNetworks = false;
    before = await videoCount();
  });
  afterAll(() => {
    t.reel.config.allowPrivateNetworks = true;
  });

  /** Videos created since the setting was turned off. */
  const videoCount = async () =>
    (await t.reel.db.query<{ n: number }>('SELECT count(*)::int AS n FROM videos'))[0]!.n - (before ?? 0);

  it('refuses loopback, private, link-local, multicast and unspecified hosts at once, with the reason', async () => {
    const urls = [
      `${origin}/files/clip.mp4`,
      'http://localhost/clip.mp4',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/clip.mp4',
      'http://10.0.0.1/clip.mp4',
      'http://192.168.1.1/clip.mp4',
      'http://0.0.0.0/clip.mp4',
      'http://224.0.0.1/clip.mp4',
    ];
    for (const url of urls) {
      const res = await post(t, { url });
      expect(res.status, url).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code, url).toBe(errors.urlRefused.code);
      expect(body.message, url).toMatch(/address|private|loopback|link-local|multicast|unspecified/i);
    }
    expect(await videoCount()).toBe(0);
    expect(requested.filter((p) => p === '/files/clip.mp4')).toEqual([]);
  });

  it('refuses other schemes, credentials and malformed bodies', async () => {
    const bad: [unknown, RegExp | null][] = [
      [{ url: 'ftp://example.com/clip.mp4' }, /http/],
      [{ url: 'file:///etc/passwd' }, /http/],
      [{ url: 'http://user:secret@example.com/clip.mp4' }, /credential|password/i],
      [{ url: 'not a url' }, /not a valid absolute URL/],
      [{ url: 'http://no-such-host.invalid/clip.mp4' }, /could not be resolved/],
      [{}, null],
      [{ url: `https://example.com/${'a'.repeat(2100)}` }, null],
      [{ url: 'https://example.com/a.mp4', title: 'x'.repeat(201) }, null],
      [{ url: 'https://example.com/a.mp4', playbackPolicy: 'everyone' }, null],
      [{ url: 'https://example.com/a.mp4', id: 'mine' }, null],
    ];
    for (const [body, why] of bad) {
      const res = await post(t, body);
      const label = JSON.stringify(body).slice(0, 60);
      expect(res.status, label).toBe(400);
      const err = (await res.json()) as { message: string };
      if (why) expect(err.message, label).toMatch(why);
      expect(err.message, label).not.toContain('secret');
    }
    expect(await videoCount()).toBe(0);
  });

  it('needs the write scope and an API key', async () => {
    const reader = (await createApiKey(t.reel.db, 'reader', ['read'])).secret;
    const denied = await post(t, { url: 'https://example.com/a.mp4' }, { Authorization: `Bearer ${reader}` });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { code: string }).code).toBe(errors.scopeDenied.code);
    const anonymous = await fetch(`${t.url}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.com/a.mp4' }),
    });
    expect(anonymous.status).toBe(401);
    expect(await videoCount()).toBe(0);
  });

  it('is in the API reference, with the scope it needs', async () => {
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { description?: string; responses: Record<string, unknown> }>>;
    };
    const route = doc.paths['/v1/videos']!.post!;
    expect(route.responses['201']).toBeDefined();
    expect(route.description).toContain('Scope: write.');
    expect(doc.paths['/v1/videos']!.get).toBeDefined();
  });

  it('the worker checks the address again: a host that turned private since the POST is never fetched', async () => {
    // What DNS rebinding would leave: an accepted import whose host now resolves to a private address.
    const id = 'rebound-import-1';
    await t.reel.db.transaction(async (tx) => {
      await insertImportedVideo(tx, {
        id,
        title: 'rebound',
        filename: 'clip.mp4',
        playbackPolicy: 'signed',
        sourceUrl: `${origin}/files/clip.mp4?rebound`,
      });
      await insertJob(tx, { videoId: id, maxAttempts: 3 });
      await notifyJobQueued(tx, id);
    });
    t.reel.worker?.notify();
    const v = await settle(t, id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/will not open this URL: 127\.0\.0\.1 is a loopback address/);
    expect(await attempts(t, id)).toBe(1);
    expect(requested.filter((p) => p === '/files/clip.mp4')).toEqual([]);
  });
});

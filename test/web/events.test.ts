/**
 * GET /v1/events, the live feed behind the library: the API key in the Authorization header, the unfinished
 * videos on connection, then their changes and deletions; an open stream does not keep the server from
 * closing. An open stream is held to its key's rules: revoked, it closes within seconds; a key holds a
 * bounded number of streams; a client that does not read is dropped and costs the server a bounded buffer.
 */

import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertUploadingVideo } from '../../src/db/videos.js';
import { MAX_UNSENT_BYTES } from '../../src/http/events.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusFetch } from '../helpers/tus.js';

interface Event {
  event: string;
  data: {
    id: string;
    status?: string;
    title?: string;
    code?: string;
    message?: string;
    playable?: boolean;
    playableAt?: string | null;
  };
}

/** Reads server-sent events from a fetch response, one at a time. */
function reader(res: Response) {
  const stream = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const queue: Event[] = [];
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const { value, done } = await stream.read();
      if (done) break;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) queue.push({ event, data: JSON.parse(data) });
      }
    }
    ended = true;
  })().catch(() => {
    ended = true;
  });
  return {
    pump,
    ended: () => ended,
    async next(match: (e: Event) => boolean, timeoutMs = 10_000): Promise<Event> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const i = queue.findIndex(match);
        if (i >= 0) return queue.splice(i, 1)[0]!;
        if (ended || Date.now() > until) throw new Error(`no matching event; left: ${JSON.stringify(queue)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

const createUpload = async (t: TestReel, title: string) => {
  const res = await tusFetch.create(`${t.url}/v1/uploads`, {
    length: 100,
    metadata: { filename: 'a.mp4', title },
    headers: t.auth,
  });
  expect(res.status).toBe(201);
  return res.headers.get('location')!.split('/').pop()!;
};

describe('GET /v1/events', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
  });
  afterAll(() => t.close());

  it('needs the API key', async () => {
    const res = await fetch(`${t.url}/v1/events`);
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe('REEL_MISSING_API_KEY');
    const bad = await fetch(`${t.url}/v1/events`, { headers: { Authorization: 'Bearer nope' } });
    expect(bad.status).toBe(401);
  });

  it('sends the unfinished videos, then each change and deletion; closing the server ends the stream', async () => {
    const before = await createUpload(t, 'before');
    const res = await fetch(`${t.url}/v1/events`, { headers: t.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = reader(res);
    const first = await events.next((e) => e.data.id === before);
    expect(first).toMatchObject({
      event: 'video',
      data: { id: before, status: 'uploading', title: 'before' },
    });

    // A video that appears after the connection, and one that finishes and is removed.
    const after = await createUpload(t, 'after');
    expect(await events.next((e) => e.data.id === after)).toMatchObject({
      event: 'video',
      data: { status: 'uploading', title: 'after' },
    });
    const patch = await tusFetch.patch(`${t.url}/v1/uploads/${before}`, 0, Buffer.alloc(100), t.auth);
    expect(patch.status).toBe(204);
    // (A state may be sent twice: the page keeps the last one.)
    await events.next((e) => e.data.id === before && e.data.status === 'queued');
    expect((await t.api(`/v1/videos/${after}`, { method: 'DELETE' })).status).toBe(204);
    expect(await events.next((e) => e.data.id === after)).toEqual({ event: 'deleted', data: { id: after } });

    // The open stream does not hold the server up.
    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(3000);
    await events.pump;
    expect(events.ended()).toBe(true);
  });
});

describe('GET /v1/events: revoked keys, streams per key, clients that do not read', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play', 'events-streams-per-key': '3' });
  });
  afterAll(() => t.close());

  const newKey = async (name: string) => {
    const res = await t.api('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string };
  };
  const open = (key: string, signal?: AbortSignal) =>
    fetch(`${t.url}/v1/events`, { headers: { Authorization: `Bearer ${key}` }, ...(signal && { signal }) });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('the stream of a revoked key gets a last "closed" event and ends within seconds; other keys’ stay', async () => {
    const dash = await newKey('dashboard');
    const revoked = reader(await open(dash.key));
    const other = reader(await open(t.apiKey));
    const first = await createUpload(t, 'seen by both');
    await revoked.next((e) => e.data.id === first);
    await other.next((e) => e.data.id === first);

    expect((await t.api(`/v1/keys/${dash.id}`, { method: 'DELETE' })).status).toBe(204);
    const revokedAt = Date.now();
    await Promise.race([revoked.pump, sleep(6000)]);
    expect(revoked.ended(), 'the revoked key’s stream is still open').toBe(true);
    expect(Date.now() - revokedAt).toBeLessThan(4000);
    expect(await revoked.next((e) => e.event === 'closed')).toMatchObject({
      event: 'closed',
      data: { code: 'REEL_BAD_API_KEY' },
    });
    // Nothing that happened after the revocation reached it; the other key's stream goes on.
    const later = await createUpload(t, 'after the revocation');
    await other.next((e) => e.data.id === later);
    await expect(revoked.next((e) => e.data.id === later, 100)).rejects.toThrow(/no matching event/);
    // And it cannot come back.
    expect((await open(dash.key)).status).toBe(401);
  });

  it('a key holds at most 3 streams: the next gets 429, even when many ask at once; closing one frees it', async () => {
    const tabs = await newKey('tabs');
    const aborts = Array.from({ length: 10 }, () => new AbortController());
    const answers = await Promise.all(aborts.map((a) => open(tabs.key, a.signal)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, ...Array(7).fill(429)]);
    const refused = answers.find((r) => r.status === 429)!;
    const body = await refused.json();
    expect(body.code).toBe('REEL_TOO_MANY_STREAMS');
    expect(body.message).toMatch(/3 live feeds .*REEL_EVENTS_STREAMS_PER_KEY.*close one/);
    // Another key is not affected.
    const elsewhere = new AbortController();
    expect((await open(t.apiKey, elsewhere.signal)).status).toBe(200);
    elsewhere.abort();
    // Closing one of the three lets the next one in.
    const openOnes = answers.flatMap((r, i) => (r.status === 200 ? [i] : []));
    aborts[openOnes[0]!]!.abort();
    const again = new AbortController();
    const reopened = await waitFor(
      'a place to free up',
      async () => {
        const res = await open(tabs.key, again.signal);
        if (res.status === 200) return res;
        await res.body?.cancel();
        return undefined;
      },
      5000,
    );
    expect(reopened.status).toBe(200);
    expect((await open(tabs.key)).status).toBe(429);
    again.abort();
    for (const a of aborts) a.abort();
  });

  it('a client that never reads is dropped, and the server holds a bounded number of bytes for it', async () => {
    const key = (await newKey('stalled')).key;
    // The server's side of each connection: what it holds for that client, not yet taken by the socket.
    const serverSide = new Map<number, net.Socket>();
    const onConnection = (s: net.Socket) => serverSide.set(s.remotePort!, s);
    t.reel.app!.server.on('connection', onConnection);
    const stalled = net.connect(Number(new URL(t.url).port), '127.0.0.1');
    stalled.pause(); // never reads a byte
    stalled.on('error', () => undefined);
    await once(stalled, 'connect');
    stalled.write(`GET /v1/events HTTP/1.1\r\nHost: reel\r\nAuthorization: Bearer ${key}\r\n\r\n`);
    const server = await waitFor('the server side', async () => serverSide.get(stalled.localPort!), 5000, 20);
    t.reel.app!.server.off('connection', onConnection);
    // A client of the same key that reads, all along.
    const reading = reader(await open(key));

    // Changes of about 2 MB a tick: five processing videos with a long error text whose progress moves.
    const BIG = 400_000;
    const ids = ['big_1', 'big_2', 'big_3', 'big_4', 'big_5'];
    for (const id of ids) {
      await t.reel.db.query(
        `INSERT INTO videos (id, title, status, playback_policy, error) VALUES ($1, $1, 'processing', 'public', $2)`,
        [id, 'x'.repeat(BIG)],
      );
    }
    let maxUnsent = 0;
    const until = Date.now() + 30_000;
    let step = 0;
    while (!server.destroyed && Date.now() < until) {
      step++;
      await t.reel.db.query('UPDATE videos SET progress = $1 WHERE id = ANY($2::text[])', [
        (step % 100) / 100,
        ids,
      ]);
      for (let i = 0; i < 5; i++) {
        maxUnsent = Math.max(maxUnsent, server.writableLength);
        await sleep(50);
      }
    }
    expect(server.destroyed, `still connected, holding ${server.writableLength} bytes`).toBe(true);
    // At most the bound and one tick's frames (five videos), never the whole backlog.
    expect(maxUnsent).toBeLessThan(MAX_UNSENT_BYTES + ids.length * (BIG + 2000));
    // The client that reads was served throughout and is still connected.
    expect(reading.ended()).toBe(false);
    const last = await reading.next((e) => e.data.id === 'big_1' && e.data.status === 'processing');
    expect(last.data.id).toBe('big_1');
    stalled.destroy();
    await t.reel.db.query('DELETE FROM videos WHERE id = ANY($1::text[])', [ids]);
  });
});

describe('GET /v1/events: a video that becomes playable while it processes', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
  });
  afterAll(() => t.close());

  it('sends the change when the first chunks are published (nothing else changed), and again at ready', async () => {
    const { db } = t.reel;
    await insertUploadingVideo(db, {
      id: 'chunky',
      title: 'chunky',
      filename: 'c.mp4',
      playbackPolicy: 'public',
    });
    await db.query(`UPDATE videos SET status = 'processing', progress = 0.25 WHERE id = 'chunky'`);
    const res = await fetch(`${t.url}/v1/events`, { headers: t.auth });
    const events = reader(res);
    expect(await events.next((e) => e.data.id === 'chunky')).toMatchObject({
      event: 'video',
      data: { status: 'processing', playable: false, playableAt: null },
    });
    // Wait out the first tick, so that the change below is one the poller must notice on its own.
    await new Promise((r) => setTimeout(r, 1500));
    await db.query(`UPDATE videos SET playable_at = now() WHERE id = 'chunky'`);
    const playable = await events.next((e) => e.data.id === 'chunky' && e.data.playable === true);
    expect(playable.data).toMatchObject({ status: 'processing', playable: true });
    expect(Math.abs(new Date(playable.data.playableAt!).getTime() - Date.now())).toBeLessThan(10_000);
    await db.query(`UPDATE videos SET status = 'ready', progress = 1, ready_at = now() WHERE id = 'chunky'`);
    expect(await events.next((e) => e.data.id === 'chunky' && e.data.status === 'ready')).toMatchObject({
      data: { playable: true, playableAt: playable.data.playableAt },
    });
    await res.body?.cancel().catch(() => undefined);
  });
});

/**
 * GET /v1/events, the live feed behind the library: the API key in the Authorization header, the unfinished
 * videos on connection, then their changes and deletions; an open stream does not keep the server from
 * closing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReel, type TestReel } from '../helpers/reel.js';

interface Event {
  event: string;
  data: { id: string; status?: string; title?: string };
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
  const res = await fetch(`${t.url}/v1/uploads`, {
    method: 'POST',
    headers: {
      ...t.auth,
      'Tus-Resumable': '1.0.0',
      'Upload-Length': '100',
      'Upload-Metadata': `filename ${Buffer.from('a.mp4').toString('base64')},title ${Buffer.from(title).toString('base64')}`,
    },
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
    const patch = await fetch(`${t.url}/v1/uploads/${before}`, {
      method: 'PATCH',
      headers: {
        ...t.auth,
        'Tus-Resumable': '1.0.0',
        'Upload-Offset': '0',
        'Content-Type': 'application/offset+octet-stream',
      },
      body: Buffer.alloc(100),
    });
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

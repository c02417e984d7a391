/**
 * PATCH /v1/videos/{id}: a client changes a video's title, externalId and playback policy; the answer and
 * every later read show the change, and a new policy applies to the next playback request. Anything else
 * (other fields, an empty body, too long, control characters, an unknown or malformed id, an id in the query
 * string) is refused and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

interface Video {
  id: string;
  title: string;
  status: string;
  externalId: string | null;
  playbackPolicy: string;
}

describe('PATCH /v1/videos/{id}', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
    await publishFake(t, 'vid_a', 'public');
    await publishFake(t, 'vid_b', 'public');
  });
  afterAll(() => t.close());

  const patch = (id: string, body: unknown, query = '') =>
    t.api(`/v1/videos/${id}${query}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const get = async (id: string) => (await (await t.api(`/v1/videos/${id}`)).json()) as Video;

  it('changes the title and externalId; null clears externalId; what is not sent stays', async () => {
    const res = await patch('vid_a', { title: '  Holiday 2026 — Crète  ', externalId: 'cms:row/42' });
    expect(res.status).toBe(200);
    const answered = (await res.json()) as Video;
    expect(answered).toMatchObject({
      id: 'vid_a',
      title: 'Holiday 2026 — Crète',
      externalId: 'cms:row/42',
      playbackPolicy: 'public',
      status: 'ready',
    });
    expect(await get('vid_a')).toEqual(answered);

    const retitled = (await (await patch('vid_a', { title: 'Only the title' })).json()) as Video;
    expect(retitled).toMatchObject({ title: 'Only the title', externalId: 'cms:row/42' });
    const cleared = (await (await patch('vid_a', { externalId: null })).json()) as Video;
    expect(cleared).toMatchObject({ title: 'Only the title', externalId: null });
    // The longest allowed values.
    const longest = await patch('vid_a', { title: 'é'.repeat(200), externalId: 'x'.repeat(255) });
    expect(longest.status).toBe(200);
  });

  it('a new playback policy applies to the next playback request', async () => {
    const master = (access: string) => fetch(`${t.url}/play/vid_b/${access}/master.m3u8`);
    expect((await master('public')).status).toBe(200);

    expect((await patch('vid_b', { playbackPolicy: 'signed' })).status).toBe(200);
    const refused = await master('public');
    expect(refused.status).toBe(401);
    expect((await refused.json()).code).toBe(errors.missingToken.code);
    // It plays with a token from the playback URL.
    const { url } = (await (await t.api('/v1/videos/vid_b/playback')).json()) as { url: string };
    expect(url).not.toContain('/public/');
    expect((await fetch(url)).status).toBe(200);

    expect((await patch('vid_b', { playbackPolicy: 'public' })).status).toBe(200);
    expect((await master('public')).status).toBe(200);
  });

  it.each([
    ['an empty body', {}],
    ['no JSON object', 'null'],
    ['a field that cannot be changed', { status: 'ready' }],
    ['a known field with an unknown one', { title: 'ok', id: 'vid_b' }],
    ['a title of 201 characters', { title: 'a'.repeat(201) }],
    ['a title with a control character', { title: 'bell\u0007' }],
    ['a title with a newline', { title: 'two\nlines' }],
    ['a blank title', { title: '   ' }],
    ['an externalId of 256 characters', { externalId: 'x'.repeat(256) }],
    ['an externalId with NUL', { externalId: 'a\u0000b' }],
    ['an empty externalId', { externalId: '' }],
    ['an unknown playback policy', { playbackPolicy: 'everyone' }],
  ])('refuses %s with 400 and changes nothing', async (_what, body) => {
    const before = await get('vid_b');
    const res = await patch('vid_b', body);
    expect(res.status).toBe(400);
    const err = (await res.json()) as { code: string; message: string };
    expect(err.code).toBe(errors.invalidRequest.code);
    expect(err.message.length).toBeGreaterThan(10);
    expect(await get('vid_b')).toEqual(before);
  });

  it('an unknown video: 404; a malformed id: 400', async () => {
    const unknown = await patch('no_such_video', { title: 'x' });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe(errors.videoNotFound.code);
    const malformed = await patch('bad.id', { title: 'x' });
    expect(malformed.status).toBe(400);
  });

  it('takes the id from the path only: ids in the query string are ignored', async () => {
    const b = await get('vid_b');
    const res = await patch('vid_a', { title: 'from the path' }, '?id=vid_b&videoId=vid_b');
    expect(res.status).toBe(200);
    expect(((await res.json()) as Video).id).toBe('vid_a');
    expect((await get('vid_a')).title).toBe('from the path');
    expect(await get('vid_b')).toEqual(b);
  });
});

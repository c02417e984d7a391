/**
 * What the library page asks of the API (issue 14): GET /v1/videos?policy= and ?sort=newest|oldest|title
 * with their cursors, sourceSize and posterTime on every video, and PATCH posterTime refused where it
 * cannot apply (the poster actually changing is in test/web/library.test.ts, on a real video). Hostile:
 * unknown sorts and policies, a cursor of another order or edited, posterTime of the wrong type, out of
 * range, on a video that is not ready or not chunked, another video's id in the query, a read-only key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

interface Video {
  id: string;
  title: string;
  playbackPolicy: string;
  sourceSize: number | null;
  posterTime: number | null;
}
interface Page {
  data: Video[];
  nextCursor: string | null;
}

/** [id, title, policy]: created oldest first, a second apart. */
const VIDEOS: [string, string, 'public' | 'signed'][] = [
  ['lb1', 'banana', 'public'],
  ['lb2', 'Apple', 'signed'],
  ['lb3', 'cherry', 'signed'],
  ['lb4', 'apple', 'public'],
  ['lb5', 'Date', 'signed'],
];

describe('GET /v1/videos policy and sort; PATCH posterTime refusals', () => {
  let t: TestReel;
  let readKey = '';
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
    for (const [i, [id, title, policy]] of VIDEOS.entries()) {
      await t.reel.db.query(
        `INSERT INTO videos (id, title, status, playback_policy, source_size, created_at)
         VALUES ($1, $2, 'ready', $3, $4, '2026-03-01 10:00:00+00'::timestamptz + make_interval(secs => $5))`,
        [id, title, policy, 1000 * (i + 1), i],
      );
    }
    await publishFake(t, 'legacyP', 'public');
    await publishFake(t, 'busyP', 'public', 'processing');
    const res = await t.api('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'look', scopes: ['read'] }),
    });
    readKey = ((await res.json()) as { key: string }).key;
  });
  afterAll(() => t.close());

  /** Every page of a listing, following nextCursor; the ids of ours. */
  const all = async (query: string, limit = 2) => {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const res = await t.api(
        `/v1/videos?limit=${limit}&${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status, query).toBe(200);
      const page = (await res.json()) as Page;
      ids.push(...page.data.map((v) => v.id).filter((id) => id.startsWith('lb')));
      cursor = page.nextCursor;
      if (!cursor) return ids;
    }
    throw new Error('too many pages');
  };

  it('sort: newest (default), oldest, title (case-insensitive, ties by creation), across pages', async () => {
    expect(await all('')).toEqual(['lb5', 'lb4', 'lb3', 'lb2', 'lb1']);
    expect(await all('sort=newest')).toEqual(['lb5', 'lb4', 'lb3', 'lb2', 'lb1']);
    expect(await all('sort=oldest')).toEqual(['lb1', 'lb2', 'lb3', 'lb4', 'lb5']);
    expect(await all('sort=title&status=ready')).toEqual(['lb2', 'lb4', 'lb1', 'lb3', 'lb5']);
    expect(await all('sort=title', 1)).toEqual(['lb2', 'lb4', 'lb1', 'lb3', 'lb5']);
  });

  it('policy filters, and combines with q and sort; every video has sourceSize and posterTime', async () => {
    expect(await all('policy=public')).toEqual(['lb4', 'lb1']);
    expect(await all('policy=signed&sort=oldest')).toEqual(['lb2', 'lb3', 'lb5']);
    expect(await all('policy=public&q=APP&sort=title')).toEqual(['lb4']);
    const v = (await (await t.api('/v1/videos/lb3')).json()) as Video;
    expect(v).toMatchObject({ sourceSize: 3000, posterTime: null });
  });

  it('refuses an unknown sort or policy, a cursor of another order, an edited cursor, before with a sort', async () => {
    for (const q of ['sort=random', 'sort=', 'policy=private', 'policy=PUBLIC', 'sort=title&sort=oldest']) {
      const res = await t.api(`/v1/videos?${q}`);
      expect(res.status, q).toBe(400);
    }
    const timeCursor = ((await (await t.api('/v1/videos?limit=1')).json()) as Page).nextCursor!;
    const titleCursor = ((await (await t.api('/v1/videos?limit=1&sort=title')).json()) as Page).nextCursor!;
    const cases = [
      `sort=title&cursor=${timeCursor}`,
      `sort=oldest&cursor=${titleCursor}`,
      `cursor=${titleCursor}`,
      `sort=title&cursor=${titleCursor}x`,
      `sort=title&cursor=${Buffer.from(`${Buffer.from(titleCursor, 'base64url').toString()} extra`).toString('base64url')}`,
      `sort=title&cursor=${'A'.repeat(1601)}`,
      'sort=oldest&before=2026-03-01T10:00:03Z',
    ];
    for (const q of cases) {
      const res = await t.api(`/v1/videos?${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { code: string }).code, q).toMatch(/^REEL_INVALID_(CURSOR|REQUEST)$/);
    }
    // A title cursor whose title was edited only lists from there (any key may list every video anyway).
    const edited = Buffer.from(`2026-03-01T10:00:00.000000Z lb1 ${Buffer.from('c').toString('base64url')}`);
    const res = await t.api(`/v1/videos?sort=title&limit=100&cursor=${edited.toString('base64url')}`);
    expect(res.status).toBe(200);
    const ids = ((await res.json()) as Page).data.map((v) => v.id).filter((id) => id.startsWith('lb'));
    expect(ids).toEqual(['lb3', 'lb5']);
  });

  const patch = (id: string, body: unknown, key = t.apiKey, query = '') =>
    fetch(`${t.url}/v1/videos/${id}${query}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const code = async (res: Response) => ((await res.json()) as { code: string }).code;

  it('PATCH posterTime: malformed or out of range → 400; not ready or not chunked → 409; unknown → 404; read key → 403', async () => {
    for (const body of [
      { posterTime: -1 },
      { posterTime: 'three' },
      { posterTime: 1e9 },
      { posterTime: [1] },
      { posterTime: { time: 1 } },
      '{"posterTime": NaN}',
    ]) {
      const res = await patch('legacyP', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const legacy = await patch('legacyP', { posterTime: 1 });
    expect(legacy.status).toBe(409);
    expect(await code(legacy)).toBe(errors.posterNotAvailable.code);
    const busy = await patch('busyP', { posterTime: 0 });
    expect(busy.status).toBe(409);
    expect(await code(busy)).toBe(errors.posterNotAvailable.code);
    // A refused poster changes nothing else sent with it.
    const both = await patch('busyP', { title: 'renamed', posterTime: 0 });
    expect(both.status).toBe(409);
    expect(((await (await t.api('/v1/videos/busyP')).json()) as Video).title).toBe('busyP');
    const unknown = await patch('nope_nope', { posterTime: 1 });
    expect(unknown.status).toBe(404);
    // Another video's id in the query string does not redirect the change.
    const smuggled = await patch('legacyP', { posterTime: 1 }, t.apiKey, '?id=busyP');
    expect(smuggled.status).toBe(409);
    const readOnly = await patch('legacyP', { posterTime: 1 }, readKey);
    expect(readOnly.status).toBe(403);
    expect(((await (await t.api('/v1/videos/legacyP')).json()) as Video).posterTime).toBeNull();
  });
});

/**
 * GET /v1/videos?status=&externalId=&q=: filters that combine, with the opaque cursor still paging (the
 * filters are sent again with it); q is a case-insensitive substring of the title in which % _ and \ are
 * plain characters. On PGlite and on Postgres. And externalId as tus metadata (`external_id`) at upload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';
import { tusFetch } from '../helpers/tus.js';

interface Page {
  data: { id: string; title: string; status: string; externalId: string | null }[];
  nextCursor: string | null;
}

/** [id, title, status, externalId]: inserted oldest first, one second apart. */
const VIDEOS: [string, string, string, string | null][] = [
  ['v01', 'Holiday in Crète', 'ready', 'order-1'],
  ['v02', 'SUMMER HOLIDAY', 'failed', 'order-10'],
  ['v03', 'holiday outtakes', 'ready', 'order-1'],
  ['v04', '50% off sale', 'ready', null],
  ['v05', '500 offers', 'ready', null],
  ['v06', 'file a_b', 'processing', 'ORDER-1'],
  ['v07', 'file aXb', 'ready', null],
  ['v08', 'C:\\temp\\clip', 'ready', 'order-1'],
  ['v09', 'Holidays 2', 'ready', null],
  ['v10', 'holiday 3', 'queued', null],
  ['v11', 'A HOLIDAY 4', 'ready', 'order-1'],
  ['v12', 'holiday 5', 'ready', null],
  ['v13', 'Winter', 'ready', null],
];

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`GET /v1/videos filters (${backend})`, () => {
    let t: TestReel;
    let pg: TestDb | undefined;
    beforeAll(async () => {
      if (backend === 'postgres') pg = await postgresDb();
      t = await startTestReel({ roles: 'upload,play', ...(pg ? { 'database-url': pg.url! } : {}) });
      for (const [i, [id, title, status, externalId]] of VIDEOS.entries()) {
        await t.reel.db.query(
          `INSERT INTO videos (id, title, status, playback_policy, external_id, created_at)
           VALUES ($1, $2, $3, 'public', $4, '2026-03-01 10:00:00+00'::timestamptz + make_interval(secs => $5))`,
          [id, title, status, externalId, i],
        );
      }
    });
    afterAll(async () => {
      await t.close();
      await pg?.drop();
    });

    const ids = async (query: string) => {
      const res = await t.api(`/v1/videos?limit=100&${query}`);
      expect(res.status, query).toBe(200);
      const page = (await res.json()) as Page;
      expect(page.nextCursor).toBeNull();
      return page.data.map((v) => v.id).filter((id) => /^v\d\d$/.test(id));
    };

    it('status: only videos in that status; newest first', async () => {
      expect(await ids('status=failed')).toEqual(['v02']);
      expect(await ids('status=processing')).toEqual(['v06']);
      expect(await ids('status=ready')).toEqual([
        'v13',
        'v12',
        'v11',
        'v09',
        'v08',
        'v07',
        'v05',
        'v04',
        'v03',
        'v01',
      ]);
    });

    it('externalId: exact match (not a prefix, case-sensitive), and shown on each video', async () => {
      expect(await ids('externalId=order-1')).toEqual(['v11', 'v08', 'v03', 'v01']);
      expect(await ids('externalId=ORDER-1')).toEqual(['v06']);
      expect(await ids('externalId=order')).toEqual([]);
      const page = (await (await t.api('/v1/videos?externalId=order-10')).json()) as Page;
      expect(page.data).toMatchObject([{ id: 'v02', externalId: 'order-10', title: 'SUMMER HOLIDAY' }]);
    });

    it('q: a case-insensitive substring of the title', async () => {
      expect(await ids('q=holiday')).toEqual(['v12', 'v11', 'v10', 'v09', 'v03', 'v02', 'v01']);
      expect(await ids('q=HoLiDaYs')).toEqual(['v09']);
      expect(await ids(`q=${encodeURIComponent('CRÈTE')}`)).toEqual(['v01']);
      expect(await ids('q=nothing%20like%20it')).toEqual([]);
    });

    it('q: % _ and \\ are plain characters, not patterns', async () => {
      expect(await ids(`q=${encodeURIComponent('50%')}`)).toEqual(['v04']);
      expect(await ids(`q=${encodeURIComponent('%')}`)).toEqual(['v04']);
      expect(await ids(`q=${encodeURIComponent('a_b')}`)).toEqual(['v06']);
      expect(await ids(`q=${encodeURIComponent('_')}`)).toEqual(['v06']);
      expect(await ids(`q=${encodeURIComponent('C:\\temp')}`)).toEqual(['v08']);
      expect(await ids(`q=${encodeURIComponent('\\')}`)).toEqual(['v08']);
    });

    it('filters combine: every one given must match', async () => {
      expect(await ids('q=holiday&status=ready')).toEqual(['v12', 'v11', 'v09', 'v03', 'v01']);
      expect(await ids('q=holiday&status=ready&externalId=order-1')).toEqual(['v11', 'v03', 'v01']);
      expect(await ids('q=winter&status=failed')).toEqual([]);
    });

    it('pages through the filtered list with the cursor, sending the filters again', async () => {
      const filters = 'q=holiday&status=ready';
      const seen: string[] = [];
      let res = await t.api(`/v1/videos?limit=2&${filters}`);
      for (let pages = 1; ; pages++) {
        expect(res.status).toBe(200);
        const page = (await res.json()) as Page;
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((v) => v.id));
        if (!page.nextCursor) break;
        expect(pages).toBeLessThan(10);
        res = await t.api(`/v1/videos?limit=2&${filters}&cursor=${encodeURIComponent(page.nextCursor)}`);
      }
      expect(seen).toEqual(['v12', 'v11', 'v09', 'v03', 'v01']);
    });

    it.each([
      ['an unknown status', 'status=done'],
      ['a q of 201 characters', `q=${'a'.repeat(201)}`],
      ['an externalId of 256 characters', `externalId=${'x'.repeat(256)}`],
      ['an empty externalId', 'externalId='],
      ['a control character in externalId', 'externalId=a%00b'],
    ])('refuses %s with 400', async (_what, query) => {
      const res = await t.api(`/v1/videos?${query}`);
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe(errors.invalidRequest.code);
    });

    const create = (metadata: Record<string, string>) =>
      tusFetch.create(`${t.url}/v1/uploads`, { length: 10, metadata, headers: t.auth });

    it('externalId at upload (tus metadata external_id): stored on the video and found by the filter', async () => {
      const res = await create({ filename: 'a.mp4', external_id: 'crm/8812' });
      expect(res.status).toBe(201);
      const id = res.headers.get('location')!.split('/').pop()!;
      const video = (await (await t.api(`/v1/videos/${id}`)).json()) as { externalId: string | null };
      expect(video.externalId).toBe('crm/8812');
      const page = (await (await t.api('/v1/videos?externalId=crm%2F8812')).json()) as Page;
      expect(page.data.map((v) => v.id)).toEqual([id]);
      // None given: null.
      const plain = await create({ filename: 'b.mp4' });
      const plainId = plain.headers.get('location')!.split('/').pop()!;
      expect(
        ((await (await t.api(`/v1/videos/${plainId}`)).json()) as Page['data'][0]).externalId,
      ).toBeNull();
    });

    it('external_id longer than 255 characters, or with a control character: 400, no video', async () => {
      const before = ((await (await t.api('/v1/videos?limit=100')).json()) as Page).data.length;
      for (const externalId of ['x'.repeat(256), 'line\nbreak']) {
        const res = await create({ filename: 'c.mp4', external_id: externalId });
        expect(res.status).toBe(400);
        expect((await res.json()).code).toBe(errors.invalidMetadata.code);
      }
      const after = ((await (await t.api('/v1/videos?limit=100')).json()) as Page).data.length;
      expect(after).toBe(before);
      expect((await create({ filename: 'd.mp4', external_id: 'y'.repeat(255) })).status).toBe(201);
    });
  });
}

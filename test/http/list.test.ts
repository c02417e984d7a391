/**
 * GET /v1/videos pages newest first with an opaque cursor over (created_at, id): rows created in the same
 * millisecond, or the same microsecond, are each listed exactly once; a cursor that is not one the server
 * gave is refused with 400. On PGlite and on Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresDb, type TestDb } from '../helpers/db.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

interface Page {
  data: { id: string; createdAt: string }[];
  nextCursor: string | null;
}

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`GET /v1/videos pagination (${backend})`, () => {
    let t: TestReel;
    let pg: TestDb | undefined;
    const ids: string[] = [];
    beforeAll(async () => {
      if (backend === 'postgres') pg = await postgresDb();
      t = await startTestReel({ roles: 'upload,play', ...(pg ? { 'database-url': pg.url! } : {}) });
      // 9 videos in the same microsecond, 4 in the same millisecond but other microseconds, 3 older ones:
      // all inserted directly (ready: an old unfinished upload would expire), as a burst of uploads on a fast
      // machine would create them.
      const at = [
        ...Array(9).fill('2026-03-01 10:00:00.123456+00'),
        '2026-03-01 10:00:00.123999+00',
        '2026-03-01 10:00:00.123001+00',
        '2026-03-01 10:00:00.123000+00',
        '2026-03-01 10:00:00.123500+00',
        '2026-03-01 09:59:59.999999+00',
        '2026-02-28 23:00:00+00',
        '2025-12-31 23:59:59.5+00',
      ];
      for (const [i, createdAt] of at.entries()) {
        const id = `same_${String(i).padStart(2, '0')}_${'abcdefghijklmnop'[i]}`;
        ids.push(id);
        await t.reel.db.query(
          `INSERT INTO videos (id, title, status, playback_policy, created_at)
           VALUES ($1, $1, 'ready', 'public', $2::timestamptz)`,
          [id, createdAt],
        );
      }
    });
    afterAll(async () => {
      await t.close();
      await pg?.drop();
    });

    const list = async (query: string) => {
      const res = await t.api(`/v1/videos?${query}`);
      expect(res.status, query).toBe(200);
      return (await res.json()) as Page;
    };

    it('pages through every video exactly once, newest first, two at a time', async () => {
      const seen: string[] = [];
      let page = await list('limit=2');
      let pages = 1;
      for (;;) {
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((v) => v.id));
        if (!page.nextCursor) break;
        expect(page.data.length).toBe(2);
        page = await list(`limit=2&cursor=${encodeURIComponent(page.nextCursor)}`);
        pages++;
        expect(pages).toBeLessThan(50);
      }
      expect(seen.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
      expect(new Set(seen).size).toBe(seen.length);
      // The same order as one page of all of them.
      const all = await list('limit=100');
      expect(all.nextCursor).toBeNull();
      expect(seen).toEqual(all.data.map((v) => v.id));
      // Newest first, ties by id (descending).
      const mine = all.data.filter((v) => ids.includes(v.id)).map((v) => v.id);
      expect(mine).toEqual([
        ids[9],
        ids[12],
        ...ids.slice(0, 9).reverse(),
        ids[10],
        ids[11],
        ids[13],
        ids[14],
        ids[15],
      ]);
    });

    it('the last page says there is no more, even when it is full', async () => {
      const total = (await list('limit=100')).data.length;
      const first = await list(`limit=${total - 1}`);
      expect(first.nextCursor).toBeTruthy();
      const last = await list(`limit=1&cursor=${encodeURIComponent(first.nextCursor!)}`);
      expect(last.data.length).toBe(1);
      expect(last.nextCursor).toBeNull();
    });

    it('still accepts before=<createdAt> (the old cursor): videos created strictly before it', async () => {
      const page = await list(`limit=100&before=${encodeURIComponent('2026-03-01T10:00:00.000Z')}`);
      expect(page.data.map((v) => v.id).filter((id) => ids.includes(id))).toEqual(ids.slice(13));
    });

    it('refuses a cursor it did not give, with 400 and a sentence', async () => {
      const { nextCursor } = await list('limit=2');
      const good = nextCursor!;
      const b64 = (s: string) => Buffer.from(s).toString('base64url');
      const decoded = Buffer.from(good, 'base64url').toString();
      const tampered = [
        'not-a-cursor',
        b64(decoded.replace(/:\d\d\./, ':6x.')),
        `${good}=`,
        `${good}!`,
        good.slice(0, 10),
        b64(decoded.replace(/^\d{4}/, '2026-13')),
        b64(decoded.replace(/T\d\d/, 'T25')),
        b64(decoded.replace(/-\d\dT/, '-31T').replace(/-\d\d-/, '-02-')),
        b64(decoded.replace(/ .*$/, " x'; DROP TABLE videos; --")),
        b64(decoded.replace(/ .*$/, ' ../../etc')),
        b64(`${decoded} extra`),
        b64(decoded.replace(/Z/, '+02:00')),
        b64('2026-03-01T10:00:00.123456Z'),
        b64(''),
        'A'.repeat(5000),
      ];
      for (const cursor of tampered) {
        const res = await t.api(`/v1/videos?limit=2&cursor=${encodeURIComponent(cursor)}`);
        expect(res.status, cursor).toBe(400);
        const body = await res.json();
        expect(body.code, cursor).toMatch(/^REEL_INVALID_(CURSOR|REQUEST)$/);
        expect(body.message.length).toBeGreaterThan(20);
      }
      const both = await t.api(`/v1/videos?cursor=${good}&before=2026-03-01T10:00:00.000Z`);
      expect(both.status).toBe(400);
      expect((await both.json()).code).toBe('REEL_INVALID_CURSOR');
      // Nothing was harmed, and the good cursor still works.
      expect((await list(`limit=2&cursor=${good}`)).data.length).toBe(2);
    });
  });
}

/**
 * Hostile tus requests (issue 9): another key's unfinished upload must be out of reach whatever the shape
 * of the URL (the id in the query string, an extra path segment), on the filesystem store and on S3; and
 * metadata that Postgres cannot store is refused with a sentence that names the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/db/apiKeys.js';
import { rawRequest as raw } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';
import { startS3Reel } from '../helpers/s3.js';
import { tusHeaders } from '../helpers/tus.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function hostileSuite(name: string, start: () => Promise<{ t: TestReel; close: () => Promise<void> }>) {
  describe(`hostile tus requests (${name})`, () => {
    let t: TestReel;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ t, close } = await start());
    });
    afterAll(() => close());

    it("another key's unfinished upload: HEAD, PATCH, DELETE and GET by any URL shape are refused, and it is untouched", async () => {
      const mine = Buffer.alloc(100, 'a');
      const created = await raw(
        t.url,
        '/v1/uploads',
        'POST',
        tusHeaders.create(100, { filename: 'mine.mp4' }, t.auth),
      );
      expect(created.status).toBe(201);
      const id = String(created.headers.location).split('/').pop()!;
      const first = await raw(
        t.url,
        `/v1/uploads/${id}`,
        'PATCH',
        tusHeaders.patch(0, t.auth),
        mine.subarray(0, 40),
      );
      expect(first.status).toBe(204);

      const other = await createApiKey(t.reel.db, 'intruder');
      const intruder = tusHeaders.base({ Authorization: `Bearer ${other.secret}` });
      const shapes = [
        `/v1/uploads/${id}`,
        `/v1/uploads?/${id}`,
        `/v1/uploads?x=/${id}`,
        `/v1/uploads/x?/${id}`,
        `/v1/uploads/x?/v1/uploads/${id}`,
        `/v1/uploads/${id}?/x`,
      ];
      for (const shape of shapes) {
        const head = await raw(t.url, shape, 'HEAD', intruder);
        expect(head.status, `HEAD ${shape}`).toBe(404);
        expect(head.headers['upload-offset'], `HEAD ${shape}`).toBeUndefined();
        const get = await raw(t.url, shape, 'GET', intruder);
        expect(get.status, `GET ${shape}`).toBe(404);
        const patch = await raw(t.url, shape, 'PATCH', tusHeaders.patch(40, intruder), Buffer.alloc(60, 'z'));
        expect(patch.status, `PATCH ${shape}`).toBeGreaterThanOrEqual(400);
        expect(patch.status, `PATCH ${shape}`).toBeLessThan(500);
        const del = await raw(t.url, shape, 'DELETE', intruder);
        expect(del.status, `DELETE ${shape}`).toBeGreaterThanOrEqual(400);
        expect(del.status, `DELETE ${shape}`).toBeLessThan(500);
      }

      // The owner's upload is as it was: offset 40, its video still uploading, and it finishes with its bytes.
      const head = await raw(t.url, `/v1/uploads/${id}`, 'HEAD', tusHeaders.base(t.auth));
      expect(head.status).toBe(200);
      expect(head.headers['upload-offset']).toBe('40');
      expect((await (await t.api(`/v1/videos/${id}`)).json()).status).toBe('uploading');
      const rest = await raw(
        t.url,
        `/v1/uploads/${id}`,
        'PATCH',
        tusHeaders.patch(40, t.auth),
        mine.subarray(40),
      );
      expect(rest.status).toBe(204);
      expect(rest.headers['upload-offset']).toBe('100');
      expect((await (await t.api(`/v1/videos/${id}`)).json()).status).toBe('queued');
      const stored = await sourceBytes(t, id);
      expect(stored.equals(mine)).toBe(true);
    });

    it('metadata with a NUL byte or another control character is refused with 400 naming the field', async () => {
      const create = (metadata: string) =>
        raw(t.url, '/v1/uploads', 'POST', tusHeaders.create(10, metadata, t.auth));
      const cases: [string, string][] = [
        [`filename ${b64('clip.mp4')},title ${b64('a\0b')}`, 'title'],
        [`filename ${b64('clip\0.mp4')}`, 'filename'],
        [`filename ${b64('clip.mp4')},playback_policy ${b64('public\0')}`, 'playback_policy'],
        [`filename ${b64('clip.mp4')},filetype ${b64('video/mp4\u0007')}`, 'filetype'],
        [`filename ${b64('clip.mp4')},title ${b64('line\nbreak')}`, 'title'],
        [`filename ${b64('clip.mp4')},title ${b64('c1 \u0085 control')}`, 'title'],
      ];
      for (const [metadata, field] of cases) {
        const res = await create(metadata);
        expect(res.status, metadata).toBe(400);
        const body = JSON.parse(res.body);
        expect(body).toMatchObject({ code: 'REEL_INVALID_METADATA', statusCode: 400 });
        expect(body.message).toContain(`"${field}"`);
        expect(body.message).toMatch(/control character/);
      }
      // Nothing was created for them; an ordinary title with accents and emoji is fine.
      const ok = await create(`filename ${b64('clip.mp4')},title ${b64('Café ☕ — été')}`);
      expect(ok.status).toBe(201);
      const id = String(ok.headers.location).split('/').pop()!;
      expect((await (await t.api(`/v1/videos/${id}`)).json()).title).toBe('Café ☕ — été');
    });
  });
}

/** The bytes a finished upload left for the worker (on S3: its parts joined). */
async function sourceBytes(t: TestReel, id: string): Promise<Buffer> {
  const { assembleUpload } = await import('../../src/uploads/assemble.js');
  await assembleUpload(t.reel.db, t.reel.store, id);
  const chunks: Buffer[] = [];
  for await (const c of await t.reel.store.get(`sources/${id}/original`)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

hostileSuite('filesystem store', async () => {
  const t = await startTestReel({ roles: 'upload,play' });
  return { t, close: () => t.close() };
});

hostileSuite('S3 store', () => startS3Reel({ roles: 'upload,play' }));

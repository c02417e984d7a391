/** Request logs must not hand out what they log: a playback token in a /play path is replaced. */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggableUrl } from '../../src/http/requestLog.js';
import { newVideoId } from '../../src/storage/keys.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

describe('request logs', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play' });
  });
  afterAll(() => t.close());

  it('log each request once, without the playback token or the query string', async () => {
    const id = newVideoId();
    const token =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdmlkZW8ifQ.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw';
    const res = await fetch(`${t.url}/play/${id}/${token}/720p/index.m3u8?secret=query-value`);
    expect(res.status).toBe(404);
    const pub = await fetch(`${t.url}/play/${id}/public/master.m3u8`);
    expect(pub.status).toBe(404);

    const log = fs.readFileSync(t.logFile, 'utf8');
    expect(log).not.toContain(token);
    expect(log).not.toContain('query-value');
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string }; res?: { statusCode?: number } })
      .filter((l) => l.msg === 'request completed');
    const urls = lines.map((l) => l.req?.url);
    expect(urls).toContain(`/play/${id}/…/720p/index.m3u8`);
    expect(urls).toContain(`/play/${id}/public/master.m3u8`);
    expect(lines.find((l) => l.req?.url?.endsWith('index.m3u8'))?.res?.statusCode).toBe(404);
  });

  it('at info, a playback answer that succeeds is not logged; a refused one is', async () => {
    const quiet = await startTestReel({ roles: 'upload,play', 'log-level': 'info' });
    try {
      const id = newVideoId();
      await publishFake(quiet, id, 'public');
      expect((await fetch(`${quiet.url}/play/${id}/public/720p/seg_00000.m4s`)).status).toBe(200);
      expect((await fetch(`${quiet.url}/play/${id}/public/720p/seg_09999.m4s`)).status).toBe(404);
      expect((await quiet.api('/v1/videos')).status).toBe(200);
      const urls = fs
        .readFileSync(quiet.logFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string } })
        .filter((l) => l.msg === 'request completed')
        .map((l) => l.req?.url);
      expect(urls).toContain(`/play/${id}/public/720p/seg_09999.m4s`);
      expect(urls).toContain('/v1/videos');
      expect(urls).not.toContain(`/play/${id}/public/720p/seg_00000.m4s`);
    } finally {
      await quiet.close();
    }
  });

  it('loggableUrl keeps everything but the secret parts', () => {
    expect(loggableUrl('/v1/videos?limit=2&cursor=abc')).toBe('/v1/videos');
    expect(loggableUrl('/play/v1/public/a/seg_00001.m4s')).toBe('/play/v1/public/a/seg_00001.m4s');
    expect(loggableUrl('/play/v1/tok.en.x/a/seg_00001.m4s')).toBe('/play/v1/…/a/seg_00001.m4s');
  });
});

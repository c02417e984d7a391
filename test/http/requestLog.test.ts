/** Request logs must not hand out what they log: a playback token in a /play path is replaced. */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggableUrl } from '../../src/http/requestLog.js';
import { newVideoId } from '../../src/storage/keys.js';
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

  it('loggableUrl keeps everything but the secret parts', () => {
    expect(loggableUrl('/v1/videos?limit=2&cursor=abc')).toBe('/v1/videos');
    expect(loggableUrl('/play/v1/public/a/seg_00001.m4s')).toBe('/play/v1/public/a/seg_00001.m4s');
    expect(loggableUrl('/play/v1/tok.en.x/a/seg_00001.m4s')).toBe('/play/v1/…/a/seg_00001.m4s');
  });
});

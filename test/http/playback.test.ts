import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertUploadingVideo } from '../../src/db/videos.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

/** A published video without transcoding: rows and objects as a worker would leave them. */
async function publishFake(t: TestReel, id: string, policy: 'public' | 'signed', status = 'ready') {
  const { db, store } = t.reel;
  await insertUploadingVideo(db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: policy });
  const prefix = `videos/${id}/a1/`;
  await db.query(`UPDATE videos SET status = $2, output_prefix = $3 WHERE id = $1`, [id, status, prefix]);
  await store.put(
    `${prefix}master.m3u8`,
    Buffer.from('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n'),
  );
  await store.put(`${prefix}720p/index.m3u8`, Buffer.from('#EXTM3U\n#EXTINF:4,\nseg_00000.m4s\n'));
  await store.put(`${prefix}720p/seg_00000.m4s`, Buffer.from('0123456789abcdef'));
  await store.put(`${prefix}720p/init.mp4`, Buffer.from('init'));
}

describe('playback authorisation and delivery', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel();
    await publishFake(t, 'signedA', 'signed');
    await publishFake(t, 'signedB', 'signed');
    await publishFake(t, 'publicC', 'public');
    await publishFake(t, 'pendingD', 'public', 'processing');
  });
  afterAll(() => t.close());

  const playbackUrl = async (id: string) => {
    const res = await t.api(`/v1/videos/${id}/playback`);
    expect(res.status).toBe(200);
    return (await res.json()) as { url: string; expiresAt: string | null };
  };
  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    const body = await res.json();
    expect(body).toMatchObject({ statusCode: status, code });
    expect(typeof body.message).toBe('string');
    expect(typeof body.error).toBe('string');
  };
  const tokenOf = (url: string) => url.split('/')[5]!;

  it('a signed video plays with its token: master, child playlist and segments by relative URI', async () => {
    const { url, expiresAt } = await playbackUrl('signedA');
    expect(url).toMatch(new RegExp(`^${t.url}/play/signedA/[\\w-]+\\.[\\w-]+\\.[\\w-]+/master\\.m3u8$`));
    expect(new Date(expiresAt!).getTime()).toBeGreaterThan(Date.now() + 3000_000);
    const master = await fetch(url);
    expect(master.status).toBe(200);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(master.headers.get('cache-control')).toBe('public, max-age=10');
    expect(master.headers.get('access-control-allow-origin')).toBe('*');
    const child = new URL('720p/index.m3u8', url);
    expect((await fetch(child)).status).toBe(200);
    const seg = await fetch(new URL('seg_00000.m4s', child));
    expect(seg.status).toBe(200);
    expect(seg.headers.get('content-type')).toBe('video/iso.segment');
    expect(seg.headers.get('cache-control')).toContain('immutable');
    expect(await seg.text()).toBe('0123456789abcdef');
    const init = await fetch(new URL('init.mp4', child));
    expect(init.headers.get('content-type')).toBe('video/mp4');
  });

  it('serves byte ranges', async () => {
    const { url } = await playbackUrl('signedA');
    const seg = new URL('720p/seg_00000.m4s', url);
    const part = await fetch(seg, { headers: { Range: 'bytes=4-7' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 4-7/16');
    expect(await part.text()).toBe('4567');
    const tail = await fetch(seg, { headers: { Range: 'bytes=-3' } });
    expect(await tail.text()).toBe('def');
    await expectError(
      await fetch(seg, { headers: { Range: 'bytes=100-200' } }),
      416,
      'REEL_RANGE_NOT_SATISFIABLE',
    );
  });

  it('401 without a token, 403 with another video’s, a tampered or an expired token', async () => {
    await expectError(await fetch(`${t.url}/play/signedA/public/master.m3u8`), 401, 'REEL_MISSING_TOKEN');
    await expectError(
      await fetch(`${t.url}/play/signedA/not-a-token/master.m3u8`),
      401,
      'REEL_MALFORMED_TOKEN',
    );

    const tokenB = tokenOf((await playbackUrl('signedB')).url);
    await expectError(
      await fetch(`${t.url}/play/signedA/${tokenB}/master.m3u8`),
      403,
      'REEL_TOKEN_WRONG_VIDEO',
    );

    const tokenA = tokenOf((await playbackUrl('signedA')).url);
    const [h, p, s] = tokenA.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...payload, exp: payload.exp + 86400 })).toString(
      'base64url',
    );
    await expectError(
      await fetch(`${t.url}/play/signedA/${h}.${forged}.${s}/master.m3u8`),
      403,
      'REEL_INVALID_TOKEN',
    );
    const flipped = s.slice(0, -2) + (s.endsWith('AA') ? 'BB' : 'AA');
    await expectError(
      await fetch(`${t.url}/play/signedA/${h}.${p}.${flipped}/master.m3u8`),
      403,
      'REEL_INVALID_TOKEN',
    );

    // An expired token signed with the server's own key.
    const key = (
      await t.reel.db.query<{ kid: string; secret: string }>('SELECT kid, secret FROM signing_keys')
    )[0]!;
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .setSubject('signedA')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(Buffer.from(key.secret, 'base64url'));
    await expectError(await fetch(`${t.url}/play/signedA/${expired}/master.m3u8`), 403, 'REEL_EXPIRED_TOKEN');
    // ... and the same claims unexpired do play: the key really is the server's.
    const fresh = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .setSubject('signedA')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 60)
      .sign(Buffer.from(key.secret, 'base64url'));
    expect((await fetch(`${t.url}/play/signedA/${fresh}/master.m3u8`)).status).toBe(200);
    // alg "none" is refused.
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect((await fetch(`${t.url}/play/signedA/${none}x/master.m3u8`)).status).toBeGreaterThanOrEqual(401);
  });

  it('a public video plays without a token', async () => {
    const { url, expiresAt } = await playbackUrl('publicC');
    expect(url).toBe(`${t.url}/play/publicC/public/master.m3u8`);
    expect(expiresAt).toBeNull();
    expect((await fetch(url)).status).toBe(200);
  });

  it('404 when unknown, not ready, or not a file of the ladder', async () => {
    await expectError(await fetch(`${t.url}/play/nope/public/master.m3u8`), 404, 'REEL_VIDEO_NOT_FOUND');
    await expectError(await fetch(`${t.url}/play/pendingD/public/master.m3u8`), 404, 'REEL_VIDEO_NOT_READY');
    await expectError(await fetch(`${t.url}/play/publicC/public/720p/seg_00099.m4s`), 404, 'REEL_NOT_FOUND');
    await expectError(await fetch(`${t.url}/play/publicC/public/secret.txt`), 404, 'REEL_NOT_FOUND');
  });

  it('path traversal never leaves the store', async () => {
    for (const p of [
      '/play/publicC/public/..%2F..%2F..%2Fetc%2Fpasswd',
      '/play/publicC/public/720p/..%2F..%2F..%2F..%2Freel.lock',
      '/play/..%2F..%2Fetc/public/master.m3u8',
      '/play/publicC/public/%2e%2e/%2e%2e/%2e%2e/reel.log',
    ]) {
      const res = await fetch(t.url + p);
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.status, p).toBeLessThan(500);
      expect((await res.json()).code, p).toMatch(/^REEL_/);
    }
  });

  it('answers CORS preflight for players on other origins', async () => {
    const res = await fetch(`${t.url}/play/publicC/public/master.m3u8`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://example.com', 'Access-Control-Request-Method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toContain('Range');
  });
});

import { decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { rotateSigningKey } from '../../src/db/signingKeys.js';
import { publishFake, publishLadder } from '../helpers/publish.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';

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
    expect(master.headers.get('cache-control')).toBe('private, max-age=10');
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

  it('signed videos are private in caches and never kept past their token; public videos are public', async () => {
    const { url } = await playbackUrl('signedA');
    const master = await fetch(url);
    expect(master.headers.get('cache-control')).toBe('private, max-age=10');
    const child = new URL((await master.text()).trim().split('\n').pop()!, url);
    const playlist = await fetch(child);
    expect(playlist.status).toBe(200);
    expect(playlist.headers.get('cache-control')).toBe('private, max-age=10');
    for (const file of ['seg_00000.m4s', 'init.mp4']) {
      const res = await fetch(new URL(file, child));
      expect(res.status).toBe(200);
      const cc = res.headers.get('cache-control')!;
      expect(cc, file).toMatch(/^private, max-age=\d+, immutable$/);
      // Not beyond the token that authorised it (a session: the video's duration and the allowance).
      expect(Number(/max-age=(\d+)/.exec(cc)![1]), file).toBeLessThanOrEqual(4 * 3600 + 60);
    }
    // The same through the playback token itself, before it expires: no longer than the token.
    const direct = await fetch(new URL('720p/seg_00000.m4s', url));
    expect(direct.status).toBe(200);
    const left = Number(/max-age=(\d+)/.exec(direct.headers.get('cache-control')!)![1]);
    expect(left).toBeGreaterThan(3500);
    expect(left).toBeLessThanOrEqual(3600);

    const pub = (await playbackUrl('publicC')).url;
    expect((await fetch(pub)).headers.get('cache-control')).toBe('public, max-age=10');
    expect((await fetch(new URL('720p/index.m3u8', pub))).headers.get('cache-control')).toBe(
      'public, max-age=10',
    );
    expect((await fetch(new URL('720p/seg_00000.m4s', pub))).headers.get('cache-control')).toBe(
      'public, max-age=31536000, immutable',
    );
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

describe('a playback that started with a valid token finishes after the token expires', () => {
  let t: TestReel;
  let files: string[];
  const TTL = 3;
  const ALLOWANCE = 600;
  beforeAll(async () => {
    t = await startTestReel({
      'token-ttl-seconds': String(TTL),
      'session-allowance-seconds': String(ALLOWANCE),
    });
    files = await publishLadder(t, 'filmA', 'signed', 20_000);
    await publishLadder(t, 'filmB', 'signed');
  });
  afterAll(() => t.close());

  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ statusCode: status, code });
  };
  /** Every URI of a playlist, as a player resolves it against the playlist's URL. */
  const urisOf = (text: string, base: string) =>
    text
      .split('\n')
      .flatMap((line) => {
        if (line.startsWith('#')) return [...line.matchAll(/URI="([^"]*)"/g)].map((m) => m[1]!);
        return line.trim() ? [line.trim()] : [];
      })
      .map((u) => new URL(u, base).href);
  const accessOf = (u: string) => new URL(u).pathname.split('/')[3]!;

  it('start, wait past the token’s expiry: every playlist and segment still plays; the expired token cannot start again', async () => {
    const res = await t.api('/v1/videos/filmA/playback');
    const { url, expiresAt } = (await res.json()) as { url: string; expiresAt: string };
    const startToken = accessOf(url);
    expect(new Date(expiresAt).getTime()).toBeLessThanOrEqual(Date.now() + TTL * 1000);

    // Start: the master, one media playlist and its first segment, as a player does.
    const master = await fetch(url);
    expect(master.status).toBe(200);
    const masterText = await master.text();
    const renditions = urisOf(masterText, url);
    expect(renditions.map((u) => new URL(u).pathname.split('/').slice(4).join('/')).sort()).toEqual([
      '240p/index.m3u8',
      '720p/index.m3u8',
      'audio/index.m3u8',
    ]);
    const session = accessOf(renditions[0]!);
    const hd = renditions.find((u) => u.includes('/720p/'))!;
    const hdText = await (await fetch(hd)).text();
    const firstSegment = urisOf(hdText, hd).find((u) => u.endsWith('seg_00000.m4s'))!;
    expect(await (await fetch(firstSegment)).text()).toBe('filmA/720p/seg_00000.m4s');

    // A paused tab: the clock moves past the playback token's expiry (only Date is faked; it keeps running).
    vi.useFakeTimers({
      toFake: ['Date'],
      now: new Date(expiresAt).getTime() + 1200,
      shouldAdvanceTime: true,
    });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    await expectError(await fetch(url), 403, 'REEL_EXPIRED_TOKEN');
    await expectError(await fetch(new URL('720p/seg_00001.m4s', url)), 403, 'REEL_EXPIRED_TOKEN');

    // Every remaining playlist (reloaded too, as hls.js does on a switch) and every segment still plays.
    let played = 0;
    for (const playlist of renditions) {
      const r = await fetch(playlist);
      expect(r.status, playlist).toBe(200);
      for (const u of urisOf(await r.text(), playlist)) {
        const seg = await fetch(u);
        expect(seg.status, u).toBe(200);
        expect(await seg.text()).toBe(`filmA/${new URL(u).pathname.split('/').slice(4).join('/')}`);
        played++;
      }
    }
    expect(played).toBe(files.length - 3);

    // What carried it: the renditions go through one session token, which outlives the playback token by
    // what the video needs (3 × 20 s + the allowance).
    expect(session).not.toBe(startToken);
    for (const u of renditions) expect(accessOf(u)).toBe(session);
    const claims = JSON.parse(Buffer.from(session.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'filmA', scope: 'session' });
    expect(claims.exp * 1000).toBeGreaterThanOrEqual(Date.now() + (3 * 20 + ALLOWANCE - 10) * 1000);

    // The session cannot start a playback: not the master, not the watch page.
    const viaSession = new URL(`/play/filmA/${session}/master.m3u8`, t.url);
    await expectError(await fetch(viaSession), 403, 'REEL_SESSION_TOKEN');
    await expectError(await fetch(`${t.url}/watch/filmA/${session}/info`), 403, 'REEL_SESSION_TOKEN');
    // It plays only its own video.
    await expectError(
      await fetch(`${t.url}/play/filmB/${session}/720p/index.m3u8`),
      403,
      'REEL_TOKEN_WRONG_VIDEO',
    );
    await expectError(
      await fetch(`${t.url}/play/filmB/${session}/master.m3u8`),
      403,
      'REEL_TOKEN_WRONG_VIDEO',
    );
  });

  it('a tampered session token fails; an expired one fails; it cannot be turned into a playback token', async () => {
    const { url } = (await (await t.api('/v1/videos/filmA/playback')).json()) as { url: string };
    const session = accessOf(urisOf(await (await fetch(url)).text(), url)[0]!);
    const [h, p, s] = session.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const edit = (c: object) => `${h}.${Buffer.from(JSON.stringify(c)).toString('base64url')}.${s}`;
    const seg = (token: string) => `${t.url}/play/filmA/${token}/720p/seg_00000.m4s`;
    expect((await fetch(seg(session))).status).toBe(200);
    // Longer, for another video, or without its session mark (to fetch a master): the signature fails.
    await expectError(
      await fetch(seg(edit({ ...claims, exp: claims.exp + 86400 }))),
      403,
      'REEL_INVALID_TOKEN',
    );
    await expectError(
      await fetch(`${t.url}/play/filmB/${edit({ ...claims, sub: 'filmB' })}/720p/seg_00000.m4s`),
      403,
      'REEL_INVALID_TOKEN',
    );
    const { scope: _scope, ...unscoped } = claims;
    await expectError(
      await fetch(`${t.url}/play/filmA/${edit(unscoped)}/master.m3u8`),
      403,
      'REEL_INVALID_TOKEN',
    );
    const flipped = s.slice(0, -2) + (s.endsWith('AA') ? 'BB' : 'AA');
    await expectError(await fetch(seg(`${h}.${p}.${flipped}`)), 403, 'REEL_INVALID_TOKEN');

    // A session does end: one signed with the server's own key but past its expiry is refused.
    const key = (
      await t.reel.db.query<{ kid: string; secret: string }>(
        'SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL',
      )
    )[0]!;
    const ended = await new SignJWT({ scope: 'session' })
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .setSubject('filmA')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
      .sign(Buffer.from(key.secret, 'base64url'));
    await expectError(await fetch(seg(ended)), 403, 'REEL_EXPIRED_TOKEN');
  });
});

describe('signing keys rotated by another process', () => {
  let t: TestReel;
  beforeAll(async () => {
    // Sessions of the 1 s video last 3 × 1 + 3 = 6 s; tokens 2 s: the old key is outlived 1 + 6 = 7 s after
    // the rotation.
    t = await startTestReel({
      'token-ttl-seconds': '2',
      'session-allowance-seconds': '3',
      'signing-key-refresh-seconds': '1',
    });
    await publishLadder(t, 'keyA', 'signed', 1000);
  });
  afterAll(() => t.close());

  const issue = async () => {
    const { url } = (await (await t.api('/v1/videos/keyA/playback')).json()) as { url: string };
    return { url, kid: decodeProtectedHeader(url.split('/')[5]!).kid as string };
  };

  it('are picked up without a restart; the old key verifies until its tokens are outlived, then retires by itself', async () => {
    const old = await issue();
    const master = await (await fetch(old.url)).text();
    const oldSession = new URL(/^720p\/index\.m3u8$|^\.\.\/.*720p\/index\.m3u8$/m.exec(master)![0], old.url);
    expect((await fetch(oldSession)).status).toBe(200);

    const kid = await rotateSigningKey(t.reel.db); // as `reel keys rotate-signing` in another process
    await waitFor('a token signed with the new key', async () => (await issue()).kid === kid, 5_000);
    // The session the old key signed still plays, and the old key is not retired while it can.
    expect((await fetch(oldSession)).status).toBe(200);
    const state = () =>
      t.reel.db.query<{ kid: string; secret: string; created_at: Date; retired_at: Date | null }>(
        'SELECT kid, secret, created_at, retired_at FROM signing_keys ORDER BY created_at',
      );
    expect((await state()).find((k) => k.kid === old.kid)!.retired_at).toBeNull();

    const retired = await waitFor(
      'the old key retired',
      async () => (await state()).find((k) => k.kid === old.kid && k.retired_at),
      15_000,
    );
    const rotatedAt = new Date((await state()).find((k) => k.kid === kid)!.created_at).getTime();
    expect(new Date(retired.retired_at!).getTime() - rotatedAt).toBeGreaterThanOrEqual(7_000);
    expect(retired.secret).toBe('');
    expect((await state()).find((k) => k.kid === kid)!.retired_at).toBeNull();
    // The new key goes on signing and verifying.
    const now = await issue();
    expect(now.kid).toBe(kid);
    expect((await fetch(now.url)).status).toBe(200);
  });
});

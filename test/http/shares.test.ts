/**
 * Share links (issue 14) against a real Reel with published fake ladders (no transcoding): create, list,
 * revoke; expiry; a signed video played through /s/{id}/playback with a fresh token each time (master and a
 * segment fetched, after the first token expired); revoked → refused at once; a deleted video → gone; and
 * the hostile side: another video's share under this video's routes, a read key, malformed ids, sizes that
 * lie, a share id smuggled into a query string or a token's place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { publishLadder } from '../helpers/publish.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

interface ShareView {
  id: string;
  videoId: string;
  url: string;
  embedUrl: string;
  label: string;
  expiresAt: string | null;
  expired: boolean;
  views: number;
  createdAt: string;
}
interface SharePlayback {
  url: string;
  expiresAt: string | null;
  shareExpiresAt: string | null;
  title: string;
  status: string;
  playable: boolean;
  posterUrl: string | null;
}

const TTL = 3;

describe('share links', () => {
  let t: TestReel;
  let readKey: string;
  const signed = 'shsigned';
  const other = 'shother';
  const pub = 'shpublic';

  const post = (id: string, body: unknown, key?: string) =>
    fetch(`${t.url}/v1/videos/${id}/shares`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        Authorization: `Bearer ${key ?? t.apiKey}`,
      },
      body: JSON.stringify(body),
    });
  const make = async (id: string, body: unknown = { expiresIn: '7d' }) => {
    const res = await post(id, body);
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as ShareView;
  };
  const list = async (id: string) =>
    ((await (await t.api(`/v1/videos/${id}/shares`)).json()) as { data: ShareView[] }).data;
  const playback = (shareId: string, renew = false) =>
    fetch(`${t.url}/s/${shareId}/playback${renew ? '?renew=1' : ''}`);
  const code = async (res: Response) => ((await res.json()) as { code: string }).code;

  beforeAll(async () => {
    t = await startTestReel({ 'token-ttl-seconds': String(TTL), 'session-allowance-seconds': '0' });
    await Promise.all([
      publishLadder(t, signed, 'signed', 4000),
      publishLadder(t, other, 'signed', 4000),
      publishLadder(t, pub, 'public', 4000),
    ]);
    const key = await t.api('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'viewer', scopes: ['read'] }),
    });
    readKey = ((await key.json()) as { key: string }).key;
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  it('creates links that last as chosen, lists them newest first with views, and revokes one at once', async () => {
    const day = await make(signed, { expiresIn: '1d', label: 'newsletter' });
    const never = await make(signed, { expiresIn: 'never' });
    const secs = await make(signed, { expiresIn: 3600 });
    expect(day.id).toMatch(/^[0-9A-Za-z]{22}$/);
    expect(day.url).toBe(`${t.url}/s/${day.id}`);
    expect(day.embedUrl).toBe(`${t.url}/s/${day.id}/embed`);
    expect(day.label).toBe('newsletter');
    expect(new Date(day.expiresAt!).getTime() - Date.now()).toBeGreaterThan(86_000_000);
    expect(never.expiresAt).toBeNull();
    expect(new Date(secs.expiresAt!).getTime() - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(new Set([day.id, never.id, secs.id]).size).toBe(3);

    // A page load counts a view; renewals do not.
    expect((await playback(never.id)).status).toBe(200);
    expect((await playback(never.id, true)).status).toBe(200);
    const listed = await list(signed);
    expect(listed.map((s) => s.id)).toEqual([secs.id, never.id, day.id]);
    expect(listed.find((s) => s.id === never.id)!.views).toBe(1);

    // Revoked: gone from the list, and the page and playback refuse at once (410, a page that says why).
    const del = await t.api(`/v1/videos/${signed}/shares/${day.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const refused = await playback(day.id);
    expect(refused.status).toBe(410);
    expect(await code(refused)).toBe(errors.shareRevoked.code);
    const page = await fetch(`${t.url}/s/${day.id}`);
    expect(page.status).toBe(410);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect((await list(signed)).map((s) => s.id)).not.toContain(day.id);
    // Twice: nothing left to revoke.
    expect((await t.api(`/v1/videos/${signed}/shares/${day.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('plays a signed video through fresh tokens, after the first one expired', async () => {
    const share = await make(signed, { expiresIn: '7d' });
    const page = await fetch(`${t.url}/s/${share.id}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const embed = await fetch(`${t.url}/s/${share.id}/embed`);
    expect(embed.headers.get('content-security-policy')).toContain('frame-ancestors *');

    const first = (await (await playback(share.id)).json()) as SharePlayback;
    expect(first.playable).toBe(true);
    expect(first.expiresAt).not.toBeNull();
    expect(first.shareExpiresAt).toBe(share.expiresAt);
    expect(first.url).toMatch(new RegExp(`^${t.url}/play/${signed}/[^/]+\\.[^/]+\\.[^/]+/master\\.m3u8$`));

    await new Promise((r) => setTimeout(r, (TTL + 1.1) * 1000));
    const stale = await fetch(first.url);
    expect(stale.status).toBe(403);
    expect(await code(stale)).toBe(errors.expiredToken.code);

    const fresh = (await (await playback(share.id, true)).json()) as SharePlayback;
    expect(fresh.url).not.toBe(first.url);
    const master = await fetch(fresh.url);
    expect(master.status).toBe(200);
    const text = await master.text();
    const variant = text.split('\n').find((l) => l.endsWith('720p/index.m3u8'))!;
    const media = await fetch(new URL(variant, fresh.url));
    expect(media.status).toBe(200);
    const seg = (await media.text()).split('\n').find((l) => l.startsWith('seg_'))!;
    const segment = await fetch(new URL(seg, media.url));
    expect(segment.status).toBe(200);
    expect(await segment.text()).toBe(`${signed}/720p/${seg}`);
    const poster = fresh.posterUrl!;
    expect(poster).toContain(`/play/${signed}/`);
  });

  it('plays a public video through its share link with no token; expired links are refused', async () => {
    const share = await make(pub, { expiresIn: 60 });
    const p = (await (await playback(share.id)).json()) as SharePlayback;
    expect(p.url).toBe(`${t.url}/play/${pub}/public/master.m3u8`);
    expect(p.expiresAt).toBeNull();
    await t.reel.db.query(`UPDATE share_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      share.id,
    ]);
    const refused = await playback(share.id);
    expect(refused.status).toBe(410);
    expect(await code(refused)).toBe(errors.shareExpired.code);
    expect((await fetch(`${t.url}/s/${share.id}/embed`)).status).toBe(410);
    const listed = (await list(pub)).find((s) => s.id === share.id)!;
    expect(listed.expired).toBe(true);
    // An expired link still counts no views.
    expect(listed.views).toBe(1);
  });

  it('is gone with its video', async () => {
    const id = 'shdoomed';
    await publishLadder(t, id, 'signed', 4000);
    const share = await make(id, { expiresIn: 'never' });
    expect((await playback(share.id)).status).toBe(200);
    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    const gone = await playback(share.id);
    expect(gone.status).toBe(404);
    expect(await code(gone)).toBe(errors.shareNotFound.code);
    expect((await fetch(`${t.url}/s/${share.id}`)).status).toBe(404);
  });

  it('refuses what is not its own, malformed, oversized, or without the scope', async () => {
    const mine = await make(other, { expiresIn: '7d' });
    // Another video's share under this video's routes: unknown, and untouched.
    const cross = await t.api(`/v1/videos/${signed}/shares/${mine.id}`, { method: 'DELETE' });
    expect(cross.status).toBe(404);
    expect(await code(cross)).toBe(errors.shareNotFound.code);
    expect((await playback(mine.id)).status).toBe(200);
    expect((await list(signed)).map((s) => s.id)).not.toContain(mine.id);
    // A share plays its own video only: its token is for that video.
    const p = (await (await playback(mine.id, true)).json()) as SharePlayback;
    const token = new URL(p.url).pathname.split('/')[3]!;
    const stolen = await fetch(`${t.url}/play/${signed}/${token}/master.m3u8`);
    expect(stolen.status).toBe(403);
    expect(await code(stolen)).toBe(errors.tokenForOtherVideo.code);

    // A read key lists but cannot create or revoke; no key does nothing.
    const asRead = await post(signed, { expiresIn: '1d' }, readKey);
    expect(asRead.status).toBe(403);
    expect(await code(asRead)).toBe(errors.scopeDenied.code);
    const readList = await fetch(`${t.url}/v1/videos/${signed}/shares`, {
      headers: { Authorization: `Bearer ${readKey}` },
    });
    expect(readList.status).toBe(200);
    const readDel = await fetch(`${t.url}/v1/videos/${other}/shares/${mine.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${readKey}` },
    });
    expect(readDel.status).toBe(403);
    expect((await fetch(`${t.url}/v1/videos/${signed}/shares`)).status).toBe(401);

    // Bodies that lie or overflow.
    for (const body of [
      {},
      { expiresIn: '30d' },
      { expiresIn: 59 },
      { expiresIn: -5 },
      { expiresIn: 1e12 },
      { expiresIn: 3600.5 },
      { expiresIn: '1d', label: 'x'.repeat(101) },
      { expiresIn: '1d', label: 'a\u0000b' },
    ]) {
      const res = await post(signed, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    // A video id smuggled into the body is dropped: the link is for the video in the path.
    const smuggled = await make(signed, { expiresIn: '1d', videoId: other });
    expect(smuggled.videoId).toBe(signed);
    expect((await post('nosuchvideo', { expiresIn: '1d' })).status).toBe(404);
    expect((await post('../etc', { expiresIn: '1d' })).status).toBe(404);

    // Malformed or unknown share ids: the same 404, whatever the shape.
    for (const bad of [
      'short',
      'x'.repeat(22).replace(/^x/, '!'),
      'A'.repeat(22),
      'A'.repeat(65),
      'A%2F..%2Fx',
      '%00',
    ]) {
      const res = await playback(bad);
      expect([400, 404], bad).toContain(res.status);
      expect((await fetch(`${t.url}/s/${bad}`)).status, bad).toBeGreaterThanOrEqual(400);
    }
    expect((await t.api(`/v1/videos/${other}/shares/${'A'.repeat(22)}`, { method: 'DELETE' })).status).toBe(
      404,
    );
    expect((await t.api(`/v1/videos/${other}/shares/bad!id`, { method: 'DELETE' })).status).toBe(404);
  });

  it('grants nothing to a share id anywhere but /s/', async () => {
    const share = await make(signed, { expiresIn: '7d' });
    const s = share.id;
    for (const [path, init] of [
      [`/v1/videos/${signed}?share=${s}`, {}],
      [`/v1/videos/${signed}/playback?share=${s}`, {}],
      [`/v1/videos/${signed}/shares?share=${s}`, {}],
      [`/play/${signed}/public/master.m3u8?share=${s}`, {}],
      [`/play/${signed}/${s}/master.m3u8`, {}],
      [`/watch/${signed}/${s}/info`, {}],
      [`/watch/${signed}/public/info?share=${s}`, {}],
    ] as const) {
      const res = await fetch(`${t.url}${path}`, init);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    // Nor as an API key.
    const asKey = await fetch(`${t.url}/v1/videos/${signed}/shares`, {
      headers: { Authorization: `Bearer ${s}` },
    });
    expect(asKey.status).toBe(401);
    // /s/{id}/playback answers only GET, and its id only in the path.
    expect((await fetch(`${t.url}/s/playback?id=${s}`)).status).toBe(404);
  });

  it('caps the working links of one video', async () => {
    const id = 'shmany';
    await publishLadder(t, id, 'public', 4000);
    await t.reel.db.query(
      `INSERT INTO share_links (id, video_id) SELECT 'cap' || lpad(g::text, 19, '0'), $1 FROM generate_series(1, 100) g`,
      [id],
    );
    const res = await post(id, { expiresIn: '1d' });
    expect(res.status).toBe(409);
    expect(await code(res)).toBe(errors.shareLimit.code);
  });
});

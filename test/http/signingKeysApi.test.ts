/**
 * Customer signing keys: an admin makes a key pair (POST /v1/signing-keys), signs playback tokens with
 * `jose` on their own side, and those tokens play under the same 401/403 rules as Reel's own; deleting the
 * key stops new playbacks at once while playbacks already started finish.
 */
import crypto from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/db/apiKeys.js';
import { deleteCustomerSigningKey, MAX_CUSTOMER_SIGNING_KEYS } from '../../src/db/customerSigningKeys.js';
import { CUSTOMER_CLOCK_TOLERANCE_SECONDS } from '../../src/http/tokens.js';
import { publishLadder } from '../helpers/publish.js';
import { startTestReel, type TestReel } from '../helpers/reel.js';

interface Created {
  id: string;
  privateKey: string;
  createdAt: string;
}

const TTL = 600;

describe('customer signing keys', () => {
  let t: TestReel;
  let readKey: string;
  let writeKey: string;
  /** Two live keys the playback tests share (making an RSA key costs a quarter of a second or more). */
  let key: Created;
  let other: Created;
  beforeAll(async () => {
    // A session allowance below the token lifetime, so that a session's length shows which one set it.
    t = await startTestReel({ 'token-ttl-seconds': String(TTL), 'session-allowance-seconds': '60' });
    readKey = (await createApiKey(t.reel.db, 'reader', ['read'])).secret;
    writeKey = (await createApiKey(t.reel.db, 'writer', ['write'])).secret;
    await publishLadder(t, 'filmA', 'signed', 12_000);
    await publishLadder(t, 'filmB', 'signed', 12_000);
    [key, other] = await Promise.all([create(), create()]);
  });
  afterAll(() => t?.close());

  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ statusCode: status, code });
  };
  const create = async (): Promise<Created> => {
    const res = await t.api('/v1/signing-keys', { method: 'POST' });
    expect(res.status).toBe(201);
    return (await res.json()) as Created;
  };
  const now = () => Math.floor(Date.now() / 1000);
  /** What the README shows: a token minted with jose. */
  const mint = async (key: Created, claims: { sub?: string; exp?: number }, kid = key.id) => {
    const jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid });
    if (claims.sub) jwt.setSubject(claims.sub);
    if (claims.exp) jwt.setExpirationTime(claims.exp);
    return jwt.sign(await importPKCS8(key.privateKey, 'RS256'));
  };
  const master = (video: string, token: string) => fetch(`${t.url}/play/${video}/${token}/master.m3u8`);
  const urisOf = (text: string, base: string) =>
    text
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => new URL(l.trim(), base).href);

  it('create shows a PKCS#8 private key once; the list shows public keys only; admin keys only', async () => {
    const key = await create();
    expect(key.id).toMatch(/^pk_[0-9a-f]{24}$/);
    expect(key.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n?$/);
    expect(Math.abs(new Date(key.createdAt).getTime() - Date.now())).toBeLessThan(60_000);
    await importPKCS8(key.privateKey, 'RS256'); // what a customer's code does with it
    expect(crypto.createPrivateKey(key.privateKey).asymmetricKeyDetails?.modulusLength).toBe(2048);

    const list = (await (await t.api('/v1/signing-keys')).json()) as {
      data: { id: string; publicKey: string; createdAt: string }[];
    };
    const listed = list.data.find((k) => k.id === key.id)!;
    expect(listed).toEqual({ id: key.id, publicKey: expect.any(String), createdAt: key.createdAt });
    // The public key listed is the private key's other half; nothing private is ever listed or stored.
    expect(listed.publicKey).toBe(
      crypto.createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString(),
    );
    expect(JSON.stringify(list)).not.toMatch(/PRIVATE/);
    const stored = await t.reel.db.query('SELECT * FROM customer_signing_keys');
    expect(JSON.stringify(stored)).not.toMatch(/PRIVATE/);

    // read and write keys may not manage signing keys; no key at all is 401.
    for (const secret of [readKey, writeKey]) {
      const as = { headers: { Authorization: `Bearer ${secret}` } };
      await expectError(
        await fetch(`${t.url}/v1/signing-keys`, { ...as, method: 'POST' }),
        403,
        'REEL_SCOPE_DENIED',
      );
      await expectError(await fetch(`${t.url}/v1/signing-keys`, as), 403, 'REEL_SCOPE_DENIED');
      await expectError(
        await fetch(`${t.url}/v1/signing-keys/${key.id}`, { ...as, method: 'DELETE' }),
        403,
        'REEL_SCOPE_DENIED',
      );
    }
    await expectError(await fetch(`${t.url}/v1/signing-keys`), 401, 'REEL_MISSING_API_KEY');
    expect((await t.api('/v1/signing-keys')).status).toBe(200); // it is still there

    // Delete: 204, then 404; it is no longer listed. Reel's own token keys are not customer keys.
    expect((await t.api(`/v1/signing-keys/${key.id}`, { method: 'DELETE' })).status).toBe(204);
    await expectError(
      await t.api(`/v1/signing-keys/${key.id}`, { method: 'DELETE' }),
      404,
      'REEL_CUSTOMER_SIGNING_KEY_NOT_FOUND',
    );
    const ids = ((await (await t.api('/v1/signing-keys')).json()) as { data: { id: string }[] }).data;
    expect(ids.map((k) => k.id)).not.toContain(key.id);
    const reelKid = (await t.reel.db.query<{ kid: string }>('SELECT kid FROM signing_keys'))[0]!.kid;
    await expectError(
      await t.api(`/v1/signing-keys/${reelKid}`, { method: 'DELETE' }),
      404,
      'REEL_CUSTOMER_SIGNING_KEY_NOT_FOUND',
    );
    await expectError(
      await t.api('/v1/signing-keys/..%2Fx', { method: 'DELETE' }),
      400,
      'REEL_INVALID_REQUEST',
    );
  });

  it(`at most ${MAX_CUSTOMER_SIGNING_KEYS} keys are live at once`, async () => {
    const live = (
      await t.reel.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM customer_signing_keys WHERE deleted_at IS NULL',
      )
    )[0]!.n;
    const filler = Array.from({ length: MAX_CUSTOMER_SIGNING_KEYS - live }, (_, i) => `pk_filler${i}`);
    for (const id of filler) {
      await t.reel.db.query(`INSERT INTO customer_signing_keys (id, public_key) VALUES ($1, 'x')`, [id]);
    }
    await expectError(await t.api('/v1/signing-keys', { method: 'POST' }), 409, 'REEL_TOO_MANY_SIGNING_KEYS');
    expect((await t.api(`/v1/signing-keys/${filler[0]}`, { method: 'DELETE' })).status).toBe(204);
    await create(); // a slot was freed
    for (const id of filler.slice(1)) await deleteCustomerSigningKey(t.reel.db, id);
  });

  it('a token minted with jose plays: master, child playlists and segments; the master starts a Reel session', async () => {
    const token = await mint(key, { sub: 'filmA', exp: now() + 300 });
    const res = await master('filmA', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, max-age=10');
    const base = `${t.url}/play/filmA/${token}/master.m3u8`;
    const text = await res.text();
    const children = urisOf(text, base);
    expect(children.length).toBe(2);
    // The children go through a session token Reel signed (HS256, its own kid), as for Reel's tokens.
    const session = new URL(children[0]!).pathname.split('/')[3]!;
    const header = JSON.parse(Buffer.from(session.split('.')[0]!, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'HS256' });
    expect(header.kid).not.toMatch(/^pk_/);
    let segments = 0;
    for (const child of children) {
      const playlist = await fetch(child);
      expect(playlist.status).toBe(200);
      for (const u of urisOf(await playlist.text(), child)) {
        const seg = await fetch(u);
        expect(seg.status, u).toBe(200);
        expect(await seg.text()).toBe(`filmA/${new URL(u).pathname.split('/').slice(4).join('/')}`);
        segments++;
      }
    }
    expect(segments).toBe(6);
    // The customer token itself also reaches media files (as a Reel playback token does) and the watch page.
    expect((await fetch(`${t.url}/play/filmA/${token}/240p/seg_00001.m4s`)).status).toBe(200);
    const info = await fetch(`${t.url}/watch/filmA/${token}/info`);
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ id: 'filmA', playable: true });
    // A `scope: session` claim does not make it a session token: it still starts playbacks.
    const scoped = await new SignJWT({ scope: 'session' })
      .setProtectedHeader({ alg: 'RS256', kid: key.id })
      .setSubject('filmA')
      .setExpirationTime(now() + 60)
      .sign(await importPKCS8(key.privateKey, 'RS256'));
    expect((await master('filmA', scoped)).status).toBe(200);
  });

  it('a far-off exp plays, but the session it starts lasts no longer than one of Reel’s own tokens would', async () => {
    const token = await mint(key, { sub: 'filmA', exp: now() + 10 * 365 * 86400 });
    const text = await (await master('filmA', token)).text();
    const session = new URL(urisOf(text, `${t.url}/play/filmA/${token}/master.m3u8`)[0]!).pathname.split(
      '/',
    )[3]!;
    const claims = JSON.parse(Buffer.from(session.split('.')[1]!, 'base64url').toString());
    // Reel's own token lifetime (600 s) here, more than the 12 s video needs (3 × 12 s + 60 s).
    expect(claims.exp).toBeLessThanOrEqual(now() + TTL + 5);
    expect(claims.exp).toBeGreaterThanOrEqual(now() + TTL - 5);
  });

  it('refuses as Reel refuses its own tokens: other video, expired, no exp, tampered, alg confusion, unknown kid', async () => {
    await expectError(
      await master('filmB', await mint(key, { sub: 'filmA', exp: now() + 60 })),
      403,
      'REEL_TOKEN_WRONG_VIDEO',
    );
    await expectError(
      await master(
        'filmA',
        await mint(key, { sub: 'filmA', exp: now() - CUSTOMER_CLOCK_TOLERANCE_SECONDS - 30 }),
      ),
      403,
      'REEL_EXPIRED_TOKEN',
    );
    // A customer's clock a few seconds off ours is tolerated.
    expect((await master('filmA', await mint(key, { sub: 'filmA', exp: now() - 5 }))).status).toBe(200);
    await expectError(
      await master('filmA', await mint(key, { sub: 'filmA' })),
      401,
      'REEL_TOKEN_CLAIM_MISSING',
    );
    await expectError(
      await master('filmA', await mint(key, { exp: now() + 60 })),
      401,
      'REEL_TOKEN_CLAIM_MISSING',
    );

    // Tampered: another video or a later expiry under the same signature.
    const good = await mint(key, { sub: 'filmA', exp: now() + 60 });
    const [h, p, s] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const edit = (c: object) => `${h}.${Buffer.from(JSON.stringify(c)).toString('base64url')}.${s}`;
    await expectError(await master('filmB', edit({ ...claims, sub: 'filmB' })), 403, 'REEL_INVALID_TOKEN');
    await expectError(
      await master('filmA', edit({ ...claims, exp: claims.exp + 86400 })),
      403,
      'REEL_INVALID_TOKEN',
    );
    const flipped = s.slice(0, -2) + (s.endsWith('AA') ? 'BB' : 'AA');
    await expectError(await master('filmA', `${h}.${p}.${flipped}`), 403, 'REEL_INVALID_TOKEN');

    // Alg confusion: HS256 keyed with the (listed, public) PEM; alg none; RS256 naming one of Reel's kids.
    const listed = (
      (await (await t.api('/v1/signing-keys')).json()) as { data: { id: string; publicKey: string }[] }
    ).data.find((k) => k.id === key.id)!;
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: key.id })
      .setSubject('filmA')
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(listed.publicKey));
    await expectError(await master('filmA', hs), 403, 'REEL_INVALID_TOKEN');
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', kid: key.id })}.${p}.`;
    await expectError(await master('filmA', none), 401, 'REEL_MALFORMED_TOKEN');
    await expectError(await master('filmA', `${none}x`), 403, 'REEL_INVALID_TOKEN');
    const reelKid = (await t.reel.db.query<{ kid: string }>('SELECT kid FROM signing_keys'))[0]!.kid;
    await expectError(
      await master('filmA', await mint(key, { sub: 'filmA', exp: now() + 60 }, reelKid)),
      403,
      'REEL_INVALID_TOKEN',
    );
    // Signed with one key, naming another; naming a key that does not exist.
    await expectError(
      await master('filmA', await mint(key, { sub: 'filmA', exp: now() + 60 }, other.id)),
      403,
      'REEL_INVALID_TOKEN',
    );
    await expectError(
      await master(
        'filmA',
        await mint(key, { sub: 'filmA', exp: now() + 60 }, 'pk_000000000000000000000000'),
      ),
      403,
      'REEL_INVALID_TOKEN',
    );
  });

  it('made-up kids cost the database at most one reload a second', async () => {
    const spy = vi.spyOn(t.reel.db, 'query');
    try {
      const forged = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          mint(key, { sub: 'filmA', exp: now() + 60 }, `pk_${crypto.randomBytes(12).toString('hex')}${i}`),
        ),
      );
      const started = Date.now();
      const answers = await Promise.all(forged.map((tk) => master('filmA', tk)));
      expect(answers.map((r) => r.status)).toEqual(forged.map(() => 403));
      const reloads = spy.mock.calls.filter(([sql]) => /FROM customer_signing_keys/.test(String(sql))).length;
      expect(reloads).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 1000) + 1);
    } finally {
      spy.mockRestore();
    }
  });

  it('deleting a key stops new playbacks at once, on every process; a playback already started finishes', async () => {
    const key = await create();
    const token = await mint(key, { sub: 'filmA', exp: now() + 300 });
    const started = await master('filmA', token);
    expect(started.status).toBe(200);
    const base = `${t.url}/play/filmA/${token}/master.m3u8`;
    const children = urisOf(await started.text(), base);

    // Deleted by another process (straight in the database: this process's cache still holds the key).
    await deleteCustomerSigningKey(t.reel.db, key.id);
    await expectError(await master('filmA', token), 403, 'REEL_INVALID_TOKEN');
    await expectError(await fetch(`${t.url}/watch/filmA/${token}/info`), 403, 'REEL_INVALID_TOKEN');
    // The playback under way goes on, on its session token.
    for (const child of children) {
      const playlist = await fetch(child);
      expect(playlist.status).toBe(200);
      for (const u of urisOf(await playlist.text(), child)) expect((await fetch(u)).status, u).toBe(200);
    }

    // Deleted through the API: the same.
    const key2 = await create();
    const token2 = await mint(key2, { sub: 'filmA', exp: now() + 300 });
    expect((await master('filmA', token2)).status).toBe(200);
    expect((await t.api(`/v1/signing-keys/${key2.id}`, { method: 'DELETE' })).status).toBe(204);
    await expectError(await master('filmA', token2), 403, 'REEL_INVALID_TOKEN');
    await expectError(
      await fetch(`${t.url}/play/filmA/${token2}/240p/seg_00000.m4s`),
      403,
      'REEL_INVALID_TOKEN',
    );
  });
});

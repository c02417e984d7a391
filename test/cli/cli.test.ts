import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.js';
import { postgresDb } from '../helpers/db.js';
import { spawnReel } from '../helpers/process.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, waitFor } from '../helpers/reel.js';

async function reel(args: string[], env: Record<string, string> = {}) {
  const p = spawnReel(args, env);
  const code = await p.exited;
  return { code, out: p.output() };
}

describe('reel command line', () => {
  it('serve --help lists every setting with its environment variable', async () => {
    const { code, out } = await reel(['serve', '--help']);
    expect(code).toBe(0);
    for (const s of SETTINGS) expect(out).toContain(s.env);
  });

  it('keys create (with scopes), list and revoke work on the data directory; a running server is not disturbed', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-keys-'));
    const env = { REEL_DATA_DIR: dataDir };
    const created = await reel(['keys', 'create', '--name', 'laptop', '--scopes', 'read,write'], env);
    expect(created.code).toBe(0);
    expect(created.out).toContain('scopes write,read;');
    const secret = created.out.match(/(reel_\S+)/)![1]!;
    const id = created.out.match(/id (key_\w+)/)![1]!;
    const listed = await reel(['keys', 'list'], env);
    expect(listed.out).toMatch(new RegExp(`${id}\\s+active\\s+write,read\\s.*laptop`));
    expect(listed.out).not.toContain(secret);
    expect((await reel(['keys', 'revoke', id], env)).out).toContain(`revoked ${id}`);
    expect((await reel(['keys', 'list'], env)).out).toMatch(new RegExp(`${id}\\s+revoked`));
    const again = await reel(['keys', 'revoke', id], env);
    expect(again.code).toBe(1);
    expect(again.out).toContain('no active API key');
    const badScope = await reel(['keys', 'create', '--scopes', 'read,root'], env);
    expect(badScope.code).toBe(1);
    expect(badScope.out).toContain('--scopes takes a comma list of admin, write, read');

    // While `reel serve` holds the embedded database, the CLI says so instead of opening it twice.
    const server = spawnReel(['serve'], { ...env, PORT: '0', HOST: '127.0.0.1', REEL_ROLES: 'upload,play' });
    try {
      await server.waitForOutput(/URL:/);
      const locked = await reel(['keys', 'list'], env);
      expect(locked.code).toBe(1);
      expect(locked.out).toMatch(/in use by Reel process \d+/);
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('keys rotate-signing: old tokens still play, a running server signs with the new key; a retired key’s tokens fail', async () => {
    const pg = await postgresDb();
    const t = await startTestReel({
      'database-url': pg.url!,
      roles: 'upload,play',
      'signing-key-refresh-seconds': '1',
    });
    // The CLI is another process on the same database (its own data directory: nothing else is shared).
    const env = { DATABASE_URL: pg.url!, REEL_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reel-sk-')) };
    try {
      await publishFake(t, 'rotA', 'signed');
      const issue = async () => {
        const { url } = (await (await t.api('/v1/videos/rotA/playback')).json()) as { url: string };
        return { url, kid: decodeProtectedHeader(url.split('/')[5]!).kid as string };
      };
      const plays = async (url: string) => (await fetch(url)).status;
      const old = await issue();
      // A playback started with the old key, whose session is signed with it too.
      const oldSession = new URL((await (await fetch(old.url)).text()).trim().split('\n').pop()!, old.url);
      expect(await plays(oldSession.href)).toBe(200);

      const rotated = await reel(['keys', 'rotate-signing'], env);
      expect(rotated.code, rotated.out).toBe(0);
      const kid = rotated.out.match(/new signing key (k\w+)/)![1]!;
      expect(kid).not.toBe(old.kid);
      expect(rotated.out).toContain(`${old.kid} still verifies the tokens it signed`);

      // The running server picks the new key up by itself and signs with it; the old token still plays.
      const fresh = await waitFor(
        'a token signed with the new key',
        async () => {
          const next = await issue();
          return next.kid === kid && next;
        },
        10_000,
      );
      expect(await plays(fresh.url)).toBe(200);
      expect(await plays(old.url)).toBe(200);
      expect(await plays(oldSession.href)).toBe(200);

      const listed = await reel(['keys', 'list-signing'], env);
      expect(listed.out).toMatch(new RegExp(`${kid}\\s+signing`));
      expect(listed.out).toMatch(new RegExp(`${old.kid}\\s+verifying.*retired by itself after`));

      // The signing key cannot be retired; an old one not while its tokens may be valid, unless forced.
      const inUse = await reel(['keys', 'retire-signing', kid], env);
      expect(inUse.code).toBe(1);
      expect(inUse.out).toContain('is the one that signs new tokens');
      const early = await reel(['keys', 'retire-signing', old.kid], env);
      expect(early.code).toBe(1);
      expect(early.out).toMatch(/may still be valid until \d{4}-.*--force/);
      expect(await plays(old.url)).toBe(200);
      const forced = await reel(['keys', 'retire-signing', old.kid, '--force'], env);
      expect(forced.code, forced.out).toBe(0);
      expect(forced.out).toContain(`retired ${old.kid}`);

      // Within the refresh interval the server refuses everything the retired key signed; the new key plays.
      await waitFor('the retired key’s tokens refused', async () => (await plays(old.url)) === 403, 10_000);
      const refused = await fetch(oldSession);
      expect(refused.status).toBe(403);
      expect((await refused.json()).code).toBe('REEL_INVALID_TOKEN');
      expect(await plays(fresh.url)).toBe(200);
      // The retired secret is gone from the database.
      const [row] = await pg.db.query<{ secret: string }>('SELECT secret FROM signing_keys WHERE kid = $1', [
        old.kid,
      ]);
      expect(row!.secret).toBe('');
      expect((await reel(['keys', 'list-signing'], env)).out).toMatch(new RegExp(`${old.kid}\\s+retired`));
      const unknown = await reel(['keys', 'retire-signing', 'knope'], env);
      expect(unknown.code).toBe(1);
      expect(unknown.out).toContain('No active signing key "knope"');
    } finally {
      await t.close();
      await pg.drop();
    }
  });

  it('serve prints the URL and, on first start, an API key that works', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-serve-'));
    const server = spawnReel(['serve'], {
      REEL_DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      REEL_ROLES: 'upload,play',
    });
    try {
      const [, url] = await server.waitForOutput(/URL:\s+(\S+)/);
      const [, key] = await server.waitForOutput(/API key:\s+(reel_\S+)/);
      const res = await fetch(`${url}/v1/videos`, { headers: { Authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      // Logs are JSON lines.
      const lines = server
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('an unknown command or flag is a clear error', async () => {
    const a = await reel(['transcode']);
    expect(a.code).toBe(2);
    expect(a.out).toContain('unknown command "transcode"');
    const b = await reel(['serve', '--colour', 'blue']);
    expect(b.code).toBe(1);
    expect(b.out).toMatch(/Unknown option '--colour'/);
  });
});

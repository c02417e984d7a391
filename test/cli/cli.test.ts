import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.js';
import { spawnReel } from '../helpers/process.js';

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

  it('keys create, list and revoke work on the data directory; a running server is not disturbed', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-keys-'));
    const env = { REEL_DATA_DIR: dataDir };
    const created = await reel(['keys', 'create', '--name', 'laptop'], env);
    expect(created.code).toBe(0);
    const secret = created.out.match(/(reel_\S+)/)![1]!;
    const id = created.out.match(/id (key_\w+)/)![1]!;
    const listed = await reel(['keys', 'list'], env);
    expect(listed.out).toMatch(new RegExp(`${id}\\s+active\\s.*laptop`));
    expect(listed.out).not.toContain(secret);
    expect((await reel(['keys', 'revoke', id], env)).out).toContain(`revoked ${id}`);
    expect((await reel(['keys', 'list'], env)).out).toMatch(new RegExp(`${id}\\s+revoked`));
    const again = await reel(['keys', 'revoke', id], env);
    expect(again.code).toBe(1);
    expect(again.out).toContain('no active API key');

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

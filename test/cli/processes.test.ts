/**
 * `reel serve --processes N`: on Postgres, N HTTP processes share one port (node:cluster) and are told
 * apart from outside, by the process that owns each accepted connection (ss), not by anything Reel
 * shows; embedded mode runs one process and refuses more.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { type PrivatePostgres, startPrivatePostgres } from '../helpers/private-postgres.js';
import { type ReelProcess, spawnReel } from '../helpers/process.js';
import { waitFor } from '../helpers/reel.js';
import { tusHeaders } from '../helpers/tus.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Requests over one kept-alive TCP connection, so that one server process answers all of them. */
function connection(base: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const localPorts = new Set<number>();
  const request = (method: string, target: string, headers: Record<string, string> = {}, body?: Buffer) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(new URL(target, base), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      });
      req.on('socket', (s) => {
        if (s.localPort) localPorts.add(s.localPort);
        else s.once('connect', () => localPorts.add(s.localPort!));
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    request,
    /** The one local port this connection used (it never had to reconnect). */
    localPort(): number {
      expect([...localPorts]).toHaveLength(1);
      return [...localPorts][0]!;
    },
    close: () => agent.destroy(),
  };
}

/** The processes holding the server side of the connection from `clientPort` to `serverPort`. */
function serverPids(serverPort: number, clientPort: number): number[] {
  const out = execFileSync('ss', [
    '-tnpH',
    'state',
    'established',
    `( sport = :${serverPort} and dport = :${clientPort} )`,
  ]).toString();
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

/** The node processes whose parent is `pid` (ffmpeg children of a worker role are left out). */
function nodeChildren(pid: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['--ppid', String(pid), '-o', 'pid=,comm=']).toString();
  } catch {
    return []; // ps exits 1 when there is none
  }
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([p, comm]) => p && comm === 'node')
    .map(([p]) => Number(p));
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

async function run(args: string[], env: Record<string, string>) {
  const p = spawnReel(args, env);
  return { code: await p.exited, out: p.output() };
}

describe('reel serve --processes on Postgres', () => {
  let pg: PrivatePostgres;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it('two HTTP processes share the port: an upload through one plays through the other; a killed one is replaced; SIGTERM stops them all', async () => {
    const databaseUrl = await pg.createDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-procs-'));
    const clip = await makeClip('procs-240p', { width: 320, height: 240, seconds: 2 });
    const server: ReelProcess = spawnReel(['serve', '--processes', '2'], {
      DATABASE_URL: databaseUrl,
      REEL_DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      REEL_LADDER: '240',
      REEL_X264_PRESET: 'ultrafast',
      REEL_POLL_MS: '100',
    });
    const primary = server.child.pid!;
    try {
      const [, url] = await server.waitForOutput(/URL:\s+(http:\/\/\S+)/);
      const port = Number(new URL(url!).port);
      expect(server.output()).toContain('2 HTTP processes share this URL');
      // The first API key was made once, by the primary, and printed once.
      const keys = [...server.output().matchAll(/API key:\s+(reel_\S+)/g)].map((m) => m[1]!);
      expect(keys).toHaveLength(1);
      expect(await pg.sql(new URL(databaseUrl).pathname.slice(1), 'SELECT id FROM api_keys')).toHaveLength(1);
      const auth = { Authorization: `Bearer ${keys[0]}` };

      const children = nodeChildren(primary);
      expect(children).toHaveLength(2);

      // Connections are handed out in turn: two connections, two processes (the one holding each socket).
      const a = connection(url!);
      const b = connection(url!);
      expect((await a.request('GET', '/healthz')).status).toBe(200);
      expect((await b.request('GET', '/healthz')).status).toBe(200);
      const pidOf = (c: ReturnType<typeof connection>) => {
        const pids = serverPids(port, c.localPort()).filter((p) => p !== primary);
        expect(pids).toHaveLength(1);
        return pids[0]!;
      };
      const [pidA, pidB] = [pidOf(a), pidOf(b)];
      expect(pidA).not.toBe(pidB);
      expect(children.sort()).toEqual([pidA, pidB].sort());

      // An upload through A (tus, by hand over A's connection)…
      const bytes = fs.readFileSync(clip);
      const created = await a.request('POST', '/v1/uploads', {
        ...auth,
        ...tusHeaders.create(bytes.length, { filename: 'procs.mp4' }),
      });
      expect(created.status, created.body.toString()).toBe(201);
      const location = new URL(String(created.headers.location), url).pathname;
      const patched = await a.request('PATCH', location, { ...auth, ...tusHeaders.patch(0) }, bytes);
      expect(patched.status, patched.body.toString()).toBe(204);
      const id = location.split('/').pop()!;

      // …transcoded by the primary's worker role, and played through B.
      await waitFor(
        'the video to be ready',
        async () => {
          const v = JSON.parse((await b.request('GET', `/v1/videos/${id}`, auth)).body.toString());
          if (v.status === 'failed') throw new Error(JSON.stringify(v));
          return v.status === 'ready';
        },
        60_000,
      );
      const playback = JSON.parse(
        (await b.request('GET', `/v1/videos/${id}/playback`, auth)).body.toString(),
      );
      const master = await b.request('GET', playback.url);
      expect(master.status).toBe(200);
      const variant = new URL(
        master.body
          .toString()
          .split('\n')
          .find((l) => l && !l.startsWith('#'))!,
        playback.url,
      );
      const media = await b.request('GET', variant.href);
      expect(media.status).toBe(200);
      const segment = new URL(
        media.body
          .toString()
          .split('\n')
          .find((l) => l && !l.startsWith('#'))!,
        variant,
      );
      const seg = await b.request('GET', segment.href);
      expect(seg.status).toBe(200);
      expect(seg.body.length).toBeGreaterThan(1000);
      expect(pidOf(a)).toBe(pidA);
      expect(pidOf(b)).toBe(pidB);
      a.close();
      b.close();

      // A child killed outright: the URL keeps answering, and another process takes its place.
      // (A connection the primary hands to a child in the moment it dies is lost with it, as are those the
      // child held: node:cluster's round-robin cannot take it back. So the check starts once the primary
      // has seen the death, while the other process serves alone.)
      process.kill(pidA, 'SIGKILL');
      await server.waitForOutput(/an HTTP process exited; starting another/, 20_000);
      for (let i = 0; i < 6; i++) {
        const c = connection(url!);
        expect((await c.request('GET', '/healthz')).status).toBe(200);
        c.close();
      }
      const replaced = await waitFor(
        'a new HTTP process in place of the killed one',
        async () => {
          const now = nodeChildren(primary);
          return now.length === 2 && !now.includes(pidA) && now.includes(pidB) ? now : undefined;
        },
        30_000,
      );
      const fresh = replaced.find((p) => p !== pidB)!;
      // The new one serves too: some connection lands on it.
      await waitFor(
        'a connection served by the new process',
        async () => {
          const c = connection(url!);
          try {
            expect((await c.request('GET', `/v1/videos/${id}`, auth)).status).toBe(200);
            return serverPids(port, c.localPort()).includes(fresh);
          } finally {
            c.close();
          }
        },
        20_000,
      );

      // SIGTERM on the primary: every child exits, then the primary (0), and the port is free.
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      for (const p of [pidB, fresh]) expect(alive(p)).toBe(false);
      expect(await portIsFree(port)).toBe(true);
    } finally {
      server.child.kill('SIGKILL');
      for (const p of nodeChildren(primary)) process.kill(p, 'SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a child that cannot start (its port is taken) stops Reel with the reason instead of restarting forever', async () => {
    const databaseUrl = await pg.createDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-procs-'));
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const { code, out } = await run(['serve', '--processes', '2', '--roles', 'upload,play'], {
        DATABASE_URL: databaseUrl,
        REEL_DATA_DIR: dataDir,
        PORT: String((taken.address() as net.AddressInfo).port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      });
      expect(code).toBe(1);
      expect(out).toMatch(/an HTTP process could not start: .*EADDRINUSE/);
      expect(out).not.toContain('URL:');
    } finally {
      taken.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('reel serve --processes embedded', () => {
  it('refuses more than one process, naming DATABASE_URL; auto runs one process', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-procs-'));
    const env = { REEL_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', REEL_ROLES: 'upload,play' };
    try {
      const refused = await run(['serve', '--processes', '2'], env);
      expect(refused.code).toBe(1);
      expect(refused.out).toMatch(/REEL_INVALID_CONFIG|Invalid configuration/);
      expect(refused.out).toContain('embedded mode runs one process');
      expect(refused.out).toContain('Set DATABASE_URL');

      const server = spawnReel(['serve'], { ...env, REEL_PROCESSES: 'auto' });
      try {
        await server.waitForOutput(/URL:/);
        expect(server.output()).not.toContain('HTTP processes');
        expect(nodeChildren(server.child.pid!)).toEqual([]);
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      } finally {
        server.child.kill('SIGKILL');
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

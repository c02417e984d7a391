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
  pids: number[];
}

/**
 * Requests over kept-alive connections, each answer with the process that served it: the one holding
 * the server side of the connection when the answer arrived (the primary, which only hands accepted
 * connections on, left out).
 */
function client(base: string, primary: number) {
  const serverPort = Number(new URL(base).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const request = (method: string, target: string, headers: Record<string, string> = {}, body?: Buffer) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(new URL(target, base), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const pids = serverPids(serverPort, req.socket!.localPort!).filter((p) => p !== primary);
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), pids });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return { request, close: () => agent.destroy() };
}

/** The processes holding the server side of the connection from `clientPort` to `serverPort`. */
function serverPids(serverPort: number, clientPort: number): number[] {
  const out = execFileSync('ss', [
    '-tnpH',
    'state',
    'established',
    `( sport = :${serverPort} and dport = :${clientPort} )`,
  ]).toString();
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
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

  it('two HTTP processes share the port: an upload begun through one finishes through the other and plays; a killed one is replaced; SIGTERM stops them all', async () => {
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

      // Connections are handed out in turn: two connections, two processes.
      const a = client(url!, primary);
      const b = client(url!, primary);
      const pidA = (await a.request('GET', '/healthz')).pids;
      const pidB = (await b.request('GET', '/healthz')).pids;
      expect(pidA).toHaveLength(1);
      expect(pidB).toHaveLength(1);
      expect(pidA).not.toEqual(pidB);
      expect(children.sort()).toEqual([...pidA, ...pidB].sort());

      // An upload (tus, by hand) begun through A and finished through B: the staging directory and the
      // upload locks are shared…
      const bytes = fs.readFileSync(clip);
      const half = Math.floor(bytes.length / 2);
      const created = await a.request('POST', '/v1/uploads', {
        ...auth,
        ...tusHeaders.create(bytes.length, { filename: 'procs.mp4' }),
      });
      expect(created.status, created.body.toString()).toBe(201);
      const location = new URL(String(created.headers.location), url).pathname;
      const first = await a.request(
        'PATCH',
        location,
        { ...auth, ...tusHeaders.patch(0) },
        bytes.subarray(0, half),
      );
      expect(first.status, first.body.toString()).toBe(204);
      const rest = await b.request(
        'PATCH',
        location,
        { ...auth, ...tusHeaders.patch(half) },
        bytes.subarray(half),
      );
      expect(rest.status, rest.body.toString()).toBe(204);
      expect([created.pids, first.pids, rest.pids]).toEqual([pidA, pidA, pidB]);
      const id = location.split('/').pop()!;

      // …transcoded by the primary's worker role, and played through A.
      await waitFor(
        'the video to be ready',
        async () => {
          const v = (await (await fetch(`${url}/v1/videos/${id}`, { headers: auth })).json()) as {
            status: string;
          };
          if (v.status === 'failed') throw new Error(JSON.stringify(v));
          return v.status === 'ready';
        },
        60_000,
      );
      const playback = JSON.parse(
        (await a.request('GET', `/v1/videos/${id}/playback`, auth)).body.toString(),
      );
      const firstUri = (text: Buffer) =>
        text
          .toString()
          .split('\n')
          .find((l) => l && !l.startsWith('#'))!;
      const master = await a.request('GET', playback.url);
      expect(master.status).toBe(200);
      const variant = new URL(firstUri(master.body), playback.url);
      const media = await a.request('GET', variant.href);
      expect(media.status).toBe(200);
      const seg = await a.request('GET', new URL(firstUri(media.body), variant).href);
      expect(seg.status).toBe(200);
      expect(seg.body.length).toBeGreaterThan(1000);
      expect([master.pids, media.pids, seg.pids]).toEqual([pidA, pidA, pidA]);
      a.close();
      b.close();

      // A child killed outright: the URL keeps answering, and another process takes its place.
      // (A connection the primary hands to a child in the moment it dies is lost with it, as are those the
      // child held: node:cluster's round-robin cannot take it back. So the check starts once the primary
      // has seen the death, while the other process serves alone.)
      const [killed, survivor] = [pidA[0]!, pidB[0]!];
      process.kill(killed, 'SIGKILL');
      await server.waitForOutput(/an HTTP process exited; starting another/, 20_000);
      for (let i = 0; i < 6; i++) {
        const c = client(url!, primary);
        const answer = await c.request('GET', '/healthz');
        c.close();
        expect(answer.status).toBe(200);
        expect(answer.pids).toEqual([survivor]);
      }
      const replaced = await waitFor(
        'a new HTTP process in place of the killed one',
        async () => {
          const now = nodeChildren(primary);
          return now.length === 2 && !now.includes(killed) && now.includes(survivor) ? now : undefined;
        },
        30_000,
      );
      const fresh = replaced.find((p) => p !== survivor)!;
      // The new one serves too: some connection lands on it.
      await waitFor(
        'a connection served by the new process',
        async () => {
          const c = client(url!, primary);
          const answer = await c.request('GET', `/v1/videos/${id}`, auth);
          c.close();
          expect(answer.status).toBe(200);
          return answer.pids.includes(fresh);
        },
        20_000,
      );

      // SIGTERM on the primary: every child exits, then the primary (0), and the port is free.
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      for (const p of [survivor, fresh]) expect(alive(p)).toBe(false);
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

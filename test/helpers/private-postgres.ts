/**
 * A private Postgres server for one test file: initdb into a temporary directory (trust auth), a free
 * port on 127.0.0.1, its unix socket inside that directory. Tests may stop, start and restart it at will
 * without touching the machine's shared server. When run as root, initdb and postgres (which refuse
 * root) run as the `postgres` OS user, and the directory is handed to that user.
 *
 * The server is stopped when the test process exits, even if the test forgot to destroy it.
 */
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export const PG_BIN = process.env.REEL_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const OS_USER = 'postgres';

export interface PrivatePostgres {
  /** Directory holding data/, the socket and the server log. */
  dir: string;
  port: number;
  /** URL of the `postgres` database (superuser `postgres`, no password). */
  url: string;
  /** URL of another database on this server. */
  urlOf(database: string): string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one SQL statement on a short-lived connection; for assertions. */
  sql<T = Record<string, unknown>>(database: string, text: string, params?: unknown[]): Promise<T[]>;
  /** Stops the server (mode fast: disconnects clients, as an operator's restart would). */
  stop(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops, stays down for `downMs`, starts again. */
  restart(downMs?: number): Promise<void>;
  isRunning(): boolean;
  /** The server log, for failure messages. */
  log(): string;
  /** Stops the server (immediately) and removes the directory. Safe to call twice. */
  destroy(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a Postgres binary, as the postgres OS user when this process is root. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  const exe = path.join(PG_BIN, bin);
  return isRoot() ? ['runuser', ['-u', OS_USER, '--', exe, ...args]] : [exe, args];
}

async function pgTool(bin: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const [cmd, argv] = asPostgres(bin, args);
  try {
    const { stdout, stderr } = await run(cmd, argv, { timeout: timeoutMs });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<{ dataDir: string; dir: string }>();
let exitHook = false;
function stopAllOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        const [cmd, argv] = asPostgres('pg_ctl', [
          'stop',
          '-D',
          s.dataDir,
          '-m',
          'immediate',
          '-w',
          '-t',
          '10',
        ]);
        execFileSync(cmd, argv, { stdio: 'ignore', timeout: 15_000 });
      } catch {
        // not running
      }
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

const OWNER_FILE = 'owner.pid';

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Servers left behind by test processes that were killed outright (no exit hook runs on SIGKILL): stops
 * them and removes their directories, so they do not pile up on the machine.
 */
export function sweepAbandoned(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith('reel-pg-')) continue;
    const dir = path.join(os.tmpdir(), name);
    let owner: number;
    try {
      owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not one of ours, or still being created
    }
    if (!Number.isInteger(owner) || owner <= 0 || processExists(owner)) continue;
    try {
      const [cmd, argv] = asPostgres('pg_ctl', [
        'stop',
        '-D',
        path.join(dir, 'data'),
        '-m',
        'immediate',
        '-w',
      ]);
      execFileSync(cmd, argv, { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // not running
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  sweepAbandoned();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-pg-'));
  fs.writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (isRoot()) {
    const { uid, gid } = userIds(OS_USER);
    fs.chownSync(dir, uid, gid);
  }
  const entry = { dataDir, dir };
  live.add(entry);
  stopAllOnExit();

  let running = false;
  let destroyed = false;
  const port = await freePort();
  try {
    await pgTool('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    // Tests want speed, not durability; a restart must still come back with every committed row
    // (fsync off only loses data on an OS crash, not on a server stop or restart).
    fs.appendFileSync(
      path.join(dataDir, 'postgresql.conf'),
      [
        '',
        '# reel test server',
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        'max_connections = 200',
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        "log_min_messages = 'warning'",
        '',
      ].join('\n'),
    );
  } catch (err) {
    live.delete(entry);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;

  const start = async () => {
    if (destroyed) throw new Error('this private Postgres was destroyed');
    await pgTool('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60']);
    running = true;
  };
  const stop = async (mode: 'smart' | 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    await pgTool('pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60']);
    running = false;
  };
  const sql = async <T>(database: string, text: string, params?: unknown[]): Promise<T[]> => {
    const client = new pg.Client({ connectionString: urlOf(database) });
    await client.connect();
    try {
      return (await client.query(text, params as unknown[])).rows as T[];
    } finally {
      await client.end();
    }
  };

  try {
    await start();
  } catch (err) {
    live.delete(entry);
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${readLog(logFile)}`);
  }

  return {
    dir,
    port,
    url,
    urlOf,
    sql,
    async createDatabase(name = `reel_${crypto.randomBytes(4).toString('hex')}`) {
      await sql('postgres', `CREATE DATABASE ${name}`);
      return urlOf(name);
    },
    stop,
    start,
    async restart(downMs = 2000) {
      await stop('fast');
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    isRunning: () => running,
    log: () => readLog(logFile),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        if (running) await stop('immediate');
      } catch {
        // the directory goes anyway
      }
      live.delete(entry);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-4000);
  } catch {
    return '(no server log)';
  }
}

function userIds(name: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`there is no "${name}" OS user to run Postgres as (root may not)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

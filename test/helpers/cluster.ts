/**
 * A scaled-out Reel for tests and benchmarks: one process with the HTTP roles (`reel serve --roles
 * upload,play`) and N `reel worker` processes, all against one Postgres database and one shared data
 * directory (the filesystem object store in it is shared by every process on this machine). Workers can be
 * killed and restarted; every process's JSON log lines are kept, tagged with the process that wrote them,
 * including those of processes that were killed.
 *
 * Each process is started in its own process group, so that a SIGKILL takes its ffmpeg children with it,
 * as a crash of the machine or container would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(ROOT, 'test/helpers/reel-cli.ts');

/** One JSON log line (pino), with the name of the process that wrote it. */
export interface LogLine {
  proc: string;
  pid: number;
  level: number;
  time: number;
  msg: string;
  videoId?: string;
  jobId?: number;
  attempt?: number;
  [field: string]: unknown;
}

export interface ClusterProcess {
  /** 'api', or 'worker-{slot}'. */
  name: string;
  /** Worker slot (0…N-1); -1 for the HTTP process. */
  slot: number;
  /** How many processes this slot had before this one. */
  generation: number;
  child: ChildProcess;
  pid: number;
  /** The worker id it claims jobs under (from its 'worker started' line). */
  workerId: string | undefined;
  startedAt: number;
  /** When the test sent a kill signal, if it did (Date.now()). */
  killedAt: number | undefined;
  killSignal: NodeJS.Signals | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stderr (the start banner, crashes). */
  stderr(): string;
  /** Resolves with the first log line (past or future) that matches, or rejects after timeoutMs. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

export interface ClusterOptions {
  databaseUrl: string;
  /** Worker processes to start (default 1). */
  workers?: number;
  /** Start the HTTP roles (default true). */
  http?: boolean;
  /** A shared data directory (default: a new temporary directory, removed by close()). */
  dataDir?: string;
  /** Environment for every process (REEL_LEASE_SECONDS, REEL_LADDER, …). */
  env?: Record<string, string>;
  apiKey?: string;
  /**
   * The script every process runs, relative to the repository root (default: the `reel` command from
   * source). It is given the same arguments as `reel` (`worker`, `serve --roles upload,play`).
   */
  entry?: string;
}

export interface Cluster {
  url: string;
  apiKey: string;
  dataDir: string;
  databaseUrl: string;
  /** Authorized fetch against the HTTP roles. */
  api(pathname: string, init?: RequestInit): Promise<Response>;
  /** The live process in each worker slot. */
  workers(): ClusterProcess[];
  /** Every process ever started, killed ones included, in start order. */
  processes(): ClusterProcess[];
  /** Starts a worker in `slot` (which must be free) and waits until it runs. */
  startWorker(slot: number): Promise<ClusterProcess>;
  /**
   * Sends `signal` to the worker in `slot` (SIGKILL: to its whole process group) and waits until it has
   * exited.
   */
  kill(slot: number, signal?: NodeJS.Signals): Promise<ClusterProcess>;
  /** kill() then startWorker(). */
  restart(slot: number, signal?: NodeJS.Signals): Promise<ClusterProcess>;
  /** Log lines of every process so far. */
  logs(): LogLine[];
  /** The last lines of every process's output, for failure messages. */
  tail(lines?: number): string;
  /** Kills every process (SIGKILL) and removes the data directory if the cluster created it. */
  close(): Promise<void>;
}

export const TEST_API_KEY = 'reel_test_cluster_key_0123456789abcdef';

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reel-cluster-'));
  const apiKey = opts.apiKey ?? TEST_API_KEY;
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    REEL_X264_PRESET: 'superfast',
    REEL_PROCESSES: '1', // the HTTP process is one process: its pid is the one that serves
    ...opts.env,
    DATABASE_URL: opts.databaseUrl,
    REEL_DATA_DIR: dataDir,
    REEL_API_KEY: apiKey,
  };
  const entry = opts.entry ? path.resolve(ROOT, opts.entry) : ENTRY;
  const all: ClusterProcess[] = [];
  const lines: LogLine[] = [];
  const slots: (ClusterProcess | undefined)[] = [];
  const generations: number[] = [];

  function launch(name: string, slot: number, args: string[]): ClusterProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${name}`);
    const listeners = new Set<(l: LogLine) => void>();
    const mine: LogLine[] = [];
    let partial = '';
    let err = '';
    const take = (text: string) => {
      if (!text.trim()) return;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { level: 0, time: Date.now(), msg: text };
      }
      const line = { ...parsed, proc: name, pid } as LogLine;
      lines.push(line);
      mine.push(line);
      for (const l of listeners) l(line);
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) take(p);
    });
    child.stdout!.on('end', () => {
      // A process killed in the middle of a write may leave half a line: kept as raw text.
      take(partial);
      partial = '';
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const proc: ClusterProcess = {
      name,
      slot,
      generation: slot >= 0 ? (generations[slot] ?? 0) : 0,
      child,
      pid,
      workerId: undefined,
      startedAt: Date.now(),
      killedAt: undefined,
      killSignal: undefined,
      exited,
      stderr: () => err,
      waitForLog(match, timeoutMs = 60_000) {
        const found = mine.find(match);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
          const onLine = (l: LogLine) => {
            if (!match(l)) return;
            listeners.delete(onLine);
            clearTimeout(timer);
            resolve(l);
          };
          const timer = setTimeout(() => {
            listeners.delete(onLine);
            reject(
              new Error(
                `${name}: timed out waiting for a log line; stderr:\n${err.slice(-2000)}\nstdout:\n${mine
                  .slice(-20)
                  .map((l) => JSON.stringify(l))
                  .join('\n')}`,
              ),
            );
          }, timeoutMs);
          listeners.add(onLine);
          void exited.then(() =>
            setTimeout(() => {
              if (!listeners.has(onLine)) return;
              listeners.delete(onLine);
              clearTimeout(timer);
              reject(new Error(`${name} exited before the log line came; stderr:\n${err.slice(-2000)}`));
            }, 100),
          );
        });
      },
    };
    if (slot >= 0) generations[slot] = proc.generation + 1;
    all.push(proc);
    return proc;
  }

  async function startWorker(slot: number): Promise<ClusterProcess> {
    if (slots[slot]) throw new Error(`worker slot ${slot} is taken`);
    const p = launch(`worker-${slot}`, slot, ['worker']);
    slots[slot] = p;
    const started = await p.waitForLog((l) => l.msg === 'worker started');
    p.workerId = started['workerId'] as string;
    return p;
  }

  async function kill(slot: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<ClusterProcess> {
    const p = slots[slot];
    if (!p) throw new Error(`no worker in slot ${slot}`);
    p.killedAt = Date.now();
    p.killSignal = signal;
    try {
      // SIGKILL is a crash: the whole group goes, ffmpeg included. Any other signal is a request to the
      // process, which must stop its children itself.
      process.kill(signal === 'SIGKILL' ? -p.pid : p.pid, signal);
    } catch {
      // already gone
    }
    await p.exited;
    if (signal === 'SIGKILL') {
      // The group's other members (ffmpeg) die with it; make sure of it before the slot is reused.
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // none left
      }
    }
    slots[slot] = undefined;
    return p;
  }

  let url = '';
  try {
    if (opts.http !== false) {
      const api = launch('api', -1, ['serve', '--roles', 'upload,play']);
      const banner = await new Promise<string>((resolve, reject) => {
        const started = Date.now();
        const check = setInterval(() => {
          const m = api.stderr().match(/URL:\s+(http:\/\/\S+)/);
          if (m) {
            clearInterval(check);
            resolve(m[1]!);
          } else if (api.child.exitCode !== null || Date.now() - started > 60_000) {
            clearInterval(check);
            reject(new Error(`the HTTP process did not start:\n${api.stderr()}`));
          }
        }, 50);
      });
      url = banner;
    }
    await Promise.all(Array.from({ length: opts.workers ?? 1 }, (_, i) => startWorker(i)));
  } catch (err) {
    for (const p of all) killGroup(p);
    throw err;
  }

  return {
    url,
    apiKey,
    dataDir,
    databaseUrl: opts.databaseUrl,
    api: (pathname, init = {}) =>
      fetch(url + pathname, {
        ...init,
        headers: { Authorization: `Bearer ${apiKey}`, ...(init.headers as Record<string, string>) },
      }),
    workers: () => slots.filter((p): p is ClusterProcess => p !== undefined),
    processes: () => [...all],
    startWorker,
    kill,
    async restart(slot, signal = 'SIGKILL') {
      await kill(slot, signal);
      return startWorker(slot);
    },
    logs: () => [...lines],
    tail(n = 15) {
      return all
        .map(
          (p) =>
            `--- ${p.name} (pid ${p.pid}) ---\n${p.stderr().slice(-1000)}${lines
              .filter((l) => l.pid === p.pid)
              .slice(-n)
              .map((l) => JSON.stringify(l))
              .join('\n')}`,
        )
        .join('\n');
    },
    async close() {
      for (const p of all) killGroup(p);
      await Promise.all(all.map((p) => p.exited));
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function killGroup(p: ClusterProcess): void {
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

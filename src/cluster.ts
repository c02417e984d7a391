/**
 * `reel serve --processes N`: N processes with the HTTP roles (upload, play) on one port, with node:cluster.
 *
 * The primary opens the database first (migrations, and the first API key when there is none: created and
 * printed once, not by N children racing), then forks the children; each runs the configured HTTP roles and
 * nothing else. The primary keeps the roles that must not multiply with the HTTP processes: the worker (one
 * transcoding process, not N) and the metrics listener (--metrics-port). A child that dies is replaced after
 * a short wait; one that keeps dying at start-up (a port in use, a database that refuses it) stops Reel with
 * its reason instead of being restarted forever. SIGTERM or SIGINT on the primary stops every child
 * gracefully, then the primary.
 *
 * Embedded mode (PGlite) is a single-process database, so it always runs one process.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import os from 'node:os';
import type { Logger } from 'pino';
import type { Config, Role } from './config.js';
import { errors } from './core/errors.js';
import { type Reel, startReel } from './server.js';

const HTTP_ROLES: readonly Role[] = ['upload', 'play'];

/** A child that dies within this long of being ready (or before) counts as failing at start-up. */
const QUICK_DEATH_MS = 5000;
/** The wait before the first restart; doubled for each quick death in a row. */
const RESTART_DELAY_MS = 250;
/** Quick deaths in a row (in one slot) after which the primary gives up and exits non-zero. */
const MAX_QUICK_DEATHS = 5;
/** After the grace period, how long children may take to close before they are killed. */
const CLOSE_TIMEOUT_MS = 30_000;

type ChildMessage = { reel: 'ready'; url: string } | { reel: 'failed'; reason: string };

/**
 * `auto` runs at most this many: each process holds up to 12 Postgres connections (its pool and its
 * listeners), and Postgres' default max_connections is 100. More: set REEL_PROCESSES.
 */
const AUTO_MAX = 8;

/**
 * How many HTTP processes `reel serve` runs: 1 without an HTTP role and in embedded mode (where an explicit
 * number above 1 is refused, with the way out), else REEL_PROCESSES (auto: one per core, at most AUTO_MAX).
 */
export function httpProcesses(
  config: Pick<Config, 'processes' | 'roles' | 'databaseUrl'>,
  cores = os.availableParallelism(),
): number {
  if (!config.roles.some((r) => HTTP_ROLES.includes(r))) return 1;
  if (!config.databaseUrl) {
    if (config.processes === 'auto' || config.processes === 1) return 1;
    throw errors.invalidConfig(
      `--processes (REEL_PROCESSES) is ${config.processes}, but embedded mode runs one process: its database, PGlite, can be opened by one process only. Set DATABASE_URL (--database-url) to a Postgres database to run ${config.processes} HTTP processes, or set REEL_PROCESSES to 1 or auto.`,
    );
  }
  return config.processes === 'auto' ? Math.min(cores, AUTO_MAX) : config.processes;
}

/** True in a process forked by startCluster. */
export const isClusterChild = (): boolean => cluster.isWorker;

function tell(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

/**
 * In a child: runs the configured HTTP roles on the shared port and tells the primary it is ready, or
 * why it could not start (then exits: the primary reports it).
 */
export async function startHttpChild(config: Config, log: Logger): Promise<Reel> {
  const roles = config.roles.filter((r) => HTTP_ROLES.includes(r));
  let reel: Reel;
  try {
    reel = await startReel({ ...config, roles, metricsPort: undefined }, log, { createFirstKey: false });
  } catch (err) {
    await tell({ reel: 'failed', reason: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  await tell({ reel: 'ready', url: reel.url! });
  return reel;
}

export interface RunningCluster {
  /** The URL every HTTP process serves. */
  url: string;
  metricsUrl: string | undefined;
  createdApiKey: string | undefined;
  processes: number;
  /** Stops the children (SIGTERM: graceful) and the primary's own roles. */
  close(graceMs?: number): Promise<void>;
}

interface Child {
  worker: ClusterWorker;
  slot: number;
  readyAt: number | undefined;
  reason: string | undefined;
}

/** In the primary: its own roles first (database, first key, worker, metrics), then N HTTP children. */
export async function startCluster(config: Config, log: Logger, processes: number): Promise<RunningCluster> {
  const own = await startReel(
    { ...config, roles: config.roles.filter((r) => !HTTP_ROLES.includes(r)) },
    log.child({ process: 'primary' }),
  );
  const live = new Set<Child>();
  const quickDeaths = new Array<number>(processes).fill(0);
  const restarts = new Set<NodeJS.Timeout>();
  let url: string | undefined;
  let phase: 'starting' | 'running' | 'closing' = 'starting';
  let started: { resolve: () => void; reject: (err: Error) => void } | undefined;
  let ready = 0;
  let allExited: (() => void) | undefined;

  const why = (c: Child, code: number | null, signal: string | null) =>
    c.reason ?? (signal ? `killed by ${signal}` : `exit code ${code}`);

  const fork = (slot: number) => {
    const child: Child = { worker: cluster.fork(), slot, readyAt: undefined, reason: undefined };
    live.add(child);
    child.worker.on('message', (m: ChildMessage) => {
      if (m?.reel === 'failed') child.reason = m.reason;
      if (m?.reel !== 'ready') return;
      child.readyAt = Date.now();
      url ??= m.url;
      if (phase === 'starting' && ++ready === processes) started?.resolve();
    });
    child.worker.on('error', (err) =>
      log.warn({ err, childPid: child.worker.process.pid }, 'HTTP process error'),
    );
    child.worker.on('exit', (code, signal) => {
      live.delete(child);
      if (phase === 'closing') {
        if (live.size === 0) allExited?.();
        return;
      }
      const reason = why(child, code, signal);
      if (phase === 'starting') {
        started?.reject(new Error(`an HTTP process could not start: ${reason}`));
        return;
      }
      const quick = child.readyAt === undefined || Date.now() - child.readyAt < QUICK_DEATH_MS;
      quickDeaths[slot] = quick ? quickDeaths[slot]! + 1 : 0;
      if (quickDeaths[slot]! >= MAX_QUICK_DEATHS) {
        void giveUp(`an HTTP process failed ${MAX_QUICK_DEATHS} times in a row at start-up: ${reason}`);
        return;
      }
      const delay = RESTART_DELAY_MS * 2 ** quickDeaths[slot]!;
      log.warn(
        { childPid: child.worker.process.pid, code, signal, reason, restartInMs: delay },
        'an HTTP process exited; starting another',
      );
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (phase === 'running') fork(slot);
      }, delay);
      restarts.add(timer);
    });
  };

  const close = async (graceMs = 0) => {
    if (phase === 'closing') return;
    phase = 'closing';
    for (const t of restarts) clearTimeout(t);
    const exited = new Promise<void>((resolve) => {
      allExited = resolve;
      if (live.size === 0) resolve();
    });
    for (const c of live) c.worker.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const c of live) c.worker.process.kill('SIGKILL');
    }, graceMs + CLOSE_TIMEOUT_MS);
    killer.unref();
    await Promise.all([exited, own.close(graceMs)]);
    clearTimeout(killer);
  };

  const giveUp = async (reason: string) => {
    log.error({ reason }, 'Reel stops');
    process.stderr.write(`Reel stops: ${reason}\n`);
    await close().catch((err) => log.error({ err }, 'shutdown failed'));
    process.exit(1);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      started = { resolve, reject };
      for (let slot = 0; slot < processes; slot++) fork(slot);
    });
  } catch (err) {
    await close();
    throw err;
  }
  phase = 'running';
  return {
    url: url!,
    metricsUrl: own.metricsUrl,
    createdApiKey: own.createdApiKey,
    processes,
    close,
  };
}

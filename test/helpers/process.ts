/** Spawns `reel` as a child process (from source) and reads what it prints. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(ROOT, 'test/helpers/reel-cli.ts');

export interface ReelProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches, with the match. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/** `reel` from source, through tsx. */
export function spawnReel(args: string[], env: Record<string, string> = {}): ReelProcess {
  return spawnWith(['--import', 'tsx', ENTRY, ...args], env);
}

/** `reel` as users run it, from the build (`npm run build` first): for measuring memory. */
export function spawnBuiltReel(args: string[], env: Record<string, string> = {}): ReelProcess {
  return spawnWith([path.join(ROOT, 'bin/reel.js'), ...args], env);
}

function spawnWith(nodeArgs: string[], env: Record<string, string>): ReelProcess {
  const child = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    // One process, as these tests were written for (REEL_PROCESSES=auto would fork one per core on Postgres).
    env: { REEL_PROCESSES: '1', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => out,
    waitForOutput(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re} in:\n${out.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => setTimeout(check, 50));
        check();
      });
    },
  };
}

/** Starts a whole Reel (all roles, PGlite, fs store) in this process on a free port, in a temp dir. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { type Reel, startReel } from '../../src/server.js';
import { seedPgliteDir } from './pgliteTemplate.js';

export interface TestReel {
  reel: Reel;
  url: string;
  apiKey: string;
  dataDir: string;
  logFile: string;
  /** Authorization header for the API. */
  auth: { Authorization: string };
  api(pathname: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** Test defaults: fast preset, short leases and polls; anything can be overridden by flag name. */
export const TEST_FLAGS = {
  port: '0',
  host: '127.0.0.1',
  'x264-preset': 'superfast',
  'lease-seconds': '3',
  'poll-ms': '100',
  'retry-base-seconds': '0.2',
  'log-level': 'debug',
};

export async function startTestReel(flags: Record<string, string> = {}, dataDir?: string): Promise<TestReel> {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reel-test-'));
  const config = loadConfig({ 'data-dir': dir, ...TEST_FLAGS, ...flags }, {});
  // The embedded database starts from a migrated template (1–2 s instead of 3–5 s for a new cluster).
  if (!config.databaseUrl) await seedPgliteDir(path.join(dir, 'pg'));
  const logFile = path.join(dir, 'reel.log');
  const log = createLogger(config.logLevel, pino.destination({ dest: logFile, sync: true, append: true }));
  const reel = await startReel(config, log);
  const apiKey = reel.createdApiKey ?? config.apiKey ?? '';
  const url = reel.url!;
  const auth = { Authorization: `Bearer ${apiKey}` };
  return {
    reel,
    url,
    apiKey,
    dataDir: dir,
    logFile,
    auth,
    api: (pathname, init = {}) =>
      fetch(url + pathname, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } }),
    close: () => reel.close(),
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until the video is ready (polling its API view every 100 ms); throws when it fails. */
export async function waitUntilReady(
  t: Pick<TestReel, 'api'>,
  id: string,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `video ${id} ready`,
    async () => {
      const v = (await (await t.api(`/v1/videos/${id}`)).json()) as { status: string; error?: string };
      if (v.status === 'failed') throw new Error(`the video failed: ${v.error ?? ''}`);
      return v.status === 'ready';
    },
    timeoutMs,
    100,
  );
}

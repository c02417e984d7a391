/**
 * The browser side of Reel, in the order it must be registered: the API reference (docs.ts, first: it only
 * sees the routes added after it), the pages (pages.ts), the live feed for the library page (events.ts)
 * and the watch page's info (watchInfo.ts), each under the role that serves it.
 */
import type { FastifyInstance } from 'fastify';
import type { AccessConfig, HttpConfig, ProcessConfig } from '../config.js';
import { registerDocs } from './docs.js';
import { type EventsDeps, registerEvents } from './events.js';
import { registerPages } from './pages.js';
import { registerSharePages } from './shares.js';
import type { TokenKeys } from './tokens.js';
import { registerWatchInfo } from './watchInfo.js';

export interface WebDeps extends EventsDeps {
  config: ProcessConfig & HttpConfig & AccessConfig;
  tokenKeys: TokenKeys;
}

/** Call it (awaited) before the other routes are registered. */
export async function registerWeb(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const roles = new Set(deps.config.roles);
  await registerDocs(app);
  await registerPages(app, deps);
  if (roles.has('upload')) registerEvents(app, deps);
  if (roles.has('play')) registerWatchInfo(app, deps);
  if (roles.has('play')) registerSharePages(app, deps);
}

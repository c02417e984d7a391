/**
 * Composes a running Reel process from the configuration: database, object store, the HTTP roles
 * (upload, play) and the worker role. `reel serve` with no configuration runs all three over PGlite and a
 * filesystem store in the data directory.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { rollUpAnalytics } from './analytics/rollup.js';
import type { Config } from './config.js';
import type { Db, ObjectStore } from './core/ports.js';
import { countActiveApiKeys, createApiKey } from './db/apiKeys.js';
import { expireLeasesOfDeadProcess } from './db/jobs.js';
import { openDb } from './db/open.js';
import { createHttpApp, type FrontDoor } from './http/app.js';
import { apiKeyAuth, needScope } from './http/auth.js';
import { registerBeacons } from './http/beacons.js';
import { registerEdgeAuth } from './http/edgeAuth.js';
import { registerImports } from './http/imports.js';
import { KeyRevocations } from './http/keyRevocations.js';
import { MediaCache } from './http/mediaCache.js';
import { registerMultipart, registerMultipartUnavailable } from './http/multipart.js';
import { registerPlayback } from './http/playback.js';
import { PlayCache } from './http/playCache.js';
import { createPlayFastPath } from './http/playFastPath.js';
import { registerSigningKeys } from './http/signingKeys.js';
import { VerifiedTokens } from './http/tokenCache.js';
import { openTokenKeys } from './http/tokenKeyRing.js';
import { registerUploads, type Uploads } from './http/uploads.js';
import { registerVideos } from './http/videos.js';
import { registerWeb } from './http/web.js';
import { registerWebhooks } from './http/webhooks.js';
import { listenForJobs } from './jobs/listen.js';
import { Worker } from './jobs/worker.js';
import { lockDataDir } from './lock.js';
import { Metrics } from './metrics.js';
import { createFsStore } from './storage/fs.js';
import { createS3Store } from './storage/s3.js';
import { WebhookDeliverer } from './webhooks/deliverer.js';

export interface Reel {
  config: Config;
  db: Db;
  store: ObjectStore;
  app: FastifyInstance | undefined;
  worker: Worker | undefined;
  /** The upload role's housekeeping (expiry, recovery), when it runs here. */
  uploads: Uploads | undefined;
  /** The URL the HTTP roles listen on, when they run (else the metrics listener's). */
  url: string | undefined;
  /** The metrics listener's URL (--metrics-port): /metrics and /healthz, open, for an internal network. */
  metricsUrl: string | undefined;
  /** Set when this start created the first API key: it is shown once. */
  createdApiKey: string | undefined;
  close(graceMs?: number): Promise<void>;
}

export async function openStorage(
  config: Config,
): Promise<{ db: Db; store: ObjectStore; unlock: () => void }> {
  const unlock = config.databaseUrl ? () => undefined : lockDataDir(config.dataDir);
  try {
    const db = await openDb(config);
    const store = config.s3Bucket
      ? createS3Store({
          bucket: config.s3Bucket,
          prefix: config.s3Prefix,
          endpoint: config.s3Endpoint,
          region: config.s3Region,
          forcePathStyle: config.s3ForcePathStyle,
        })
      : createFsStore(path.join(config.dataDir, 'objects'));
    return { db, store, unlock };
  } catch (err) {
    unlock();
    throw err;
  }
}

export async function startReel(
  config: Config,
  log: Logger,
  opts: {
    /** False in the HTTP processes of a cluster: their primary created (and printed) the first key. */
    createFirstKey?: boolean;
  } = {},
): Promise<Reel> {
  const { db, store, unlock } = await openStorage(config);
  const timers: NodeJS.Timeout[] = [];
  const roles = new Set(config.roles);

  if (db.kind === 'pglite') {
    const n = await expireLeasesOfDeadProcess(db);
    if (n > 0) log.info({ jobs: n }, 'jobs interrupted by the previous run will be picked up again');
  }

  let createdApiKey: string | undefined;
  if (opts.createFirstKey !== false && !config.apiKey && (await countActiveApiKeys(db)) === 0) {
    createdApiKey = (await createApiKey(db, 'first key')).secret;
  }

  const tokenKeys = await openTokenKeys(db, config, log);
  // The play role answers ready videos from memory, kept right by the database's announcements.
  const playCache = roles.has('play') ? new PlayCache(db) : undefined;
  await playCache?.start(config.databaseUrl, log);
  const verifiedTokens = roles.has('play') ? new VerifiedTokens(tokenKeys) : undefined;

  const metrics = new Metrics(db);
  const worker = roles.has('worker')
    ? new Worker({ db, store, config, metrics, log: log.child({ role: 'worker' }) })
    : undefined;
  const onQueued = () => worker?.notify();
  const listener =
    worker && config.databaseUrl ? listenForJobs(config.databaseUrl, () => worker.notify(), log) : undefined;

  let app: FastifyInstance | undefined;
  let metricsApp: FastifyInstance | undefined;
  let uploads: Uploads | undefined;
  let url: string | undefined;
  let metricsUrl: string | undefined;
  const httpRoles = roles.has('upload') || roles.has('play');
  // The play role's fast path answers what memory holds before Fastify (http/playFastPath.ts).
  const front: FrontDoor = {};
  const requireApiKey = apiKeyAuth(db, config.apiKey);
  // Revoked keys: their open live feeds end at once, in this process and (NOTIFY on Postgres) every other.
  const revocations = new KeyRevocations();
  const revocationListener =
    roles.has('upload') && config.databaseUrl ? revocations.listen(config.databaseUrl, log) : undefined;
  const scrape = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.type(metrics.contentType).send(await metrics.render());
  if (httpRoles) {
    app = createHttpApp(log, config, front);
    // The public port shows process internals (memory, descriptors, worker ids) only to an API key.
    app.get(
      '/metrics',
      { onRequest: requireApiKey, preHandler: needScope('admin'), schema: { hide: true } },
      scrape,
    );
  }
  if (config.metricsPort !== undefined) {
    // The metrics port is meant for an internal network: open, and nothing but /metrics and /healthz.
    metricsApp = createHttpApp(log, config);
    metricsApp.get('/metrics', scrape);
  }
  if (app) {
    await registerWeb(app, { db, config, tokenKeys, requireApiKey, revocations }); // first: /docs sees the routes after it
    if (roles.has('upload')) {
      uploads = registerUploads(app, { db, store, config, log, requireApiKey, onQueued });
      if (store.multipart) {
        registerMultipart(app, {
          db,
          store,
          multipart: store.multipart,
          config,
          log,
          requireApiKey,
          onQueued,
        });
      } else registerMultipartUnavailable(app);
      registerVideos(app, {
        db,
        store,
        config,
        log,
        tokenKeys,
        requireApiKey,
        discardUpload: uploads.discard,
        onQueued,
        revocations,
      });
      registerImports(app, { db, config, log, requireApiKey, onQueued });
      registerSigningKeys(app, { db, log, requireApiKey, customerKeys: tokenKeys.customer });
      registerWebhooks(app, { db, config, log, requireApiKey });
    }
    if (roles.has('play')) {
      const mediaCache = new MediaCache(config.playCacheMb * 1024 * 1024);
      registerPlayback(app, {
        db,
        store,
        tokenKeys,
        config,
        delivery: config.playbackDelivery,
        playCache,
        tokens: verifiedTokens,
        mediaCache,
      });
      if (playCache && verifiedTokens)
        front.handle = createPlayFastPath({ playCache, tokens: verifiedTokens, mediaCache, log });
      registerBeacons(app, { db, tokenKeys, config, log });
      registerEdgeAuth(app, { db, tokenKeys, playCache, tokens: verifiedTokens });
    }
  }
  const listen = async (server: FastifyInstance, port: number) => {
    await server.listen({ port, host: config.host });
    const address = server.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    return `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${bound}`;
  };
  if (app) url = await listen(app, config.port);
  if (metricsApp) {
    metricsUrl = await listen(metricsApp, config.metricsPort!);
    url ??= metricsUrl;
  }

  if (uploads) {
    await uploads.recover();
    const expire = () =>
      void uploads.cleanUpExpired().catch((err) => log.warn({ err }, 'upload expiry failed'));
    expire();
    // Also finish, from time to time, uploads whose process died between storing the last byte and queueing
    // the video (with several upload processes, the one that died may never start again).
    const housekeeping = () => {
      expire();
      void uploads.recover().catch((err) => log.warn({ err }, 'upload recovery failed'));
    };
    timers.push(setInterval(housekeeping, 10 * 60_000));
    // Viewing analytics: raw beacons into per-video, per-day rows (safe to run in every upload process).
    const rollUp = () =>
      void rollUpAnalytics(db, { maxRawEvents: config.analyticsMaxRawEvents, log }).catch((err) =>
        log.warn({ err }, 'viewing analytics rollup failed; will try again'),
      );
    timers.push(setInterval(rollUp, config.analyticsRollupSeconds * 1000));
  }
  worker?.start();
  // Webhook deliveries go out from the processes with the upload role (the API: every deployment has one),
  // never from a worker alone: a transcoding machine keeps its event loop for its leases (with the deliverer
  // beside it, a lost lease was noticed about a second later in test/e2e/postgres.test.ts).
  const deliverer = roles.has('upload')
    ? new WebhookDeliverer({ db, config, log: log.child({ role: 'webhooks' }) })
    : undefined;
  await deliverer?.start();
  for (const t of timers) t.unref();

  let closed = false;
  return {
    config,
    db,
    store,
    app,
    worker,
    uploads,
    url,
    metricsUrl,
    createdApiKey,
    async close(graceMs = 0) {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      tokenKeys.stop();
      front.handle = undefined; // closing: Fastify answers 503 from here on
      await app?.close();
      await playCache?.stop();
      await metricsApp?.close();
      await listener?.close();
      await revocationListener?.close();
      await worker?.stop(graceMs);
      await deliverer?.stop();
      await db.close();
      unlock();
    },
  };
}

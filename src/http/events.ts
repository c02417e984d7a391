/**
 * GET /v1/events, the live feed of video changes for the pages (server-sent events), authenticated like
 * every /v1 call with the `Authorization: Bearer` header. The pages read it with fetch() and a stream
 * reader rather than EventSource (which cannot send headers), so the API key never travels in a URL or a
 * log line. The changes come from one poller per process (videoChanges.ts).
 *
 * An open stream is held to the rules of the key that opened it, for as long as it is open:
 * - a key may hold at most REEL_EVENTS_STREAMS_PER_KEY streams at once; the next one is refused (429);
 * - the streams of a key that is revoked get a last `closed` event and end at once: the revocation is told
 *   to this process (keyRevocations.ts: by its own revoke route, or by NOTIFY from another process on
 *   Postgres); as a fallback the keys of the open streams are also looked up again every tick, so a key
 *   revoked or removed otherwise (a lost notification, a row deleted by hand) is caught within a tick or two;
 * - a client that does not read is dropped: when the bytes the server still holds for it (not yet taken by
 *   its socket) are above MAX_UNSENT_BYTES at the next write, its connection is cut. A reading client
 *   empties that buffer between two ticks; a stalled one costs the server at most that bound and one tick's
 *   frames.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { activeApiKeyIds } from '../db/apiKeys.js';
import { needScope } from './auth.js';
import type { KeyRevocations } from './keyRevocations.js';
import { withScope } from './routeScopes.js';
import { errorRef } from './schemas.js';
import { frame, type Listener, VideoChanges } from './videoChanges.js';

export interface EventsDeps {
  db: Db;
  config: HttpConfig;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  /** How often the feed looks for changes and at the keys of its streams (default 1000 ms). */
  eventsIntervalMs?: number;
  /** Told when a key is revoked: its streams end at once (without it, within a tick or two). */
  revocations?: KeyRevocations | undefined;
}

/** What the server may hold for one client that has not taken it yet, before it is dropped. */
export const MAX_UNSENT_BYTES = 256 * 1024;
const KEEP_ALIVE_MS = 15_000;
/** The key that REEL_API_KEY names (see auth.ts): set by the operator, it cannot be revoked by the API. */
const ENV_KEY = 'env';

interface Stream {
  keyId: string;
  res: ServerResponse;
}

export function registerEvents(app: FastifyInstance, deps: EventsDeps): void {
  const intervalMs = deps.eventsIntervalMs ?? 1000;
  const perKey = deps.config.eventsStreamsPerKey;
  const changes = new VideoChanges(deps.db, intervalMs, (err) =>
    app.log.warn({ err }, 'the live feed could not read the videos'),
  );
  const byKey = new Map<string, Set<Stream>>();
  let keyCheck: NodeJS.Timeout | undefined;
  let checking = false;

  /** Ends a stream with a last frame; one whose client does not read is cut at once instead. */
  const endStream = (s: Stream, last?: string) => {
    if (s.res.destroyed || s.res.writableEnded) return;
    if (s.res.writableLength > MAX_UNSENT_BYTES) s.res.destroy();
    else s.res.end(last);
  };

  /** Ends the streams of a key that was revoked, each with a last `closed` event. */
  const closeKey = (id: string) => {
    const streams = [...(byKey.get(id) ?? [])];
    if (streams.length === 0) return;
    const e = errors.badApiKey();
    const last = frame('closed', JSON.stringify({ code: e.code, message: e.message }));
    app.log.info({ apiKeyId: id, streams: streams.length }, 'live feeds of a revoked key closed');
    for (const s of streams) endStream(s, last);
  };
  const stopHearing = deps.revocations?.on(closeKey);

  /** Ends the streams of the keys revoked (or removed) since they opened. */
  const checkKeys = async () => {
    if (checking) return;
    checking = true;
    try {
      const ids = [...byKey.keys()].filter((id) => id !== ENV_KEY);
      if (ids.length === 0) return;
      const active = await activeApiKeyIds(deps.db, ids);
      for (const id of ids) if (!active.has(id)) closeKey(id);
    } catch (err) {
      app.log.warn({ err }, 'the live feed could not check the keys of its streams');
    } finally {
      checking = false;
    }
  };

  const add = (s: Stream) => {
    const streams = byKey.get(s.keyId) ?? new Set<Stream>();
    streams.add(s);
    byKey.set(s.keyId, streams);
    if (!keyCheck) {
      keyCheck = setInterval(() => void checkKeys(), intervalMs);
      keyCheck.unref();
    }
  };
  const remove = (s: Stream) => {
    const streams = byKey.get(s.keyId);
    streams?.delete(s);
    if (streams?.size === 0) byKey.delete(s.keyId);
    if (byKey.size === 0) {
      clearInterval(keyCheck);
      keyCheck = undefined;
    }
  };

  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => {
    stopHearing?.();
    changes.stop();
    clearInterval(keyCheck);
    for (const streams of byKey.values()) for (const s of streams) s.res.end();
  });

  app.get(
    '/v1/events',
    {
      onRequest: deps.requireApiKey,
      preHandler: needScope('read'),
      schema: {
        tags: ['events'],
        summary: 'Live changes of videos (server-sent events)',
        description: withScope(
          'read',
          'A `text/event-stream`. On connection: one `video` event per unfinished video (uploading, queued, ' +
            'processing); then a `video` event whenever one of them changes (status, progress, error, ' +
            '`playable` when its first chunks are published), up to ' +
            'and including its last change to ready or failed, and `deleted` (`{id}`) when it is removed. ' +
            'A state may be sent more than once: keep the last. ' +
            'The data of a `video` event is the video as GET /v1/videos/{id} returns it. A comment line ' +
            'every 15 s keeps proxies from closing the stream. Send the API key in the Authorization header ' +
            '(read the stream with fetch(); EventSource cannot send headers). ' +
            `A key may hold ${perKey} streams at once (REEL_EVENTS_STREAMS_PER_KEY; the next is refused with ` +
            '429). When the key is revoked, its streams get a last `closed` event (`{code, message}`) and end ' +
            `at once. A client that does not read its stream is dropped once the server holds more than ` +
            `${MAX_UNSENT_BYTES / 1024} KiB for it.`,
        ),
        security: [{ apiKey: [] }],
        response: {
          200: {
            description: 'The event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          '4xx': errorRef,
        },
      },
    },
    async (req, reply) => {
      const keyId = req.apiKeyId ?? '';
      // Counted and reserved before anything is awaited: two requests at once cannot both take the last place.
      if ((byKey.get(keyId)?.size ?? 0) >= perKey) throw errors.tooManyStreams(perKey);
      const res = reply.raw;
      const stream: Stream = { keyId, res };
      add(stream);
      reply.hijack();
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Accel-Buffering': 'no',
        Connection: 'keep-alive',
      });
      res.write('retry: 2000\n\n');
      const send: Listener = (frames) => {
        if (res.destroyed || res.writableEnded) return;
        if (res.writableLength > MAX_UNSENT_BYTES) {
          req.log.warn(
            { apiKeyId: keyId, unsentBytes: res.writableLength },
            'live feed client does not read: dropped',
          );
          res.destroy();
          return;
        }
        res.write(frames);
      };
      let unsubscribe: (() => void) | undefined;
      const keepAlive = setInterval(() => send(': keep-alive\n\n'), KEEP_ALIVE_MS);
      keepAlive.unref();
      const close = () => {
        clearInterval(keepAlive);
        unsubscribe?.();
        remove(stream);
      };
      req.raw.on('close', close);
      res.on('close', close);
      try {
        unsubscribe = await changes.subscribe(send);
        if (res.destroyed || res.writableEnded) close();
      } catch (err) {
        req.log.warn({ err }, 'the live feed could not start');
        endStream(stream);
        close();
      }
    },
  );
}

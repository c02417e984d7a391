/**
 * POST /v1/beacons (play role): what players report about each view (src/web/assets/beacon.js), with no API
 * key, as beacons must be. It accepts and reveals nothing it should not:
 * - the body is JSON (or JSON sent as text/plain, which navigator.sendBeacon sends without a CORS
 *   preflight), at most BEACON_MAX_BYTES (413), at most MAX_EVENTS events, validated by a JSON schema (400);
 * - one viewer (IP address) may send REEL_BEACONS_PER_MINUTE a minute for one video (429), counted in
 *   memory in a bounded table;
 * - only a playable video is counted, and a signed one only with the playback or session token the player
 *   holds (the rule of /play): nobody can pollute a signed video's numbers;
 * - it answers 204 whatever it did with a well-formed beacon (stored, or ignored because the video is
 *   unknown, not playable or the token is refused), so it cannot be used to learn anything.
 * The IP address and User-Agent are used only to make the day's viewer hash (sha256 with a salt that is
 * deleted when its day is over); neither is stored.
 */
import crypto from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { type BeaconEvent, foldBeacon, RETENTION_POINTS } from '../analytics/stats.js';
import type { HttpConfig } from '../config.js';
import { errors } from '../core/errors.js';
import { isId } from '../core/ids.js';
import type { Db } from '../core/ports.js';
import { insertViewEvent, todaysSalt } from '../db/analytics.js';
import { getVideo, isPlayable } from '../db/videos.js';
import { authorisePlayback } from './authorisePlayback.js';
import { errorRef, idString, noContent } from './schemas.js';
import type { TokenKeys } from './tokens.js';

export const BEACON_MAX_BYTES = 8192;
export const MAX_EVENTS = 64;
/** The most playing (or rebuffering) time one beacon may report: a player sends one every 10 s. */
const MAX_MS_PER_BEACON = 10 * 60_000;
/** Viewers (IP + video) the rate limiter remembers; the oldest window is forgotten first. */
const LIMITER_SIZE = 100_000;
/** A salt is asked for again after this long (its day may have ended). */
const SALT_CACHE_MS = 60_000;

export interface BeaconsDeps {
  db: Db;
  tokenKeys: TokenKeys;
  config: Pick<HttpConfig, 'beaconsPerMinute'>;
  log: Logger;
}

interface BeaconBody {
  videoId: string;
  access: string;
  events: BeaconEvent[];
}

/** A fixed-window counter per key in a bounded Map (insertion order = window order). */
export class WindowLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly maxKeys = LIMITER_SIZE,
  ) {}

  /** Counts one for `key`; false when the key has used its window up. */
  take(key: string, now = Date.now()): boolean {
    let w = this.windows.get(key);
    if (w && w.resetAt <= now) {
      this.windows.delete(key);
      w = undefined;
    }
    if (!w) {
      while (this.windows.size >= this.maxKeys) {
        const oldest = this.windows.keys().next().value as string;
        this.windows.delete(oldest);
      }
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    if (w.count >= this.perWindow) return false;
    w.count++;
    return true;
  }

  get size(): number {
    return this.windows.size;
  }
}

const ms = { type: 'integer', minimum: 0, maximum: MAX_MS_PER_BEACON } as const;

const eventSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['start', 'play', 'rebuffer', 'switch', 'error', 'reach'] },
    startupMs: { ...ms, description: 'start: from the play request to the first frame' },
    referrer: {
      type: ['string', 'null'],
      maxLength: 200,
      description: 'start: the origin (only) of the page that linked or embedded the player',
    },
    ms: { ...ms, description: 'play: time played (at `bitrate`); rebuffer: time spent waiting for data' },
    bitrate: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000_000,
      description: "play, switch: the rendition's bit rate, bit/s",
    },
    points: {
      type: 'array',
      maxItems: RETENTION_POINTS,
      uniqueItems: true,
      items: { type: 'integer', minimum: 0, maximum: RETENTION_POINTS - 1 },
      description: 'reach: the 5 % points of the video passed while playing (0 = the start, 20 = the end)',
    },
    kind: { type: 'string', maxLength: 40, description: 'error: what failed (network, media); not stored' },
  },
  required: ['type'],
} as const;

const bodySchema = {
  type: 'object',
  properties: {
    videoId: idString,
    access: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      description: 'the access part of the playback URL: `public`, or the playback or session token',
    },
    events: { type: 'array', minItems: 1, maxItems: MAX_EVENTS, items: eventSchema },
  },
  required: ['videoId', 'access', 'events'],
} as const;

/** Rules the schema cannot say: one start per beacon, and time within what 10 s of batching can hold. */
function checkBatch(events: readonly BeaconEvent[]): void {
  let starts = 0;
  let played = 0;
  let waited = 0;
  for (const e of events) {
    if (e.type === 'start') starts++;
    if (e.type === 'play') played += e.ms ?? 0;
    if (e.type === 'rebuffer') waited += e.ms ?? 0;
  }
  if (starts > 1) throw errors.invalidRequest('Invalid request: a beacon holds at most one start event.');
  if (played > MAX_MS_PER_BEACON || waited > MAX_MS_PER_BEACON)
    throw errors.invalidRequest(
      `Invalid request: a beacon reports at most ${MAX_MS_PER_BEACON} ms of playing and of rebuffering.`,
    );
}

export function registerBeacons(app: FastifyInstance, deps: BeaconsDeps): void {
  const { db, log } = deps;
  const limiter = new WindowLimiter(deps.config.beaconsPerMinute, 60_000);
  let salt: { day: string; salt: string; until: number; utcDay: string } | undefined;
  const utcDay = () => new Date().toISOString().slice(0, 10);
  const todays = async () => {
    if (!salt || salt.until < Date.now() || salt.utcDay !== utcDay()) {
      const s = await todaysSalt(db, crypto.randomBytes(32).toString('base64url'));
      salt = { ...s, until: Date.now() + SALT_CACHE_MS, utcDay: utcDay() };
    }
    return salt;
  };

  const cors = (reply: FastifyReply) => {
    reply.header('Access-Control-Allow-Origin', '*');
    reply.header('Cache-Control', 'no-store');
  };

  app.register(async (b) => {
    // sendBeacon's text/plain carries JSON (a CORS-safelisted type: no preflight from another origin).
    b.removeContentTypeParser('text/plain');
    b.addContentTypeParser(
      'text/plain',
      { parseAs: 'string', bodyLimit: BEACON_MAX_BYTES },
      (_req, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(errors.invalidRequest('Invalid request: a beacon is a JSON object.'), undefined);
        }
      },
    );

    b.options('/v1/beacons', { schema: { hide: true } }, async (_req, reply) => {
      cors(reply);
      reply.header('Access-Control-Allow-Methods', 'POST, OPTIONS');
      reply.header('Access-Control-Allow-Headers', 'Content-Type');
      reply.header('Access-Control-Max-Age', '86400');
      return reply.code(204).send();
    });

    b.post<{ Body: BeaconBody }>(
      '/v1/beacons',
      {
        bodyLimit: BEACON_MAX_BYTES,
        errorHandler: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
          cors(reply);
          if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') throw errors.beaconTooLarge(BEACON_MAX_BYTES);
          throw err;
        },
        schema: {
          tags: ['analytics'],
          summary: 'Report viewing events (the player does this)',
          description:
            'What a player reports about one view, batched (every 10 s and when the page is left): `start` ' +
            '(once, with the startup time and the referring origin), `play` (time played at a bit rate), ' +
            '`rebuffer`, `switch` (of rendition), `error`, `reach` (the 5 % points of the video passed). No ' +
            'cookies, no personal data: the IP address and User-Agent only make a daily salted hash for unique ' +
            `viewers and are not stored. At most ${BEACON_MAX_BYTES} bytes (413 ${errors.beaconTooLarge.code}) ` +
            `and ${MAX_EVENTS} events; REEL_BEACONS_PER_MINUTE per viewer and video (429 ` +
            `${errors.tooManyBeacons.code}). \`access\` is what the playback URL holds: \`public\`, or the ` +
            "signed video's playback or session token. Always 204 for a well-formed beacon, counted or not " +
            '(an unknown or unplayable video, or a refused token, is ignored): it reveals nothing. The play ' +
            'role answers it. No API key.',
          body: bodySchema,
          response: { 204: noContent, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        cors(reply);
        const { videoId, access, events } = req.body;
        checkBatch(events);
        if (!limiter.take(`${req.ip}\u0000${videoId}`)) {
          reply.header('Retry-After', '60');
          throw errors.tooManyBeacons(deps.config.beaconsPerMinute);
        }
        const ignore = (why: string) => {
          req.log.debug({ videoId, why }, 'beacon ignored');
          return reply.code(204).send();
        };
        if (!isId(videoId)) return ignore('bad id');
        const video = await getVideo(db, videoId);
        if (!video || !isPlayable(video)) return ignore('unknown or unplayable video');
        try {
          await authorisePlayback(deps.tokenKeys, video, access, 'media');
        } catch {
          return ignore('access refused');
        }
        const folded = foldBeacon(events);
        const { day, salt: s } = await todays();
        let viewer: string | null = null;
        if (folded.started) {
          const ua = (req.headers['user-agent'] ?? '').slice(0, 512);
          viewer = crypto
            .createHash('sha256')
            .update(`${s}\n${video.id}\n${req.ip}\n${ua}`)
            .digest('hex')
            .slice(0, 32);
        }
        try {
          await insertViewEvent(db, { ...folded, videoId: video.id, day, viewer });
        } catch (err) {
          // The video was deleted a moment ago (its events go with it), or the database failed: the player
          // has nothing to do about either.
          log.warn({ err, videoId }, 'beacon not stored');
        }
        return reply.code(204).send();
      },
    );
  });
}

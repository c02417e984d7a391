/**
 * The one place that reads the environment and command-line flags. Every setting is declared once in
 * SETTINGS with its section, flag, environment variable, default and description; `reel serve --help`
 * prints this table under its section headings, so the help cannot drift from what the code reads. The
 * `Config` type is computed from the table (each field's type is what its `parse` returns), and a module
 * takes the sections it reads (`QueueConfig`, `HttpConfig & AccessConfig`, …) rather than the whole.
 */
import net from 'node:net';
import path from 'node:path';
import { errors } from './core/errors.js';

export type Role = 'upload' | 'play' | 'worker';
export const ALL_ROLES: readonly Role[] = ['upload', 'play', 'worker'];

/** The sections, in the order `reel serve --help` prints them, with their headings. */
export const SECTIONS = {
  process: 'process: what this process runs, its logs and its shutdown',
  http: 'http: the HTTP listener',
  storage: 'storage: the database and the object store',
  access: 'access: API keys and playback tokens',
  uploads: 'uploads: tus and direct uploads',
  queue: 'queue: jobs, leases and retries',
  transcode: 'transcode: the ladder, ffmpeg, and the limits on what is accepted',
  integration: 'integration: webhooks, upload links, imports from a URL',
  cli: 'cli: the reel upload client (not read by reel serve)',
} as const;
export type Section = keyof typeof SECTIONS;
/** The sections `reel serve` (and `reel worker`, `reel keys`) read: all but the client's. */
export type ServerSection = Exclude<Section, 'cli'>;

interface Setting<S extends Section = Section, K extends string = string, T = unknown> {
  section: S;
  /** The field of the section's config object. */
  key: K;
  /** The command-line flag, without dashes; none for a setting read only from the environment. */
  flag?: string | undefined;
  env: string;
  default: string;
  description: string;
  /** Turns the raw text into the field's value; its return type is the field's type. */
  parse: (raw: string, name: string) => T;
}

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (raw: string, name: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw errors.invalidConfig(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
const num =
  (min: number) =>
  (raw: string, name: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw errors.invalidConfig(`${name} must be a number ≥ ${min}, got "${raw}"`);
    return n;
  };
const str = (raw: string) => raw;
const bool = (raw: string, name: string): boolean => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw errors.invalidConfig(`${name} must be true or false, got "${raw}"`);
};
const optional = (raw: string) => (raw === '' ? undefined : raw);

/** One row of the table; keeps the section and key literal and the value type `parse` returns. */
function setting<S extends Section, K extends string, T>(s: Setting<S, K, T>): Setting<S, K, T> {
  return s;
}

export const SETTINGS = [
  setting({
    section: 'process',
    key: 'roles',
    flag: 'roles',
    env: 'REEL_ROLES',
    default: 'upload,play,worker',
    description: 'comma list of roles to run: upload, play, worker',
    parse: (raw, name) => {
      const roles = raw
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      for (const r of roles) {
        if (!ALL_ROLES.includes(r as Role)) throw errors.invalidConfig(`${name}: unknown role "${r}"`);
      }
      if (roles.length === 0) throw errors.invalidConfig(`${name}: name at least one role`);
      return roles as Role[];
    },
  }),
  setting({
    section: 'process',
    key: 'processes',
    flag: 'processes',
    env: 'REEL_PROCESSES',
    default: 'auto',
    description:
      'HTTP processes (the upload and play roles) sharing the port: a whole number, or auto (one per core on Postgres, at most 8); embedded (no DATABASE_URL) runs one, as PGlite is a single-process database: set DATABASE_URL to run more',
    parse: (raw, name): number | 'auto' => (raw.trim() === 'auto' ? 'auto' : int(1, 1024)(raw.trim(), name)),
  }),
  setting({
    section: 'process',
    key: 'shutdownGraceSeconds',
    flag: 'shutdown-grace-seconds',
    env: 'REEL_SHUTDOWN_GRACE_SECONDS',
    default: '20',
    description: 'on SIGTERM, time a running job may finish before it is handed back (0: at once)',
    parse: num(0),
  }),
  setting({
    section: 'process',
    key: 'metricsPort',
    flag: 'metrics-port',
    env: 'REEL_METRICS_PORT',
    default: '',
    description:
      'a second listener with /metrics and /healthz, open (no API key: keep it on an internal network); the only one of a worker alone',
    parse: (raw, name) => (raw === '' ? undefined : int(0, 65535)(raw, name)),
  }),
  setting({
    section: 'process',
    key: 'logLevel',
    flag: 'log-level',
    env: 'LOG_LEVEL',
    default: 'info',
    description: 'fatal, error, warn, info, debug',
    parse: str,
  }),
  setting({
    section: 'http',
    key: 'port',
    flag: 'port',
    env: 'PORT',
    default: '8080',
    description: 'HTTP port',
    parse: int(0, 65535),
  }),
  setting({
    section: 'http',
    key: 'host',
    flag: 'host',
    env: 'HOST',
    default: '0.0.0.0',
    description: 'HTTP bind address',
    parse: str,
  }),
  setting({
    section: 'http',
    key: 'publicUrl',
    flag: 'public-url',
    env: 'REEL_PUBLIC_URL',
    default: '',
    description:
      "base of the URLs Reel hands out (playback URLs, the tus Location), e.g. https://video.example.com (default: the request's scheme and Host)",
    parse: (raw, name) => {
      if (raw === '') return undefined;
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw errors.invalidConfig(
          `${name} must be an absolute URL such as https://video.example.com, got "${raw}"`,
        );
      }
      if (!/^https?:$/.test(url.protocol) || url.search || url.hash || url.username || url.password) {
        throw errors.invalidConfig(
          `${name} must be an http(s) URL without query, fragment or credentials, got "${raw}"`,
        );
      }
      return url.href.replace(/\/+$/, '');
    },
  }),
  setting({
    section: 'http',
    key: 'playCacheMb',
    flag: 'play-cache-mb',
    env: 'REEL_PLAY_CACHE_MB',
    default: '128',
    description:
      'memory the play role keeps hot media files in (segments, init segments, storyboard sheets; least recently used out first), MB per process; 0 reads every request from the store',
    parse: int(0, 1024 * 1024),
  }),
  setting({
    section: 'http',
    key: 'trustProxy',
    flag: 'trust-proxy',
    env: 'REEL_TRUST_PROXY',
    default: 'false',
    description:
      'believe X-Forwarded-For/Host/Proto only from these proxies: a comma list of addresses or CIDRs (or loopback, linklocal, uniquelocal), or true for any client (only behind a proxy that overwrites them)',
    parse: (raw, name) => {
      if (/^(|0|false|no|off)$/i.test(raw.trim())) return false;
      if (/^(1|true|yes|on)$/i.test(raw.trim())) return true;
      const list = raw
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      for (const a of list) {
        const [addr, bits, more] = a.split('/');
        const family = net.isIP(addr ?? '');
        const named = ['loopback', 'linklocal', 'uniquelocal'].includes(a);
        const okBits =
          bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
        if (!named && (family === 0 || !okBits || more !== undefined)) {
          throw errors.invalidConfig(
            `${name}: "${a}" is not an address or CIDR (e.g. 10.0.0.5, 10.0.0.0/8, ::1, loopback); use true or false to trust any or no proxy`,
          );
        }
      }
      return list;
    },
  }),
  setting({
    section: 'http',
    key: 'maxCaptionBytes',
    flag: 'max-caption-bytes',
    env: 'REEL_MAX_CAPTION_BYTES',
    default: String(2 * 1024 * 1024),
    description: 'largest caption file (WebVTT or SRT) POST /v1/videos/{id}/captions accepts, in bytes',
    parse: int(1024),
  }),
  setting({
    section: 'http',
    key: 'maxCaptionsPerVideo',
    flag: 'max-captions-per-video',
    env: 'REEL_MAX_CAPTIONS_PER_VIDEO',
    default: '20',
    description: 'most caption tracks a video may have (uploaded and extracted from the source)',
    parse: int(1, 1000),
  }),
  setting({
    section: 'http',
    key: 'beaconsPerMinute',
    flag: 'beacons-per-minute',
    env: 'REEL_BEACONS_PER_MINUTE',
    default: '30',
    description:
      'viewing beacons (POST /v1/beacons) one viewer (IP address) may send a minute for one video; more get 429 (a player sends one every 10 s)',
    parse: int(1, 100_000),
  }),
  setting({
    section: 'http',
    key: 'analyticsRollupSeconds',
    flag: 'analytics-rollup-seconds',
    env: 'REEL_ANALYTICS_ROLLUP_SECONDS',
    default: '60',
    description:
      'how often a process with the upload role rolls raw viewing events up into per-video, per-day rows (what the analytics API shows)',
    parse: num(1),
  }),
  setting({
    section: 'http',
    key: 'analyticsMaxRawEvents',
    flag: 'analytics-max-raw-events',
    env: 'REEL_ANALYTICS_MAX_RAW_EVENTS',
    default: '1000000',
    description:
      'most raw viewing events kept while waiting for the rollup; the oldest beyond it are dropped (and a warning logged)',
    parse: int(1000),
  }),
  setting({
    section: 'http',
    key: 'bodyIdleSeconds',
    flag: 'body-idle-seconds',
    env: 'REEL_BODY_IDLE_SECONDS',
    default: '60',
    description:
      'a request body that sends no byte for this long is cut (a tus upload keeps the bytes that arrived and resumes)',
    parse: num(0.1),
  }),
  setting({
    section: 'http',
    key: 'maxConnections',
    flag: 'max-connections',
    env: 'REEL_MAX_CONNECTIONS',
    default: '2000',
    description:
      'HTTP connections open at once; more are closed as soon as they are accepted (keep the open-files limit above it)',
    parse: int(1),
  }),
  setting({
    section: 'http',
    key: 'eventsStreamsPerKey',
    flag: 'events-streams-per-key',
    env: 'REEL_EVENTS_STREAMS_PER_KEY',
    default: '10',
    description: 'live feeds (GET /v1/events) one API key may hold open at once; the next one gets 429',
    parse: int(1, 10_000),
  }),
  setting({
    section: 'storage',
    key: 'dataDir',
    flag: 'data-dir',
    env: 'REEL_DATA_DIR',
    default: './data',
    description: 'embedded database, object store and upload staging',
    parse: (raw) => path.resolve(raw),
  }),
  setting({
    section: 'storage',
    key: 'databaseUrl',
    flag: 'database-url',
    env: 'DATABASE_URL',
    default: '',
    description: 'postgres://… to use Postgres (default: PGlite in the data directory)',
    parse: optional,
  }),
  setting({
    section: 'storage',
    key: 's3Bucket',
    flag: 's3-bucket',
    env: 'REEL_S3_BUCKET',
    default: '',
    description: 'store objects in this S3 bucket (default: files in the data directory)',
    parse: optional,
  }),
  setting({
    section: 'storage',
    key: 's3Prefix',
    flag: 's3-prefix',
    env: 'REEL_S3_PREFIX',
    default: '',
    description: 'key prefix inside the bucket',
    parse: str,
  }),
  setting({
    section: 'storage',
    key: 's3Endpoint',
    flag: 's3-endpoint',
    env: 'REEL_S3_ENDPOINT',
    default: '',
    description: 'S3-compatible endpoint (MinIO, R2, …); credentials from the usual AWS sources',
    parse: optional,
  }),
  setting({
    section: 'storage',
    key: 's3Region',
    flag: 's3-region',
    env: 'REEL_S3_REGION',
    default: 'us-east-1',
    description: 'S3 region',
    parse: str,
  }),
  setting({
    section: 'storage',
    key: 's3ForcePathStyle',
    flag: 's3-force-path-style',
    env: 'REEL_S3_FORCE_PATH_STYLE',
    default: 'false',
    description: 'path-style bucket addressing (MinIO and most emulators need it)',
    parse: bool,
  }),
  setting({
    section: 'storage',
    key: 'playbackDelivery',
    flag: 'playback-delivery',
    env: 'REEL_PLAYBACK_DELIVERY',
    default: 'proxy',
    description:
      'segments on S3: "proxy" streams them through Reel, "redirect" sends players to presigned URLs',
    parse: (raw, name) => {
      if (raw !== 'proxy' && raw !== 'redirect')
        throw errors.invalidConfig(`${name} must be "proxy" or "redirect"`);
      return raw;
    },
  }),
  setting({
    section: 'access',
    key: 'apiKey',
    flag: 'api-key',
    env: 'REEL_API_KEY',
    default: '',
    description: 'an API key to accept (default: one is created and printed on first start)',
    parse: optional,
  }),
  setting({
    section: 'access',
    key: 'tokenTtlSeconds',
    flag: 'token-ttl-seconds',
    env: 'REEL_TOKEN_TTL_SECONDS',
    default: '3600',
    description: 'a playback token can start playback for this long (the playback it started may finish)',
    parse: int(1),
  }),
  setting({
    section: 'access',
    key: 'sessionAllowanceSeconds',
    flag: 'session-allowance-seconds',
    env: 'REEL_SESSION_ALLOWANCE_SECONDS',
    default: '14400',
    description:
      "a playback that started with a valid token may go on for 3× the video's duration plus this long (pauses)",
    parse: int(0),
  }),
  setting({
    section: 'access',
    key: 'signingKeyRefreshSeconds',
    flag: 'signing-key-refresh-seconds',
    env: 'REEL_SIGNING_KEY_REFRESH_SECONDS',
    default: '60',
    description:
      'how often a process reloads the token signing keys (picks up a rotation, drops retired keys)',
    parse: int(1, 86400),
  }),
  setting({
    section: 'uploads',
    key: 'maxUploadBytes',
    flag: 'max-upload-bytes',
    env: 'REEL_MAX_UPLOAD_BYTES',
    default: String(20 * 1024 ** 3),
    description: 'largest upload accepted, in bytes',
    parse: int(1),
  }),
  setting({
    section: 'uploads',
    key: 'minFreeMib',
    flag: 'min-free-mib',
    env: 'REEL_MIN_FREE_MIB',
    default: '1024',
    description:
      'refuse new uploads and upload bytes (507) while the disk that stages them has less free space than this, in MiB (0: never)',
    parse: int(0),
  }),
  setting({
    section: 'uploads',
    key: 'uploadExpiryHours',
    flag: 'upload-expiry-hours',
    env: 'REEL_UPLOAD_EXPIRY_HOURS',
    default: '24',
    description: 'unfinished uploads expire after this many hours',
    parse: num(0.001),
  }),
  setting({
    section: 'uploads',
    key: 'tusPartMib',
    flag: 'tus-part-mib',
    env: 'REEL_TUS_PART_MIB',
    default: '32',
    description:
      'on S3: tus bytes stream to storage in parts of this many MiB (an interrupted request loses at most one)',
    parse: int(5, 1024),
  }),
  setting({
    section: 'queue',
    key: 'leaseSeconds',
    flag: 'lease-seconds',
    env: 'REEL_LEASE_SECONDS',
    default: '30',
    description: 'lease length of a job or task; a worker silent this long loses it',
    parse: num(0.3),
  }),
  setting({
    section: 'queue',
    key: 'heartbeatSeconds',
    flag: 'heartbeat-seconds',
    env: 'REEL_HEARTBEAT_SECONDS',
    default: '',
    description: 'heartbeat interval (default: a third of the lease)',
    parse: (raw, name) => (raw === '' ? 0 : num(0.1)(raw, name)),
  }),
  setting({
    section: 'queue',
    key: 'maxAttempts',
    flag: 'max-attempts',
    env: 'REEL_MAX_ATTEMPTS',
    default: '3',
    description: 'attempts per job (planning) and per task before the video fails',
    parse: int(1, 100),
  }),
  setting({
    section: 'queue',
    key: 'retryBaseSeconds',
    flag: 'retry-base-seconds',
    env: 'REEL_RETRY_BASE_SECONDS',
    default: '10',
    description: 'first retry delay; doubles each attempt',
    parse: num(0),
  }),
  setting({
    section: 'queue',
    key: 'concurrency',
    flag: 'concurrency',
    env: 'REEL_CONCURRENCY',
    default: '1',
    description: 'tasks (video chunks) one worker runs at once; the audio a planner leases runs beside them',
    parse: int(1, 64),
  }),
  setting({
    section: 'queue',
    key: 'pollMs',
    flag: 'poll-ms',
    env: 'REEL_POLL_MS',
    default: '500',
    description: 'how often an idle worker looks for jobs (Postgres also wakes it with NOTIFY)',
    parse: int(10),
  }),
  setting({
    section: 'queue',
    key: 'noSpaceRetrySeconds',
    flag: 'no-space-retry-seconds',
    env: 'REEL_NO_SPACE_RETRY_SECONDS',
    default: '300',
    description: "when the worker's disk is full, retry after this long (not counted as an attempt)",
    parse: num(0),
  }),
  setting({
    section: 'transcode',
    key: 'ladder',
    flag: 'ladder',
    env: 'REEL_LADDER',
    default: '1080,720,480,240',
    description: 'rendition heights (short side), highest first',
    parse: (raw, name) => {
      const rungs = raw.split(',').map((r) => int(16, 4320)(r.trim(), name));
      return [...new Set(rungs)].sort((a, b) => b - a);
    },
  }),
  setting({
    section: 'transcode',
    key: 'x264Preset',
    flag: 'x264-preset',
    env: 'REEL_X264_PRESET',
    default: 'veryfast',
    description: 'libx264 preset (ultrafast … veryslow)',
    parse: (raw, name) => {
      const presets = [
        'ultrafast',
        'superfast',
        'veryfast',
        'faster',
        'fast',
        'medium',
        'slow',
        'slower',
        'veryslow',
      ];
      if (!presets.includes(raw)) throw errors.invalidConfig(`${name}: unknown preset "${raw}"`);
      return raw;
    },
  }),
  setting({
    section: 'transcode',
    key: 'crf',
    flag: 'crf',
    env: 'REEL_CRF',
    default: '21',
    description: 'x264 quality (lower is better), capped per rung by a bitrate ceiling',
    parse: int(0, 51),
  }),
  setting({
    section: 'transcode',
    key: 'maxDurationSeconds',
    flag: 'max-duration-seconds',
    env: 'REEL_MAX_DURATION_SECONDS',
    default: String(12 * 3600),
    description: 'longest video accepted (refused when probed), in seconds',
    parse: num(1),
  }),
  setting({
    section: 'transcode',
    key: 'maxDimension',
    flag: 'max-dimension',
    env: 'REEL_MAX_DIMENSION',
    default: '4096',
    description: 'widest and tallest video frame accepted, in pixels',
    parse: int(16),
  }),
  setting({
    section: 'transcode',
    key: 'maxPixels',
    flag: 'max-pixels',
    env: 'REEL_MAX_PIXELS',
    default: String(4096 * 2176),
    description: 'largest video frame accepted, in pixels (width × height; 4096×2176 by default)',
    parse: int(256),
  }),
  setting({
    section: 'transcode',
    key: 'maxAudioTracks',
    flag: 'max-audio-tracks',
    env: 'REEL_MAX_AUDIO_TRACKS',
    default: '8',
    description:
      "audio streams of a source made into the master's audio renditions (the first N; more are logged)",
    parse: int(1, 64),
  }),
  setting({
    section: 'transcode',
    key: 'attemptBudgetSeconds',
    flag: 'attempt-budget-seconds',
    env: 'REEL_ATTEMPT_BUDGET_SECONDS',
    default: '600',
    description: 'transcode time allowed to any video, plus REEL_ATTEMPT_BUDGET_FACTOR × its duration',
    parse: num(0.1),
  }),
  setting({
    section: 'transcode',
    key: 'attemptBudgetFactor',
    flag: 'attempt-budget-factor',
    env: 'REEL_ATTEMPT_BUDGET_FACTOR',
    default: '10',
    description: 'transcode seconds allowed per second of video; past the budget ffmpeg is stopped',
    parse: num(0),
  }),
  setting({
    section: 'transcode',
    key: 'ffmpegPath',
    flag: 'ffmpeg',
    env: 'FFMPEG_PATH',
    default: 'ffmpeg',
    description: 'ffmpeg binary',
    parse: str,
  }),
  setting({
    section: 'transcode',
    key: 'thumbnailRenders',
    flag: 'thumbnail-renders',
    env: 'REEL_THUMBNAIL_RENDERS',
    default: '2',
    description:
      'thumbnails and animated previews made at once per process (4 more per slot wait; beyond, 503 with Retry-After)',
    parse: int(1, 64),
  }),
  setting({
    section: 'transcode',
    key: 'thumbnailsKept',
    flag: 'thumbnails-kept',
    env: 'REEL_THUMBNAILS_KEPT',
    default: '500',
    description:
      'images (thumbnails, animated previews) kept in the store per video; past it they are made but not kept',
    parse: int(0, 1_000_000),
  }),
  setting({
    section: 'transcode',
    key: 'ffprobePath',
    flag: 'ffprobe',
    env: 'FFPROBE_PATH',
    default: 'ffprobe',
    description: 'ffprobe binary',
    parse: str,
  }),
  setting({
    section: 'cli',
    key: 'server',
    flag: 'server',
    env: 'REEL_URL',
    default: 'http://localhost:8080',
    description: "Reel's URL, for reel upload",
    parse: str,
  }),
  setting({
    section: 'cli',
    key: 'apiKey',
    flag: 'api-key',
    env: 'REEL_API_KEY',
    default: '',
    description: 'the API key reel upload sends',
    parse: optional,
  }),
  setting({
    section: 'integration',
    key: 'webhookConcurrency',
    flag: 'webhook-concurrency',
    env: 'REEL_WEBHOOK_CONCURRENCY',
    default: '8',
    description: 'webhook deliveries one process (with the upload role) sends at the same time',
    parse: int(1, 1000),
  }),
  setting({
    section: 'integration',
    key: 'webhookTimeoutSeconds',
    flag: 'webhook-timeout-seconds',
    env: 'REEL_WEBHOOK_TIMEOUT_SECONDS',
    default: '10',
    description:
      'a receiver that has not answered a delivery by then has failed that attempt (a delivery is leased for twice this + 1 s)',
    parse: num(0.1),
  }),
  setting({
    section: 'integration',
    key: 'webhookRetryScale',
    flag: 'webhook-retry-scale',
    env: 'REEL_WEBHOOK_RETRY_SCALE',
    default: '1',
    description:
      'multiplies the waits between attempts of a delivery (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then failed: about 27 h); below 1 for tests only',
    parse: num(0),
  }),
  setting({
    section: 'integration',
    key: 'webhookRetentionDays',
    flag: 'webhook-retention-days',
    env: 'REEL_WEBHOOK_RETENTION_DAYS',
    default: '30',
    description: 'finished webhook deliveries (and deleted webhooks) are kept this long for GET …/deliveries',
    parse: num(0),
  }),
  setting({
    section: 'integration',
    key: 'allowPrivateNetworks',
    flag: 'allow-private-networks',
    env: 'REEL_ALLOW_PRIVATE_NETWORKS',
    default: 'false',
    description:
      'let webhooks and imports reach loopback, private, link-local (cloud metadata), multicast and unspecified addresses (for a private deployment or tests only)',
    parse: bool,
  }),
  setting({
    section: 'integration',
    key: 'importTimeoutSeconds',
    flag: 'import-timeout-seconds',
    env: 'REEL_IMPORT_TIMEOUT_SECONDS',
    default: '3600',
    description:
      'longest a worker may take to fetch the source of an import from a URL (POST /v1/videos {url}); a slower fetch is stopped and retried',
    parse: int(1, 7 * 86400),
  }),
  setting({
    section: 'cli',
    key: 'stateFile',
    env: 'REEL_UPLOAD_STATE',
    default: '',
    description:
      'the file that remembers interrupted uploads, so that the same file resumes (default: ~/.config/reel/uploads.json)',
    parse: optional,
  }),
] as const;

type AnySetting = (typeof SETTINGS)[number];

/** The values of the settings of sections S, each typed by what its `parse` returns. */
export type ConfigSection<S extends Section> = {
  [E in AnySetting as E['section'] extends S ? E['key'] : never]: ReturnType<E['parse']>;
};

export type ProcessConfig = ConfigSection<'process'>;
export type HttpConfig = ConfigSection<'http'>;
export type StorageConfig = ConfigSection<'storage'>;
export type AccessConfig = ConfigSection<'access'>;
export type UploadsConfig = ConfigSection<'uploads'>;
export type QueueConfig = ConfigSection<'queue'>;
export type TranscodeConfig = ConfigSection<'transcode'>;
export type IntegrationConfig = ConfigSection<'integration'>;
/** What `reel upload` reads. */
export type CliConfig = ConfigSection<'cli'>;
/** What `reel serve` reads: every server section, in one flat object (`config.leaseSeconds`). */
export type Config = ConfigSection<ServerSection>;

const SECTION_ORDER = Object.keys(SECTIONS) as Section[];
const isServerSection = (s: Section): s is ServerSection => s !== 'cli';
const SERVER_SECTIONS = SECTION_ORDER.filter(isServerSection);

/** Parses the settings of some sections: a flag beats the environment, which beats the default. */
function parseSections<S extends Section>(
  sections: readonly S[],
  flags: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
): ConfigSection<S> {
  const wanted: readonly Section[] = sections;
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    if (!wanted.includes(s.section)) continue;
    const fromFlag = s.flag === undefined ? undefined : flags[s.flag];
    const fromEnv = env[s.env];
    const raw = fromFlag ?? fromEnv ?? s.default;
    const name =
      fromFlag !== undefined ? `--${s.flag}` : fromEnv !== undefined ? s.env : `default of ${s.env}`;
    out[s.key] = s.parse(raw, name);
  }
  // One field per setting of these sections, each its own parse's result: what ConfigSection<S> spells.
  return out as ConfigSection<S>;
}

/**
 * Builds the server's configuration: a flag beats the environment, which beats the default.
 * `flags` maps flag names (without dashes) to their raw values.
 */
export function loadConfig(flags: Record<string, string | undefined> = {}, env = process.env): Config {
  const config = parseSections(SERVER_SECTIONS, flags, env);
  if (!config.heartbeatSeconds) config.heartbeatSeconds = config.leaseSeconds / 3;
  if (config.heartbeatSeconds >= config.leaseSeconds) {
    throw errors.invalidConfig('the heartbeat interval must be shorter than the lease');
  }
  return config;
}

/** Builds the `reel upload` client's settings (the cli section) alone. */
export function loadCliConfig(flags: Record<string, string | undefined> = {}, env = process.env): CliConfig {
  return parseSections(['cli'], flags, env);
}

/** The help table printed by `reel serve --help`: every section under its heading. */
export function settingsHelp(): string {
  const rows = SETTINGS.map((s) => ({
    section: s.section,
    cells: [
      s.flag === undefined ? '' : `--${s.flag}`,
      s.env,
      s.default === '' ? '(none)' : s.default,
      s.description,
    ],
  }));
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r.cells[i]!.length)));
  return SECTION_ORDER.map((section) =>
    [
      `${SECTIONS[section]}`,
      ...rows
        .filter((r) => r.section === section)
        .map((r) => `  ${r.cells.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ')}`),
    ].join('\n'),
  ).join('\n\n');
}

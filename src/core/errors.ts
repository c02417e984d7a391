/**
 * The one catalogue of errors. Every error a client or an operator can see is defined here with its
 * code and HTTP status; the HTTP layer turns any ReelError into `{error, code, message, statusCode}`.
 */
import { STATUS_CODES } from 'node:http';

export class ReelError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    /** Failures that retrying cannot fix (the source is not a video) fail the job at once. */
    readonly permanent = false,
  ) {
    super(message);
    this.name = 'ReelError';
  }

  toBody(): ErrorBody {
    return {
      error: STATUS_CODES[this.statusCode] ?? 'Error',
      code: this.code,
      message: this.message,
      statusCode: this.statusCode,
    };
  }
}

export interface ErrorBody {
  error: string;
  code: string;
  message: string;
  statusCode: number;
}

const define =
  <A extends unknown[]>(
    code: string,
    statusCode: number,
    message: (...args: A) => string,
    permanent = false,
  ) =>
  (...args: A) =>
    new ReelError(code, statusCode, message(...args), permanent);

export const errors = {
  // authentication and authorisation
  missingApiKey: define(
    'REEL_MISSING_API_KEY',
    401,
    () => 'This call needs an API key: send the header "Authorization: Bearer <api key>".',
  ),
  badApiKey: define(
    'REEL_BAD_API_KEY',
    401,
    () => 'The API key is unknown or revoked. Create one with "reel keys create".',
  ),
  missingToken: define(
    'REEL_MISSING_TOKEN',
    401,
    () => 'This video is signed: ask GET /v1/videos/{id}/playback for a playback URL with a token.',
  ),
  malformedToken: define(
    'REEL_MALFORMED_TOKEN',
    401,
    () => 'The playback token is not a valid token. Ask GET /v1/videos/{id}/playback for a new URL.',
  ),
  invalidToken: define(
    'REEL_INVALID_TOKEN',
    403,
    () => 'The playback token signature does not verify. Ask GET /v1/videos/{id}/playback for a new URL.',
  ),
  expiredToken: define(
    'REEL_EXPIRED_TOKEN',
    403,
    () => 'The playback token has expired. Ask GET /v1/videos/{id}/playback for a new URL.',
  ),
  tokenForOtherVideo: define(
    'REEL_TOKEN_WRONG_VIDEO',
    403,
    () => 'The playback token was issued for another video.',
  ),
  sessionTokenCannotStart: define(
    'REEL_SESSION_TOKEN',
    403,
    () =>
      'This token belongs to a playback already under way: it plays that playback to its end but cannot start a new one. Ask GET /v1/videos/{id}/playback for a playback URL.',
  ),

  tooManyStreams: define(
    'REEL_TOO_MANY_STREAMS',
    429,
    (max: number) =>
      `This API key already has ${max} live feeds (GET /v1/events) open, the most it may have (REEL_EVENTS_STREAMS_PER_KEY): close one first; one feed per page or dashboard is enough.`,
  ),

  // resources
  videoNotFound: define('REEL_VIDEO_NOT_FOUND', 404, (id: string) => `No video with id "${id}".`),
  videoNotReady: define(
    'REEL_VIDEO_NOT_READY',
    404,
    (id: string, status: string) => `Video "${id}" is ${status}, not ready: it cannot be played yet.`,
  ),
  objectNotFound: define('REEL_NOT_FOUND', 404, (what: string) => `Not found: ${what}.`),
  routeNotFound: define(
    'REEL_ROUTE_NOT_FOUND',
    404,
    (method: string, url: string) => `No route ${method} ${url}.`,
  ),
  keyNotFound: define('REEL_KEY_NOT_FOUND', 404, (id: string) => `No API key with id "${id}".`),
  signingKeyNotFound: define(
    'REEL_SIGNING_KEY_NOT_FOUND',
    404,
    (kid: string) => `No active signing key "${kid}". "reel keys list-signing" lists them.`,
  ),
  signingKeyInUse: define(
    'REEL_SIGNING_KEY_IN_USE',
    409,
    (kid: string) =>
      `Signing key "${kid}" is the one that signs new tokens. Run "reel keys rotate-signing" first, then retire it.`,
  ),
  signingKeyStillVerifying: define(
    'REEL_SIGNING_KEY_STILL_VERIFYING',
    409,
    (kid: string, until: string) =>
      `Tokens signed with key "${kid}" may still be valid until ${until}; the key is retired by itself then. To cut them off now (a leaked secret), add --force: playbacks they started stop.`,
  ),
  notRetryable: define(
    'REEL_NOT_RETRYABLE',
    409,
    (id: string, status: string) => `Video "${id}" is ${status}; only failed videos can be retried.`,
  ),

  // input
  invalidId: define(
    'REEL_INVALID_ID',
    400,
    (what: string) => `Invalid ${what}: use only letters, digits, "-" and "_" (at most 64 characters).`,
  ),
  invalidRequest: define('REEL_INVALID_REQUEST', 400, (why: string) => why),
  invalidCursor: define(
    'REEL_INVALID_CURSOR',
    400,
    () =>
      'The cursor is not one this server gave: pass the nextCursor of the previous page unchanged (and no "before" with it), or leave it out to start from the newest video.',
  ),
  invalidMetadata: define('REEL_INVALID_METADATA', 400, (why: string) => `Invalid upload metadata: ${why}`),
  uploadTooLarge: define(
    'REEL_UPLOAD_TOO_LARGE',
    413,
    (size: number, max: number) =>
      `The upload is ${size} bytes; this server accepts at most ${max} bytes (REEL_MAX_UPLOAD_BYTES).`,
  ),
  uploadSizeMismatch: define(
    'REEL_UPLOAD_SIZE_MISMATCH',
    400,
    (stored: number, declared: number) =>
      `Storage holds ${stored} bytes for this upload, but it was started with size ${declared}: the upload was aborted and its bytes removed. Start a new upload with the file's exact size, and PUT each part with exactly the bytes of that part.`,
  ),
  storedUploadTooLarge: define(
    'REEL_UPLOAD_TOO_LARGE',
    413,
    (stored: number, max: number) =>
      `Storage holds ${stored} bytes for this upload; this server accepts at most ${max} bytes (REEL_MAX_UPLOAD_BYTES): the upload was aborted and its bytes removed.`,
  ),
  lowDiskSpace: define(
    'REEL_INSUFFICIENT_STORAGE',
    507,
    () =>
      'The server is low on disk space and accepts no upload bytes for now; try again later. ' +
      "(Operators: free space on the data directory's disk, or lower REEL_MIN_FREE_MIB.)",
  ),
  diskFull: define(
    'REEL_INSUFFICIENT_STORAGE',
    507,
    () =>
      "The server's disk is full. The bytes stored so far are kept: resume the upload later (HEAD gives the offset).",
  ),
  rangeNotSatisfiable: define(
    'REEL_RANGE_NOT_SATISFIABLE',
    416,
    (size: number) => `The requested range is outside the object (${size} bytes).`,
  ),

  // media: permanent, the source itself is the problem
  emptySource: define(
    'REEL_EMPTY_SOURCE',
    422,
    () => 'The uploaded file is empty (0 bytes). Upload the video file again.',
    true,
  ),
  notMedia: define(
    'REEL_NOT_MEDIA',
    422,
    (detail: string) =>
      `The uploaded file is not a video Reel can read (${detail}). Upload a video file such as MP4, MOV, MKV or WebM.`,
    true,
  ),
  noVideoStream: define(
    'REEL_NO_VIDEO_STREAM',
    422,
    () =>
      'The uploaded file has no video stream (audio only or data only). Upload a file that contains video.',
    true,
  ),
  truncatedSource: define(
    'REEL_TRUNCATED_SOURCE',
    422,
    (detail: string) =>
      `The uploaded file is damaged or incomplete (${detail}). Upload the complete file again.`,
    true,
  ),

  unsupportedFormat: define(
    'REEL_UNSUPPORTED_FORMAT',
    422,
    (what: string, accepted: string, namesOtherFiles: boolean) =>
      `The uploaded file is ${what}, not a video${
        namesOtherFiles
          ? ': it only names other files, and Reel never opens files named inside an upload'
          : ''
      }. Upload the video file itself (${accepted}).`,
    true,
  ),
  sourceTooLong: define(
    'REEL_SOURCE_TOO_LONG',
    422,
    (durationSec: number, maxSec: number) =>
      `The video is ${spell(durationSec)} long; this server accepts at most ${spell(maxSec)} (REEL_MAX_DURATION_SECONDS). Cut it into shorter parts and upload those.`,
    true,
  ),
  frameTooLarge: define(
    'REEL_FRAME_TOO_LARGE',
    422,
    (width: number, height: number, limit: string) =>
      `The video's frame is ${width}×${height}; this server accepts at most ${limit}. Export it at a smaller size (for example 3840×2160) and upload it again.`,
    true,
  ),
  implausibleDuration: define(
    'REEL_IMPLAUSIBLE_DURATION',
    422,
    (durationSec: number, bytes: number) =>
      `The file claims to last ${spell(durationSec)} but holds only ${bytes} bytes, far too little for that: its header is damaged or false. Export the video again and upload the new file.`,
    true,
  ),

  uploadUnjoinable: define(
    'REEL_UPLOAD_UNJOINABLE',
    422,
    (reason: string) =>
      `Storage could not join the uploaded parts into one file (${reason}). Upload the video again.`,
    true,
  ),

  // processing: transient unless stated
  transcodeFailed: define('REEL_TRANSCODE_FAILED', 500, (detail: string) => `Transcoding failed: ${detail}`),
  leaseLost: define(
    'REEL_LEASE_LOST',
    409,
    () => 'The job lease was lost (expired, cancelled or taken over); this attempt publishes nothing.',
  ),
  timeBudgetExceeded: define(
    'REEL_TIME_BUDGET_EXCEEDED',
    500,
    (budgetSec: number, durationSec: number) =>
      `Processing was stopped after ${spell(budgetSec)}, the time allowed for a ${spell(durationSec)} video (REEL_ATTEMPT_BUDGET_SECONDS + REEL_ATTEMPT_BUDGET_FACTOR × duration). The source is unusually slow to decode: export it again in a common format (H.264 MP4) or ask the operator to raise the budget, then retry.`,
    true,
  ),
  processingNoSpace: define(
    'REEL_PROCESSING_NO_SPACE',
    507,
    (detail: string) =>
      `The worker's disk is full (${detail}); processing will resume by itself once space is freed, without counting as a failed attempt.`,
  ),
  ffmpegMissing: define(
    'REEL_FFMPEG_MISSING',
    500,
    (bin: string) => `"${bin}" was not found. Install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH.`,
  ),

  // configuration and operation
  invalidConfig: define('REEL_INVALID_CONFIG', 500, (why: string) => `Invalid configuration: ${why}`),
  dataDirLocked: define(
    'REEL_DATA_DIR_LOCKED',
    409,
    (dir: string, pid: number) =>
      `The data directory ${dir} is in use by Reel process ${pid}. Stop it first, or use the HTTP API (/v1/keys) of the running server.`,
  ),
} as const;

/** 36000 → "10 h", 754 → "12 min 34 s", 2.5 → "2.5 s": durations in messages. */
function spell(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds * 10) / 10} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const parts = [h ? `${h} h` : '', m ? `${m} min` : '', rest && !h ? `${rest} s` : ''];
  return parts.filter(Boolean).join(' ') || '0 s';
}

export function isReelError(err: unknown): err is ReelError {
  return err instanceof ReelError;
}

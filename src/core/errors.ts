/**
 * The one catalogue of errors. Every error a client or an operator can see is defined here with its
 * code, HTTP status and meaning; the HTTP layer turns any ReelError into `{error, code, message, statusCode}`.
 * Code elsewhere names an error by its entry (`errors.videoNotFound(id)`, `errors.leaseLost.code`), never by
 * a code literal (test/core/errors.test.ts enforces it); docs/errors.md is generated from this file
 * (`npm run errors:doc`).
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

/** What the catalogue says of one entry (the generated list of codes is made of these). */
export interface ErrorEntry {
  readonly code: string;
  /** The HTTP status; '4xx' or '5xx' where the status is the one a lower layer (tus, Fastify) chose. */
  readonly status: number | '4xx' | '5xx';
  /** When a client or an operator sees it, in one sentence. */
  readonly meaning: string;
  /** A job that fails with it is not retried. */
  readonly permanent: boolean;
}

/** An entry with a fixed status: call it with the message's arguments to make the error. */
const define = <const C extends string, A extends unknown[]>(
  code: C,
  statusCode: number,
  meaning: string,
  message: (...args: A) => string,
  permanent = false,
) =>
  Object.assign((...args: A) => new ReelError(code, statusCode, message(...args), permanent), {
    code,
    status: statusCode,
    meaning,
    permanent,
  });

/** An entry whose status a lower layer chose: call it with that status, then the message's arguments. */
const defineRelayed = <const C extends string, A extends unknown[]>(
  code: C,
  status: '4xx' | '5xx',
  meaning: string,
  message: (...args: A) => string,
) =>
  Object.assign((statusCode: number, ...args: A) => new ReelError(code, statusCode, message(...args)), {
    code,
    status,
    meaning,
    permanent: false,
  });

/** Fastify's own refusals without a code of their own. */
const badRequest = defineRelayed(
  'REEL_BAD_REQUEST',
  '4xx',
  'The HTTP layer refused the request before any route ran, without a more precise code.',
  (message: string) => message,
);

/** The prefix of the codes of Fastify's own refusals: REEL_ + Fastify's code (REEL_FST_ERR_CTP_INVALID_MEDIA_TYPE). */
const FASTIFY_PREFIX = 'REEL_';

/** Fastify's own refusals (an unsupported media type, a body too large…) keep Fastify's code, prefixed. */
const fastifyRefusal = Object.assign(
  (fastifyCode: string | undefined, statusCode: number, message: string) =>
    fastifyCode
      ? new ReelError(`${FASTIFY_PREFIX}${fastifyCode}`, statusCode, message)
      : badRequest(statusCode, message),
  {
    code: `${FASTIFY_PREFIX}FST_ERR_…`,
    status: '4xx' as const,
    meaning:
      "Fastify refused the request before any route ran (for example REEL_FST_ERR_CTP_INVALID_MEDIA_TYPE, 415, or REEL_FST_ERR_CTP_BODY_TOO_LARGE, 413): the code is Fastify's own, prefixed with REEL_.",
    permanent: false,
  },
);
export const errors = {
  // authentication and authorisation
  missingApiKey: define(
    'REEL_MISSING_API_KEY',
    401,
    'A management or upload call came without an API key.',
    () => 'This call needs an API key: send the header "Authorization: Bearer <api key>".',
  ),
  badApiKey: define(
    'REEL_BAD_API_KEY',
    401,
    'The API key sent is unknown or was revoked.',
    () => 'The API key is unknown or revoked. Create one with "reel keys create".',
  ),
  missingToken: define(
    'REEL_MISSING_TOKEN',
    401,
    'A signed video was requested without a playback token.',
    () => 'This video is signed: ask GET /v1/videos/{id}/playback for a playback URL with a token.',
  ),
  malformedToken: define(
    'REEL_MALFORMED_TOKEN',
    401,
    'The playback token in the URL is not a token at all (damaged or cut).',
    () => 'The playback token is not a valid token. Ask GET /v1/videos/{id}/playback for a new URL.',
  ),
  invalidToken: define(
    'REEL_INVALID_TOKEN',
    403,
    'The playback token was not signed by any active signing key of this server.',
    () => 'The playback token signature does not verify. Ask GET /v1/videos/{id}/playback for a new URL.',
  ),
  expiredToken: define(
    'REEL_EXPIRED_TOKEN',
    403,
    'The playback token has expired, so it cannot start playback any more.',
    () => 'The playback token has expired. Ask GET /v1/videos/{id}/playback for a new URL.',
  ),
  tokenForOtherVideo: define(
    'REEL_TOKEN_WRONG_VIDEO',
    403,
    'The playback token was issued for a different video.',
    () => 'The playback token was issued for another video.',
  ),
  sessionTokenCannotStart: define(
    'REEL_SESSION_TOKEN',
    403,
    'A session token (one that carries a playback already under way) was used to start a new playback.',
    () =>
      'This token belongs to a playback already under way: it plays that playback to its end but cannot start a new one. Ask GET /v1/videos/{id}/playback for a playback URL.',
  ),
  tokenClaimMissing: define(
    'REEL_TOKEN_CLAIM_MISSING',
    401,
    'The playback token lacks a claim every playback token must carry (sub, the video id, or exp).',
    (claim: string) =>
      `The playback token has no "${claim}" claim: a playback token needs "sub" (the video id) and "exp" (its expiry, Unix seconds).`,
  ),

  tooManyStreams: define(
    'REEL_TOO_MANY_STREAMS',
    429,
    'The API key already holds as many live event feeds as it may (REEL_EVENTS_STREAMS_PER_KEY).',
    (max: number) =>
      `This API key already has ${max} live feeds (GET /v1/events) open, the most it may have (REEL_EVENTS_STREAMS_PER_KEY): close one first; one feed per page or dashboard is enough.`,
  ),

  // resources
  videoNotFound: define(
    'REEL_VIDEO_NOT_FOUND',
    404,
    'No video has this id (never created, or deleted).',
    (id: string) => `No video with id "${id}".`,
  ),
  videoNotReady: define(
    'REEL_VIDEO_NOT_READY',
    404,
    'The video exists but is not playable yet: it plays once ready, or while it processes once its first seconds of every rendition are published.',
    (id: string, status: string) =>
      status === 'failed'
        ? `Video "${id}" failed to process: it cannot be played.`
        : `Video "${id}" is ${status} and not playable yet: it plays once its first seconds are published.`,
  ),
  objectNotFound: define(
    'REEL_NOT_FOUND',
    404,
    'A stored object (playlist, segment, upload) does not exist.',
    (what: string) => `Not found: ${what}.`,
  ),
  invalidImageParameter: define(
    'REEL_INVALID_IMAGE_PARAMETER',
    400,
    'A thumbnail or animated preview was asked with a malformed or out-of-range parameter (time, start, end, width, height, fps); the message names it.',
    (name: string, why: string) => `Invalid "${name}": ${why}.`,
  ),
  frameNotPublished: define(
    'REEL_FRAME_NOT_PUBLISHED',
    404,
    'The video is still processing and the part that holds the asked time is not published yet.',
    (seconds: number) =>
      `The video is still processing: the part at ${seconds} s is not published yet. Ask again shortly, or ask for an earlier time.`,
  ),
  imageBusy: define(
    'REEL_IMAGE_BUSY',
    503,
    'This server is making as many images as it may at once (REEL_THUMBNAIL_RENDERS) and its queue is full; the answer carries Retry-After.',
    () => 'Too many images are being made right now; try again in a moment.',
  ),
  imageFailed: define(
    'REEL_IMAGE_FAILED',
    500,
    'ffmpeg could not make the image from the published segments; the server log has its message.',
    () => 'The image could not be made; the server log has the details.',
  ),
  routeNotFound: define(
    'REEL_ROUTE_NOT_FOUND',
    404,
    'No route answers this method and path.',
    (method: string, url: string) => `No route ${method} ${url}.`,
  ),
  scopeDenied: define(
    'REEL_SCOPE_DENIED',
    403,
    'The API key is valid but its scopes do not allow this request (read < write < admin).',
    (needed: string) =>
      `This API key may not do this: it needs the "${needed}" scope. Use a key with that scope, or ask an admin to create one.`,
  ),
  keyNotFound: define(
    'REEL_KEY_NOT_FOUND',
    404,
    'No API key has this id.',
    (id: string) => `No API key with id "${id}".`,
  ),
  signingKeyNotFound: define(
    'REEL_SIGNING_KEY_NOT_FOUND',
    404,
    'No active signing key has this id.',
    (kid: string) => `No active signing key "${kid}". "reel keys list-signing" lists them.`,
  ),
  signingKeyInUse: define(
    'REEL_SIGNING_KEY_IN_USE',
    409,
    'The signing key to retire is the one that signs new tokens.',
    (kid: string) =>
      `Signing key "${kid}" is the one that signs new tokens. Run "reel keys rotate-signing" first, then retire it.`,
  ),
  signingKeyStillVerifying: define(
    'REEL_SIGNING_KEY_STILL_VERIFYING',
    409,
    'The signing key to retire still verifies tokens that may be valid; --force retires it anyway.',
    (kid: string, until: string) =>
      `Tokens signed with key "${kid}" may still be valid until ${until}; the key is retired by itself then. To cut them off now (a leaked secret), add --force: playbacks they started stop.`,
  ),
  customerSigningKeyNotFound: define(
    'REEL_CUSTOMER_SIGNING_KEY_NOT_FOUND',
    404,
    'No live signing key made with POST /v1/signing-keys has this id (never made, or deleted).',
    (id: string) => `No signing key "${id}": GET /v1/signing-keys lists the live ones.`,
  ),
  tooManyCustomerSigningKeys: define(
    'REEL_TOO_MANY_SIGNING_KEYS',
    409,
    'As many signing keys (POST /v1/signing-keys) are live as Reel allows; delete one to make another.',
    (max: number) =>
      `${max} signing keys are live, the most Reel keeps: delete one you no longer use (DELETE /v1/signing-keys/{id}), then create a new one.`,
  ),
  captionNotFound: define(
    'REEL_CAPTION_NOT_FOUND',
    404,
    'The video has no caption track with this id (never added, or deleted).',
    (videoId: string, id: string) =>
      `Video "${videoId}" has no caption track "${id}": GET /v1/videos/${videoId}/captions lists them.`,
  ),
  tooManyCaptions: define(
    'REEL_TOO_MANY_CAPTIONS',
    409,
    'The video already has as many caption tracks as Reel allows (REEL_MAX_CAPTIONS_PER_VIDEO).',
    (max: number) =>
      `This video already has ${max} caption tracks, the most it may have: delete one first (DELETE /v1/videos/{id}/captions/{captionId}).`,
  ),
  captionNameTaken: define(
    'REEL_CAPTION_NAME_TAKEN',
    409,
    'Another caption track of the video has this name; players list tracks by name, so each must differ.',
    (name: string) => `Another caption track of this video is named "${name}": choose another name.`,
  ),
  notRetryable: define(
    'REEL_NOT_RETRYABLE',
    409,
    'Only a failed video can be retried.',
    (id: string, status: string) => `Video "${id}" is ${status}; only failed videos can be retried.`,
  ),
  posterNotAvailable: define(
    'REEL_POSTER_NOT_AVAILABLE',
    409,
    'A poster frame can be chosen only for a ready video processed in chunks (its frames come from its published segments).',
    (id: string, why: string) => `A poster cannot be chosen for video "${id}": ${why}.`,
  ),
  webhookNotFound: define(
    'REEL_WEBHOOK_NOT_FOUND',
    404,
    'No active webhook has this id (never created, or deleted).',
    (id: string) => `No webhook with id "${id}". GET /v1/webhooks lists them.`,
  ),
  tooManyWebhooks: define(
    'REEL_TOO_MANY_WEBHOOKS',
    409,
    'The deployment already has as many webhooks as it may.',
    (max: number) =>
      `This deployment already has ${max} webhooks, the most it may have: delete one first (one webhook can receive every event).`,
  ),

  // input
  invalidId: define(
    'REEL_INVALID_ID',
    400,
    'An id in the path or the body has characters or a length that ids never have.',
    (what: string) => `Invalid ${what}: use only letters, digits, "-" and "_" (at most 64 characters).`,
  ),
  invalidRequest: define(
    'REEL_INVALID_REQUEST',
    400,
    "The request does not match the route's schema or rules; the message says what is wrong.",
    (why: string) => why,
  ),
  invalidSubtitles: define(
    'REEL_INVALID_SUBTITLES',
    400,
    'The caption file is not valid WebVTT or SRT; the message names the line and what was expected there.',
    (where: string) => `Invalid caption file: ${where}.`,
  ),
  captionTooLarge: define(
    'REEL_CAPTION_TOO_LARGE',
    413,
    'The caption file is larger than this server accepts (REEL_MAX_CAPTION_BYTES).',
    (max: number) =>
      `The caption file is larger than ${max} bytes, the most this server accepts (REEL_MAX_CAPTION_BYTES).`,
  ),
  beaconTooLarge: define(
    'REEL_BEACON_TOO_LARGE',
    413,
    'A viewing beacon (POST /v1/beacons) is larger than a player ever sends.',
    (max: number) => `A beacon is at most ${max} bytes: send fewer events per batch.`,
  ),
  tooManyBeacons: define(
    'REEL_TOO_MANY_BEACONS',
    429,
    'This viewer sent more beacons for this video than REEL_BEACONS_PER_MINUTE allows; the next minute takes them again.',
    (perMinute: number) =>
      `Too many beacons: a viewer may send ${perMinute} a minute for one video (REEL_BEACONS_PER_MINUTE). Batch the events (a player sends one every 10 s).`,
  ),
  invalidCursor: define(
    'REEL_INVALID_CURSOR',
    400,
    'The list cursor is not one this server gave.',
    () =>
      'The cursor is not one this server gave: pass the nextCursor of the previous page unchanged (and no "before" with it), or leave it out to start from the newest video.',
  ),
  invalidMetadata: define(
    'REEL_INVALID_METADATA',
    400,
    'The tus Upload-Metadata is invalid (a missing or bad field, a control character).',
    (why: string) => `Invalid upload metadata: ${why}`,
  ),
  uploadTooLarge: define(
    'REEL_UPLOAD_TOO_LARGE',
    413,
    'The upload is larger than this server accepts (REEL_MAX_UPLOAD_BYTES).',
    (size: number, max: number) =>
      `The upload is ${size} bytes; this server accepts at most ${max} bytes (REEL_MAX_UPLOAD_BYTES).`,
  ),
  uploadSizeMismatch: define(
    'REEL_UPLOAD_SIZE_MISMATCH',
    400,
    'The parts stored for a direct upload do not add up to the size it was started with; the upload was aborted.',
    (stored: number, declared: number) =>
      `Storage holds ${stored} bytes for this upload, but it was started with size ${declared}: the upload was aborted and its bytes removed. Start a new upload with the file's exact size, and PUT each part with exactly the bytes of that part.`,
  ),
  storedUploadTooLarge: define(
    'REEL_UPLOAD_TOO_LARGE',
    413,
    'The parts stored for a direct upload exceed REEL_MAX_UPLOAD_BYTES; the upload was aborted.',
    (stored: number, max: number) =>
      `Storage holds ${stored} bytes for this upload; this server accepts at most ${max} bytes (REEL_MAX_UPLOAD_BYTES): the upload was aborted and its bytes removed.`,
  ),
  lowDiskSpace: define(
    'REEL_INSUFFICIENT_STORAGE',
    507,
    'The server is low on disk space (REEL_MIN_FREE_MIB) and accepts no upload bytes for now.',
    () =>
      'The server is low on disk space and accepts no upload bytes for now; try again later. ' +
      "(Operators: free space on the data directory's disk, or lower REEL_MIN_FREE_MIB.)",
  ),
  diskFull: define(
    'REEL_INSUFFICIENT_STORAGE',
    507,
    'The disk filled up while upload bytes were written; the bytes stored so far are kept.',
    () =>
      "The server's disk is full. The bytes stored so far are kept: resume the upload later (HEAD gives the offset).",
  ),
  uploadConflict: define(
    'REEL_UPLOAD_CONFLICT',
    409,
    'A direct (multipart) upload call does not fit the state of the upload (already complete, or aborted).',
    (message: string) => message,
  ),
  directUploadsNeedS3: define(
    'REEL_DIRECT_UPLOADS_NEED_S3',
    501,
    'Direct uploads (/v1/uploads/multipart) were asked of a server without S3 storage.',
    () => 'Direct uploads need S3 storage (set REEL_S3_BUCKET); use tus at /v1/uploads.',
  ),
  tusUploadTooLarge: define(
    'REEL_UPLOAD_TOO_LARGE',
    413,
    'The tus upload is larger than this server accepts (REEL_MAX_UPLOAD_BYTES).',
    (tusMessage: string) => `${tusMessage} (REEL_MAX_UPLOAD_BYTES).`,
  ),
  uploadProtocol: defineRelayed(
    'REEL_UPLOAD_PROTOCOL',
    '4xx',
    "The tus server refused the request (a wrong offset, a missing header, an expired upload…): the status and the message are tus's own.",
    (tusMessage: string) => tusMessage,
  ),
  uploadFailed: defineRelayed(
    'REEL_UPLOAD_FAILED',
    '5xx',
    "The tus server failed to store the request's bytes: the status and the message are tus's own.",
    (tusMessage: string) => tusMessage,
  ),
  // upload links (issue 12): a URL that uploads one file with no API key
  uploadLinkNotFound: define(
    'REEL_UPLOAD_LINK_NOT_FOUND',
    404,
    'No upload link has this URL (never made, or its video was deleted), or the upload named is not its own.',
    () =>
      'This upload link does not exist (or its video was deleted). Ask whoever gave it to you for a new one.',
  ),
  uploadLinkExpired: define(
    'REEL_UPLOAD_LINK_EXPIRED',
    410,
    'The upload link expired before an upload was begun with it.',
    (expiredAt: string) =>
      `This upload link expired at ${expiredAt} and no upload was begun with it. Ask whoever gave it to you for a new one.`,
  ),
  uploadLinkUsed: define(
    'REEL_UPLOAD_LINK_USED',
    410,
    'An upload was already begun with this upload link: a link takes one upload (resume it at its own URL).',
    () =>
      'An upload was already begun with this link, and a link takes one file. To continue that upload, resume it at the URL its creation answered (tus-js-client does so by itself in the same browser); for another file, ask for a new link.',
  ),
  uploadLinkTooLarge: define(
    'REEL_UPLOAD_LINK_TOO_LARGE',
    413,
    "The file is larger than the upload link's maxBytes.",
    (size: number, max: number) =>
      `The file is ${size} bytes; this upload link takes at most ${max} bytes. Ask whoever gave it to you for a link that takes a larger file.`,
  ),
  // share links (issue 14): /s/{id} plays one video for anyone with the link, until it expires or is revoked
  shareNotFound: define(
    'REEL_SHARE_NOT_FOUND',
    404,
    'No share link has this id (never made, mistyped, or its video was deleted), or it belongs to another video.',
    () =>
      'This share link does not exist: it may have been mistyped, or its video was deleted. Ask whoever shared it for a new link.',
  ),
  shareRevoked: define(
    'REEL_SHARE_REVOKED',
    410,
    "The share link was revoked by the video's owner.",
    () => 'This share link was turned off by the person who shared it. Ask them for a new link.',
  ),
  shareExpired: define(
    'REEL_SHARE_EXPIRED',
    410,
    'The share link expired (its owner chose how long it lasts).',
    (expiredAt: string) => `This share link expired at ${expiredAt}. Ask whoever shared it for a new link.`,
  ),
  shareLimit: define(
    'REEL_SHARE_LIMIT',
    409,
    'The video already has as many working share links as one video may have: revoke some first.',
    (max: number) =>
      `This video already has ${max} working share links, the most one video may have. Revoke the ones no longer needed, then make a new one.`,
  ),
  rangeNotSatisfiable: define(
    'REEL_RANGE_NOT_SATISFIABLE',
    416,
    'The requested byte range lies outside the object.',
    (size: number) => `The requested range is outside the object (${size} bytes).`,
  ),

  // media: permanent, the source itself is the problem
  emptySource: define(
    'REEL_EMPTY_SOURCE',
    422,
    'The uploaded file is empty.',
    () => 'The uploaded file is empty (0 bytes). Upload the video file again.',
    true,
  ),
  notMedia: define(
    'REEL_NOT_MEDIA',
    422,
    'The uploaded file is not a media file ffprobe can read.',
    (detail: string) =>
      `The uploaded file is not a video Reel can read (${detail}). Upload a video file such as MP4, MOV, MKV or WebM.`,
    true,
  ),
  noVideoStream: define(
    'REEL_NO_VIDEO_STREAM',
    422,
    'The uploaded file has no video stream.',
    () =>
      'The uploaded file has no video stream (audio only or data only). Upload a file that contains video.',
    true,
  ),
  truncatedSource: define(
    'REEL_TRUNCATED_SOURCE',
    422,
    'The uploaded file is damaged or incomplete.',
    (detail: string) =>
      `The uploaded file is damaged or incomplete (${detail}). Upload the complete file again.`,
    true,
  ),

  unsupportedFormat: define(
    'REEL_UNSUPPORTED_FORMAT',
    422,
    'The uploaded file is a format Reel does not transcode (a playlist, an image, a subtitle file…).',
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
    'The video lasts longer than this server accepts (REEL_MAX_DURATION_SECONDS).',
    (durationSec: number, maxSec: number) =>
      `The video is ${spell(durationSec)} long; this server accepts at most ${spell(maxSec)} (REEL_MAX_DURATION_SECONDS). Cut it into shorter parts and upload those.`,
    true,
  ),
  frameTooLarge: define(
    'REEL_FRAME_TOO_LARGE',
    422,
    "The video's frame is larger than this server accepts (REEL_MAX_DIMENSION, REEL_MAX_PIXELS).",
    (width: number, height: number, limit: string) =>
      `The video's frame is ${width}×${height}; this server accepts at most ${limit}. Export it at a smaller size (for example 3840×2160) and upload it again.`,
    true,
  ),
  implausibleDuration: define(
    'REEL_IMPLAUSIBLE_DURATION',
    422,
    'The file claims a duration far too long for its size: its header is damaged or false.',
    (durationSec: number, bytes: number) =>
      `The file claims to last ${spell(durationSec)} but holds only ${bytes} bytes, far too little for that: its header is damaged or false. Export the video again and upload the new file.`,
    true,
  ),

  uploadUnjoinable: define(
    'REEL_UPLOAD_UNJOINABLE',
    422,
    'Object storage could not join the uploaded parts into one file.',
    (reason: string) =>
      `Storage could not join the uploaded parts into one file (${reason}). Upload the video again.`,
    true,
  ),

  // imports from a URL (POST /v1/videos {url}): what the worker met fetching the source
  importStatus: define(
    'REEL_IMPORT_STATUS',
    422,
    "An import's URL answered an HTTP error that retrying cannot fix (4xx: not found, forbidden, gone…); the video failed.",
    (status: number, statusText: string) =>
      `The URL answered ${status} ${statusText}, so Reel could not fetch the video. Check that the URL is right and opens without signing in (a link that expired must be made again), then import it again.`,
    true,
  ),
  importServerError: define(
    'REEL_IMPORT_STATUS',
    502,
    "An import's URL answered a server error (5xx); the fetch is tried again with backoff until REEL_MAX_ATTEMPTS.",
    (status: number, statusText: string) =>
      `The URL answered ${status} ${statusText}: the server that holds the video failed to send it. Reel tries again a few times; if it keeps failing, import the video again later.`,
  ),
  importFetchFailed: define(
    'REEL_IMPORT_FAILED',
    502,
    "An import's source could not be fetched (DNS, connection refused or reset, TLS, no answer); the fetch is tried again with backoff until REEL_MAX_ATTEMPTS.",
    (detail: string) =>
      `Fetching the URL failed (${detail}). Reel tries again a few times; check that the URL opens from the server's network, then import it again if it keeps failing.`,
  ),
  importTimeout: define(
    'REEL_IMPORT_TIMEOUT',
    504,
    "Fetching an import's source took longer than REEL_IMPORT_TIMEOUT_SECONDS; the fetch is tried again with backoff until REEL_MAX_ATTEMPTS.",
    (seconds: number, bytes: number) =>
      `Fetching the URL took longer than ${spell(seconds)} (REEL_IMPORT_TIMEOUT_SECONDS) and was stopped after ${bytes} bytes. Reel tries again a few times; a server that sends this slowly is better uploaded from (reel upload), or ask the operator to raise the limit.`,
  ),
  importTooLarge: define(
    'REEL_IMPORT_TOO_LARGE',
    413,
    "The file at an import's URL is larger than this server accepts (REEL_MAX_UPLOAD_BYTES); the video failed and nothing of it is kept.",
    (max: number, declared?: number) =>
      `The file at the URL is too large: ${declared === undefined ? 'it sent more than' : `it is ${declared} bytes, and`} this server accepts at most ${max} bytes (REEL_MAX_UPLOAD_BYTES). Import a smaller file (a shorter or more compressed export).`,
    true,
  ),

  // processing: transient unless stated
  tooManyAttempts: define(
    'REEL_TOO_MANY_ATTEMPTS',
    500,
    'The job was claimed more times than REEL_MAX_ATTEMPTS allows, each attempt interrupted (the worker stopped or crashed).',
    (maxAttempts: number) =>
      `Processing was interrupted ${maxAttempts} times (the worker stopped or crashed each time); giving up.`,
    true,
  ),
  transcodeFailed: define(
    'REEL_TRANSCODE_FAILED',
    500,
    'ffmpeg failed; the job is retried until REEL_MAX_ATTEMPTS.',
    (detail: string) => `Transcoding failed: ${detail}`,
  ),
  leaseLost: define(
    'REEL_LEASE_LOST',
    409,
    'The worker lost its job lease (expired, cancelled or taken over); the attempt publishes nothing.',
    () => 'The job lease was lost (expired, cancelled or taken over); this attempt publishes nothing.',
  ),
  timeBudgetExceeded: define(
    'REEL_TIME_BUDGET_EXCEEDED',
    500,
    "Transcoding took longer than the time allowed for the video's duration (REEL_ATTEMPT_BUDGET_SECONDS, REEL_ATTEMPT_BUDGET_FACTOR).",
    (budgetSec: number, durationSec: number) =>
      `Processing was stopped after ${spell(budgetSec)}, the time allowed for a ${spell(durationSec)} video (REEL_ATTEMPT_BUDGET_SECONDS + REEL_ATTEMPT_BUDGET_FACTOR × duration). The source is unusually slow to decode: export it again in a common format (H.264 MP4) or ask the operator to raise the budget, then retry.`,
    true,
  ),
  processingNoSpace: define(
    'REEL_PROCESSING_NO_SPACE',
    507,
    "The worker's disk is full; processing resumes by itself once space is freed.",
    (detail: string) =>
      `The worker's disk is full (${detail}); processing will resume by itself once space is freed, without counting as a failed attempt.`,
  ),
  ffmpegMissing: define(
    'REEL_FFMPEG_MISSING',
    500,
    'ffmpeg or ffprobe is not installed where Reel looks for it.',
    (bin: string) => `"${bin}" was not found. Install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH.`,
  ),

  // the server itself
  urlRefused: define(
    'REEL_URL_REFUSED',
    400,
    'Reel will not open this URL (a webhook receiver, an import): not http(s), credentials in it, or a host on a private network (REEL_ALLOW_PRIVATE_NETWORKS).',
    (reason: string) => `Reel will not open this URL: ${reason}`,
    true,
  ),
  internal: define(
    'REEL_INTERNAL',
    500,
    'An unexpected failure; the server log has the details.',
    () => 'Internal error; the server log has the details.',
  ),
  dbUnavailable: define(
    'REEL_DB_UNAVAILABLE',
    503,
    'The database cannot be reached for the moment; the answer carries Retry-After.',
    () => 'The database is unreachable for the moment; try again shortly.',
  ),
  noSigningKey: define(
    'REEL_NO_SIGNING_KEY',
    500,
    'No playback-token signing key is loaded, so no playback URL can be signed.',
    () =>
      'No signing key is loaded, so no playback token can be signed. Operators: "reel keys rotate-signing" creates one.',
  ),
  badRequest,
  fastifyRefusal,

  // configuration and operation
  invalidConfig: define(
    'REEL_INVALID_CONFIG',
    500,
    'A setting (environment variable or flag) has an invalid value.',
    (why: string) => `Invalid configuration: ${why}`,
  ),
  dataDirLocked: define(
    'REEL_DATA_DIR_LOCKED',
    409,
    'Another Reel process uses the data directory.',
    (dir: string, pid: number) =>
      `The data directory ${dir} is in use by Reel process ${pid}. Stop it first, or use the HTTP API (/v1/keys) of the running server.`,
  ),
} as const;

/** Every entry of the catalogue (one per factory: a code may have several, with different messages). */
export const catalogue: readonly ErrorEntry[] = Object.values(errors).map(
  ({ code, status, meaning, permanent }) => ({ code, status, meaning, permanent }),
);

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

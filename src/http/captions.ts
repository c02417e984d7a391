/**
 * A video's caption tracks (issue 13): POST /v1/videos/{id}/captions (WebVTT or SRT), GET (list, one, or
 * one's WebVTT), DELETE. Registered by videos.ts inside its plugin (the API key is checked there). Each
 * track is one normalised WebVTT object at keys.caption (under the video's prefix, so deleting the video
 * removes it) and one `captions` row; playback renders its HLS playlist and segments (playCaptions.ts)
 * and the master's SUBTITLES group lists it (playExtras.ts).
 *
 * The file comes either as the raw body (Content-Type text/vtt, application/x-subrip or text/plain; the
 * fields in the query string) or inside JSON ({language, name, closedCaptions, text}). Both: the raw body
 * is what `curl --data-binary @subs.srt` sends with no encoding step and no JSON escaping to get wrong; JSON
 * suits clients that already speak JSON to every other route. The format (WebVTT or SRT) is told from the
 * content, never from the Content-Type.
 */
import crypto from 'node:crypto';
import { text as readText } from 'node:stream/consumers';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { HttpConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore, Queryable } from '../core/ports.js';
import { type CaptionRow, deleteCaption, getCaption, insertCaption, listCaptions } from '../db/captions.js';
import { getVideo } from '../db/videos.js';
import { languageName } from '../media/language.js';
import { parseSubtitles, SubtitleSyntaxError, sortCues, toWebVtt } from '../media/subtitles.js';
import { assertId, keys } from '../storage/keys.js';
import { needScope } from './auth.js';
import { withScope } from './routeScopes.js';
import { authenticated, errorRef, idString, noContent, plainText } from './schemas.js';

export interface CaptionsDeps {
  db: Db;
  store: ObjectStore;
  config: Pick<HttpConfig, 'maxCaptionBytes' | 'maxCaptionsPerVideo'>;
  log: Logger;
}

const MAX_NAME = 100;
/** BCP 47 tags in practice stay far below this (RFC 5646 4.4.1 suggests 35). */
const MAX_LANGUAGE = 35;
const RAW_TYPES = ['text/vtt', 'application/x-subrip', 'text/plain'];

interface CaptionFields {
  language?: string;
  name?: string;
  closedCaptions?: boolean;
}
interface JsonBody extends CaptionFields {
  text: string;
}
interface CaptionParams {
  id: string;
  captionId: string;
}

/** What the API shows of a caption track. */
export function captionView(c: CaptionRow) {
  return {
    id: c.id,
    videoId: c.video_id,
    language: c.language,
    name: c.name,
    closedCaptions: c.closed_captions,
    origin: c.origin,
    sourceStream: c.source_stream,
    bytes: Number(c.bytes),
    playlist: `subs/${c.id}/index.m3u8`,
    createdAt: new Date(c.created_at).toISOString(),
  };
}

const captionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    videoId: { type: 'string' },
    language: { type: 'string', description: 'BCP 47, canonical', examples: ['en', 'pt-BR'] },
    name: { type: 'string', description: "the track's name in players' menus (NAME in the master)" },
    closedCaptions: {
      type: 'boolean',
      description: 'closed captions (dialogue and sounds): the master says so with CHARACTERISTICS',
    },
    origin: { type: 'string', enum: ['upload', 'source'], description: 'source: extracted from the upload' },
    sourceStream: {
      type: ['integer', 'null'],
      description: "the source's subtitle stream it came from",
    },
    bytes: { type: 'integer', description: 'size of the stored WebVTT' },
    playlist: {
      type: 'string',
      description: 'its WebVTT media playlist, relative to the playback URL (/play/{id}/{access}/)',
    },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'videoId', 'language', 'name', 'closedCaptions', 'origin', 'createdAt'],
} as const;

const fieldSchemas = {
  language: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_LANGUAGE,
    description: 'BCP 47 language tag (en, fr-CA, pt-BR); stored canonical',
  },
  name: {
    ...plainText(MAX_NAME),
    minLength: 1,
    description: 'the name players show; default: the language\'s name in itself ("English", "Français")',
  },
  closedCaptions: { type: 'boolean', default: false, description: 'closed captions (SDH), not subtitles' },
} as const;

const captionParams = {
  type: 'object',
  properties: { id: idString, captionId: idString },
  required: ['id', 'captionId'],
} as const;

/** `language` as canonical BCP 47, or 400. */
export function canonicalLanguage(language: string): string {
  let tag: string | undefined;
  try {
    tag = Intl.getCanonicalLocales(language.trim())[0];
  } catch {
    tag = undefined;
  }
  if (!tag || tag.length > MAX_LANGUAGE)
    throw errors.invalidRequest(
      `Invalid request: language "${language.slice(0, 40)}" is not a BCP 47 language tag (e.g. en, fr-CA, pt-BR).`,
    );
  return tag;
}

/** A name no other track of the video has: `wanted` when given (else 409), or `base`, "base (2)", … */
function uniqueName(taken: ReadonlySet<string>, wanted: string | undefined, base: string): string {
  if (wanted !== undefined) {
    if (taken.has(wanted)) throw errors.captionNameTaken(wanted);
    return wanted;
  }
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base} (${n})`;
  return name;
}

/**
 * Records a caption track within the video's limits: the video row is locked so that concurrent adds count
 * each other. Shared with the finish task (extracted tracks). Returns the row, or throws (404, 409).
 */
export async function addCaption(
  db: Db,
  videoId: string,
  c: Omit<CaptionRow, 'video_id' | 'created_at' | 'name'> & { name?: string; defaultName: string },
  maxPerVideo: number,
): Promise<CaptionRow> {
  return db.transaction(async (tx: Queryable) => {
    const locked = await tx.query('SELECT id FROM videos WHERE id = $1 FOR UPDATE', [videoId]);
    if (locked.length === 0) throw errors.videoNotFound(videoId);
    const existing = await listCaptions(tx, videoId);
    if (existing.length >= maxPerVideo) throw errors.tooManyCaptions(maxPerVideo);
    const name = uniqueName(new Set(existing.map((e) => e.name)), c.name, c.defaultName);
    const { defaultName: _, ...row } = c;
    await insertCaption(tx, videoId, { ...row, name });
    return (await getCaption(tx, videoId, c.id))!;
  });
}

/** Parses an uploaded file; 400 naming the line when it is not valid WebVTT or SRT. */
function normalise(text: string): { vtt: string; cues: number } {
  try {
    const { cues } = parseSubtitles(text);
    return { vtt: toWebVtt(sortCues(cues)), cues: cues.length };
  } catch (err) {
    if (err instanceof SubtitleSyntaxError) throw errors.invalidSubtitles(err.message);
    throw err;
  }
}

/** Caption files must be UTF-8 (WebVTT requires it; an SRT in another encoding would show mojibake). */
const utf8 = new TextDecoder('utf-8', { fatal: true });

const newCaptionId = () => `c${crypto.randomBytes(9).toString('base64url')}`;

export function registerCaptions(api: FastifyInstance, deps: CaptionsDeps): void {
  const { db, store, log, config } = deps;
  const max = config.maxCaptionBytes;
  // Room for JSON's quoting around a file of the largest size (the file itself is checked again below).
  const bodyLimit = Math.ceil(max * 1.25) + 4096;

  const loadVideo = async (id: string) => {
    const video = await getVideo(db, assertId(id, 'video id'));
    if (!video) throw errors.videoNotFound(id);
    return video;
  };
  const loadCaption = async (params: CaptionParams) => {
    await loadVideo(params.id);
    const caption = await getCaption(db, params.id, assertId(params.captionId, 'caption id'));
    if (!caption) throw errors.captionNotFound(params.id, params.captionId);
    return caption;
  };

  api.register(async (c) => {
    // Raw caption files: read as text up to the limit (Fastify answers 413 past it, before reading on).
    c.removeContentTypeParser('text/plain');
    c.addContentTypeParser(RAW_TYPES, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
      try {
        done(null, utf8.decode(body as Buffer));
      } catch {
        done(errors.invalidSubtitles('the file is not UTF-8 text (save it as UTF-8)'), undefined);
      }
    });

    c.post<{ Params: { id: string }; Querystring: CaptionFields; Body: JsonBody | string }>(
      '/v1/videos/:id/captions',
      {
        bodyLimit,
        preHandler: needScope('write'),
        errorHandler: (err: FastifyError, _req: FastifyRequest, _reply: FastifyReply) => {
          if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') throw errors.captionTooLarge(max);
          throw err;
        },
        schema: {
          tags: ['captions'],
          summary: 'Add a caption track (WebVTT or SRT)',
          description: withScope(
            'write',
            'Two ways to send the file. (1) The file as the body, `Content-Type: text/vtt`, ' +
              '`application/x-subrip` or `text/plain`, with `language`, `name` and `closedCaptions` in the ' +
              'query string: `curl --data-binary @subs.srt -H "Content-Type: application/x-subrip" ' +
              '".../captions?language=fr&closedCaptions=true"`, no encoding step. (2) JSON ' +
              '`{language, name, closedCaptions, text}`, for clients that speak JSON to every route. WebVTT ' +
              'or SRT is told from the content. It is stored as WebVTT and played as a segmented WebVTT ' +
              "rendition of the master's SUBTITLES group. A file that is not valid WebVTT or SRT is refused " +
              `(400 ${errors.invalidSubtitles.code}) naming the line and what was expected; one over ` +
              `REEL_MAX_CAPTION_BYTES is refused (413); a video has at most REEL_MAX_CAPTIONS_PER_VIDEO tracks ` +
              `(409 ${errors.tooManyCaptions.code}), each with its own name (409 ${errors.captionNameTaken.code}).`,
          ),
          ...authenticated,
          params: { type: 'object', properties: { id: idString }, required: ['id'] },
          querystring: { type: 'object', properties: fieldSchemas, additionalProperties: false },
          body: {
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    ...fieldSchemas,
                    text: { type: 'string', description: 'the WebVTT or SRT file' },
                  },
                  required: ['language', 'text'],
                  additionalProperties: false,
                },
              },
              'text/vtt': { schema: { type: 'string' } },
              'application/x-subrip': { schema: { type: 'string' } },
              'text/plain': { schema: { type: 'string' } },
            },
          },
          response: { 201: captionSchema, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const video = await loadVideo(req.params.id);
        const raw = typeof req.body === 'string';
        const body = req.body as JsonBody | string;
        const fields: CaptionFields = raw ? req.query : (body as JsonBody);
        const text = raw ? (body as string) : (body as JsonBody).text;
        if (raw && Object.keys(req.query).includes('text'))
          throw errors.invalidRequest('Invalid request: send the file as the body, not as a parameter.');
        if (!fields.language)
          throw errors.invalidRequest('Invalid request: language is required (a BCP 47 tag, e.g. en).');
        if (Buffer.byteLength(text) > max) throw errors.captionTooLarge(max);
        const language = canonicalLanguage(fields.language);
        const name = fields.name?.trim();
        if (name === '') throw errors.invalidRequest('Invalid request: name must not be blank.');
        if (name?.includes('"'))
          throw errors.invalidRequest(
            'Invalid request: name must not contain a double quote (the master playlist cannot carry one).',
          );
        const { vtt, cues } = normalise(text);
        const id = newCaptionId();
        const key = keys.caption(video.id, id);
        const bytes = Buffer.from(vtt);
        await store.put(key, bytes);
        let row: CaptionRow;
        try {
          row = await addCaption(
            db,
            video.id,
            {
              id,
              language,
              name,
              defaultName: languageName(language),
              closed_captions: fields.closedCaptions ?? false,
              origin: 'upload',
              source_stream: null,
              key,
              bytes: bytes.length,
            },
            config.maxCaptionsPerVideo,
          );
        } catch (err) {
          await store.delete(key).catch(() => {});
          throw err;
        }
        log.info(
          { videoId: video.id, captionId: id, language, cues, apiKeyId: req.apiKeyId },
          'caption added',
        );
        return reply.code(201).send(captionView(row));
      },
    );
  });

  api.get<{ Params: { id: string } }>(
    '/v1/videos/:id/captions',
    {
      preHandler: needScope('read'),
      schema: {
        tags: ['captions'],
        summary: "List a video's caption tracks",
        description: withScope('read', 'Oldest first: the order of the master playlist SUBTITLES group.'),
        ...authenticated,
        params: { type: 'object', properties: { id: idString }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: { data: { type: 'array', items: captionSchema } },
            required: ['data'],
          },
          '4xx': errorRef,
        },
      },
    },
    async (req) => {
      const video = await loadVideo(req.params.id);
      return { data: (await listCaptions(db, video.id)).map(captionView) };
    },
  );

  api.get<{ Params: CaptionParams; Querystring: { format?: 'json' | 'vtt' } }>(
    '/v1/videos/:id/captions/:captionId',
    {
      preHandler: needScope('read'),
      schema: {
        tags: ['captions'],
        summary: 'One caption track, or its WebVTT',
        description: withScope(
          'read',
          'Answers the track as JSON; with `?format=vtt`, or `Accept: text/vtt` (and not JSON), the stored ' +
            'WebVTT file itself.',
        ),
        ...authenticated,
        params: captionParams,
        querystring: {
          type: 'object',
          properties: { format: { type: 'string', enum: ['json', 'vtt'] } },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'the track (JSON), or its WebVTT (text/vtt)',
            content: {
              'application/json': { schema: captionSchema },
              'text/vtt': { schema: { type: 'string' } },
            },
          },
          '4xx': errorRef,
        },
      },
    },
    async (req, reply) => {
      const caption = await loadCaption(req.params);
      const accept = req.headers.accept ?? '';
      const vtt =
        req.query.format === 'vtt' ||
        (req.query.format === undefined && accept.includes('text/vtt') && !accept.includes('json'));
      if (!vtt) return reply.type('application/json').send(captionView(caption));
      const text = await readText(await store.get(caption.key));
      return reply.type('text/vtt; charset=utf-8').send(text);
    },
  );

  api.delete<{ Params: CaptionParams }>(
    '/v1/videos/:id/captions/:captionId',
    {
      preHandler: needScope('write'),
      schema: {
        tags: ['captions'],
        summary: 'Delete a caption track',
        description: withScope(
          'write',
          "The track leaves the master's SUBTITLES group at once (caches that hold the master may serve it " +
            'for up to its max-age); its WebVTT object is deleted.',
        ),
        ...authenticated,
        params: captionParams,
        response: { 204: noContent, '4xx': errorRef },
      },
    },
    async (req, reply) => {
      await loadVideo(req.params.id);
      const gone = await deleteCaption(db, req.params.id, assertId(req.params.captionId, 'caption id'));
      if (!gone) throw errors.captionNotFound(req.params.id, req.params.captionId);
      await store
        .delete(gone.key)
        .catch((err) => log.warn({ err, key: gone.key }, 'caption object not deleted'));
      log.info({ videoId: req.params.id, captionId: gone.id, apiKeyId: req.apiKeyId }, 'caption deleted');
      return reply.code(204).send();
    },
  );
}

/**
 * The OpenAPI description of the tus routes (uploads.ts): one Fastify route per URL serves every tus
 * method, so its schema cannot describe them; these describe one operation per method (see docs.ts).
 */
import { errors } from '../core/errors.js';
import type { OpenApiOperations } from './docs.js';
import { scopeNote } from './routeScopes.js';

const TUS_HEADERS = `Tus-Resumable: 1.0.0 on every request but OPTIONS. ${scopeNote('write')}`;
const options = { summary: 'tus capabilities', ok: '204', authenticated: false };

/** By Fastify URL. */
export const TUS_OPERATIONS: Record<string, OpenApiOperations> = {
  '/v1/uploads': {
    tag: 'uploads',
    okDescription: 'tus response headers',
    operations: {
      post: {
        summary: 'Create an upload (tus creation, creation-with-upload)',
        description:
          'Headers: Upload-Length, Upload-Metadata (comma list of `key base64value`: `filename`, `title`, ' +
          '`playback_policy` = public | signed, default signed; `external_id`: your own id for the video, at most ' +
          '255 characters; `mp4` = true | 1 for MP4 downloads, default false); the body may carry the first bytes ' +
          '(Content-Type: application/offset+octet-stream). The Location header names the upload: its last ' +
          'segment is the video id. A size above the server maximum (Tus-Max-Size) is refused with 413 ' +
          `${errors.uploadTooLarge.code} before any byte is stored. ` +
          TUS_HEADERS,
        ok: '201',
      },
      options: {
        ...options,
        description: 'Tus-Version, Tus-Extension and Tus-Max-Size (the largest upload accepted). No API key.',
      },
    },
  },
  '/v1/uploads/:id': {
    tag: 'uploads',
    okDescription: 'tus response headers',
    params: { id: 'the video id' },
    operations: {
      head: {
        summary: 'Where an upload stands',
        description: `Upload-Offset (bytes received) and Upload-Length: resume from the offset. ${TUS_HEADERS}`,
        ok: '200',
      },
      patch: {
        summary: 'Append bytes',
        description:
          'At Upload-Offset, Content-Type: application/offset+octet-stream. When the last byte arrives the ' +
          `video is queued for processing. ${TUS_HEADERS}`,
        ok: '204',
      },
      delete: {
        summary: 'Terminate an unfinished upload',
        description: `Removes its bytes and its video. ${TUS_HEADERS}`,
        ok: '204',
      },
      options: { ...options, description: 'As OPTIONS /v1/uploads.' },
    },
  },
};

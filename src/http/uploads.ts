/**
 * The tus routes at /v1/uploads: they check the upload id and the size of the metadata header, authorise
 * the request (API key, the caller's own upload only), refuse new bytes on a nearly full disk, and hand
 * the request to the tus engine (uploads/tus.ts) with what it was authorised for.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpConfig } from '../config.js';
import { errors } from '../core/errors.js';
import { uploadOwner } from '../db/videos.js';
import { assertId } from '../storage/keys.js';
import { type TusUploadsDeps, tusUploads, type Uploads } from '../uploads/tus.js';
import { assertScope } from './auth.js';
import { publicBase } from './publicUrl.js';
import { TUS_OPERATIONS } from './tusDocs.js';
import { registerUploadLinks } from './uploadLinks.js';

export type { Uploads } from '../uploads/tus.js';

const MAX_METADATA_HEADER = 4096;

export interface UploadsDeps extends TusUploadsDeps {
  config: TusUploadsDeps['config'] & HttpConfig;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
}

export function registerUploads(app: FastifyInstance, deps: UploadsDeps): Uploads {
  const { db, config } = deps;
  const tus = tusUploads(deps);
  app.addHook('onClose', () => tus.close());

  app.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null));

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const length = Number(req.headers['content-length'] ?? Number.NaN);
    await tus.handle(req.raw, reply.raw, Number.isSafeInteger(length) && length >= 0 ? length : undefined);
  };
  const preHandler = async (req: FastifyRequest) => {
    if (req.method === 'OPTIONS') return;
    const id = (req.params as { id?: string }).id;
    if (id !== undefined) assertId(id, 'upload id');
    const metadata = req.headers['upload-metadata'];
    if (typeof metadata === 'string' && metadata.length > MAX_METADATA_HEADER) {
      throw errors.invalidMetadata(`the Upload-Metadata header is longer than ${MAX_METADATA_HEADER} bytes.`);
    }
    await deps.requireApiKey(req);
    assertScope(req, 'write');
    if (req.apiKeyId) tus.grant(req.raw, { apiKeyId: req.apiKeyId });
    if (req.method === 'POST') tus.grant(req.raw, { base: publicBase(req, config.publicUrl) });
    if (req.method === 'POST' || (req.method === 'PATCH' && tus.stagedOnDisk)) await tus.checkFreeSpace();
    if (id !== undefined) {
      // Another key's unfinished upload is as good as absent: no resuming, appending or terminating it.
      const owner = await uploadOwner(db, id);
      if (owner && owner !== req.apiKeyId) throw errors.objectNotFound(`upload ${id}`);
      tus.grant(req.raw, { id });
    }
  };
  for (const url of ['/v1/uploads', '/v1/uploads/:id']) {
    app.route({
      method: ['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS', 'GET'],
      url,
      preHandler,
      handler: handle,
      exposeHeadRoute: false,
      config: { openapiOperations: TUS_OPERATIONS[url] },
    });
  }

  // Upload links: URLs that upload one file into a given video with no API key, through the same engine.
  registerUploadLinks(app, { db, config, log: deps.log, tus, requireApiKey: deps.requireApiKey });

  return { recover: tus.recover, cleanUpExpired: tus.cleanUpExpired, discard: tus.discard };
}

/**
 * Customer signing keys: POST/GET /v1/signing-keys, DELETE /v1/signing-keys/{id}, all for admin keys only.
 * A key pair is made for the API user, who signs playback tokens with its private half on their own servers
 * (RS256 JWT, header `kid` = the key's id, claims `sub` = the video id and `exp`); such a token plays as
 * /play/{videoId}/{jwt}/master.m3u8 (tokens.ts). Reel keeps only the public key. These are not Reel's own
 * token keys (`reel keys rotate-signing`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import {
  type CustomerSigningKey,
  createCustomerSigningKey,
  deleteCustomerSigningKey,
  listCustomerSigningKeys,
  MAX_CUSTOMER_SIGNING_KEYS,
} from '../db/customerSigningKeys.js';
import type { CustomerKeys } from './customerKeyRing.js';
import { scopeRoutes } from './routeScopes.js';
import { authenticated, errorRef, type IdParams, idParams, noContent } from './schemas.js';

export interface SigningKeysDeps {
  db: Db;
  log: Logger;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  /** This process's cache of the keys, told at once of a creation or a deletion here. */
  customerKeys?: CustomerKeys;
}

const signingKeySchema = {
  $id: 'SigningKey',
  type: 'object',
  properties: {
    id: {
      type: 'string',
      description: 'the `kid` to put in the header of the tokens it signs',
      examples: ['pk_…'],
    },
    publicKey: { type: 'string', description: 'the public key, SPKI PEM (Reel never keeps the private key)' },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'publicKey', 'createdAt'],
} as const;

const view = (k: CustomerSigningKey) => ({
  id: k.id,
  publicKey: k.publicKey,
  createdAt: k.createdAt.toISOString(),
});

export function registerSigningKeys(app: FastifyInstance, deps: SigningKeysDeps): void {
  const { db, log } = deps;
  app.addSchema(signingKeySchema);

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);
    api.addHook('onRoute', scopeRoutes('admin'));

    api.post(
      '/v1/signing-keys',
      {
        schema: {
          tags: ['signing keys'],
          summary: 'Create a signing key for your own playback tokens',
          description:
            'An RSA 2048 key pair. The private key (PKCS#8 PEM) is in this answer only: Reel keeps the public ' +
            'key. Sign a JWT with it, RS256, header `kid` = `id`, claims `sub` = the video id and `exp` ' +
            '(required); it plays as `/play/{videoId}/{jwt}/master.m3u8`. ' +
            `At most ${MAX_CUSTOMER_SIGNING_KEYS} keys are live at once.`,
          ...authenticated,
          response: {
            201: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                privateKey: { type: 'string', description: 'PKCS#8 PEM, shown once' },
                createdAt: { type: 'string', format: 'date-time' },
              },
              required: ['id', 'privateKey', 'createdAt'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req, reply) => {
        const key = await createCustomerSigningKey(db, req.apiKeyId);
        if (!key) throw errors.tooManyCustomerSigningKeys(MAX_CUSTOMER_SIGNING_KEYS);
        deps.customerKeys?.remember(key.id, key.publicKey);
        log.info({ signingKeyId: key.id, apiKeyId: req.apiKeyId }, 'customer signing key created');
        return reply
          .code(201)
          .send({ id: key.id, privateKey: key.privateKey, createdAt: key.createdAt.toISOString() });
      },
    );

    api.get(
      '/v1/signing-keys',
      {
        schema: {
          tags: ['signing keys'],
          summary: 'List the live signing keys (never a private key)',
          ...authenticated,
          response: {
            200: {
              type: 'object',
              properties: { data: { type: 'array', items: { $ref: 'SigningKey#' } } },
              required: ['data'],
            },
            '4xx': errorRef,
          },
        },
      },
      async () => ({ data: (await listCustomerSigningKeys(db)).map(view) }),
    );

    api.delete<{ Params: IdParams }>(
      '/v1/signing-keys/:id',
      {
        schema: {
          tags: ['signing keys'],
          summary: 'Delete a signing key',
          description:
            'Its tokens stop starting playbacks at once; playbacks already started finish (their session ' +
            'tokens are Reel’s).',
          ...authenticated,
          params: idParams,
          response: { 204: noContent, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        if (!(await deleteCustomerSigningKey(db, id))) throw errors.customerSigningKeyNotFound(id);
        deps.customerKeys?.forget(id);
        log.info({ signingKeyId: id, apiKeyId: req.apiKeyId }, 'customer signing key deleted');
        return reply.code(204).send();
      },
    );
  });
}

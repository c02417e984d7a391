/**
 * The API keys API (scope admin): list, create with scopes, revoke. A key never mints a key wider than its
 * own scopes. A revoked key is refused from its next request on (auth.ts looks every key up), and its open
 * live feeds end at once (keyRevocations.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Queryable } from '../core/ports.js';
import { createApiKey, listApiKeys, revokeApiKey, SCOPES, type Scope } from '../db/apiKeys.js';
import { assertScope, needScope } from './auth.js';
import type { KeyRevocations } from './keyRevocations.js';
import { withScope } from './routeScopes.js';
import { authenticated, errorRef, type IdParams, idParams, noContent, nullable } from './schemas.js';

export interface KeysDeps {
  db: Queryable;
  log: Logger;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
  /** Told of each revocation, so that what is open for the key closes at once. */
  revocations?: KeyRevocations | undefined;
}

const scopesSchema = {
  type: 'array',
  minItems: 1,
  maxItems: SCOPES.length,
  items: { type: 'string', enum: SCOPES },
  description:
    'what the key may do: admin (everything: keys, webhooks, signing keys) ⊇ write (upload, import, update, ' +
    'delete, retry) ⊇ read ' +
    '(list, get, playback URLs, the live feed)',
} as const;

const apiKeySchema = {
  $id: 'ApiKey',
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scopes: scopesSchema,
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: nullable('string', { format: 'date-time' }),
    revokedAt: nullable('string', { format: 'date-time' }),
  },
  required: ['id', 'name', 'scopes', 'createdAt', 'lastUsedAt', 'revokedAt'],
} as const;

interface CreateBody {
  name?: string;
  scopes?: Scope[];
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function registerKeys(app: FastifyInstance, deps: KeysDeps): void {
  const { db, log } = deps;
  app.addSchema(apiKeySchema);

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);

    api.get(
      '/v1/keys',
      {
        preHandler: needScope('admin'),
        schema: {
          tags: ['keys'],
          summary: 'List API keys (never their secrets)',
          description: withScope('admin'),
          ...authenticated,
          response: {
            200: {
              type: 'object',
              properties: { data: { type: 'array', items: { $ref: 'ApiKey#' } } },
              required: ['data'],
            },
            '4xx': errorRef,
          },
        },
      },
      async () => ({
        data: (await listApiKeys(db)).map((k) => ({
          id: k.id,
          name: k.name,
          scopes: k.scopes,
          createdAt: iso(k.created_at),
          lastUsedAt: iso(k.last_used_at),
          revokedAt: iso(k.revoked_at),
        })),
      }),
    );

    api.post<{ Body: CreateBody | undefined }>(
      '/v1/keys',
      {
        preHandler: needScope('admin'),
        schema: {
          tags: ['keys'],
          summary: 'Create an API key',
          description: withScope(
            'admin',
            'The key itself is in this answer only: it is stored hashed. `scopes` defaults to `["admin"]`; ' +
              `a key cannot create a key with a scope wider than its own (403 ${errors.scopeDenied.code}).`,
          ),
          ...authenticated,
          body: {
            type: 'object',
            properties: { name: { type: 'string', maxLength: 100 }, scopes: scopesSchema },
            additionalProperties: false,
          },
          response: {
            201: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                name: { type: 'string' },
                key: { type: 'string', description: 'the secret: shown once' },
                scopes: scopesSchema,
                createdAt: { type: 'string', format: 'date-time' },
              },
              required: ['id', 'name', 'key', 'scopes', 'createdAt'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req, reply) => {
        const name = req.body?.name ?? '';
        const scopes = req.body?.scopes ?? ['admin'];
        for (const scope of scopes) assertScope(req, scope);
        const key = await createApiKey(db, name, scopes);
        log.info({ keyId: key.id, scopes: key.scopes, byKeyId: req.apiKeyId }, 'API key created');
        return reply.code(201).send({
          id: key.id,
          name,
          key: key.secret,
          scopes: key.scopes,
          createdAt: key.createdAt.toISOString(),
        });
      },
    );

    api.delete<{ Params: IdParams }>(
      '/v1/keys/:id',
      {
        preHandler: needScope('admin'),
        schema: {
          tags: ['keys'],
          summary: 'Revoke an API key',
          description: withScope(
            'admin',
            'Immediate: the key is refused from its next request on, and its open live feeds (GET /v1/events) ' +
              'get a last `closed` event and end.',
          ),
          ...authenticated,
          params: idParams,
          response: { 204: noContent, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        if (!(await revokeApiKey(db, id))) throw errors.keyNotFound(id);
        deps.revocations?.revoked(id);
        log.info({ keyId: id, byKeyId: req.apiKeyId }, 'API key revoked');
        return reply.code(204).send();
      },
    );
  });
}

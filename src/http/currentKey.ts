/**
 * GET /v1/keys/current: which key made the request (its id, name and scopes, never its secret). Any valid
 * key may ask about itself; the web app's settings page uses it to mark "this browser" in the key list and
 * to warn before a key revokes itself.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Queryable } from '../core/ports.js';
import { getApiKey, SCOPES } from '../db/apiKeys.js';
import { needScope } from './auth.js';
import { withScope } from './routeScopes.js';
import { authenticated, errorRef } from './schemas.js';

export interface CurrentKeyDeps {
  db: Queryable;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
}

/** The name the key from REEL_API_KEY is shown with (it has no row). */
export const ENV_KEY_NAME = 'REEL_API_KEY';

export function registerCurrentKey(app: FastifyInstance, deps: CurrentKeyDeps): void {
  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);
    api.get(
      '/v1/keys/current',
      {
        preHandler: needScope('read'),
        schema: {
          tags: ['keys'],
          summary: 'The key this request is made with',
          description: withScope(
            'read',
            'Its id, name and scopes, never its secret. The key from REEL_API_KEY answers `{id: "env", name: ' +
              '"REEL_API_KEY", scopes: ["admin"]}`: it is set in the environment and cannot be revoked.',
          ),
          ...authenticated,
          querystring: { type: 'object', properties: {}, additionalProperties: false },
          response: {
            200: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                name: { type: 'string' },
                scopes: { type: 'array', items: { type: 'string', enum: SCOPES } },
              },
              required: ['id', 'name', 'scopes'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req) => {
        const id = req.apiKeyId ?? '';
        if (id === 'env') return { id, name: ENV_KEY_NAME, scopes: req.apiKeyScopes ?? ['admin'] };
        const key = await getApiKey(deps.db, id);
        return { id, name: key?.name ?? '', scopes: req.apiKeyScopes ?? [] };
      },
    );
  });
}

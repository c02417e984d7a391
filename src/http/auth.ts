/** API-key authentication for the management and upload routes, and the scope each route needs. */
import crypto from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors } from '../core/errors.js';
import type { Queryable } from '../core/ports.js';
import { findApiKey, grants, hashKey, type Scope } from '../db/apiKeys.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKeyId?: string;
    /** The scopes of the key the request was authenticated with (set with apiKeyId). */
    apiKeyScopes?: Scope[];
  }
}

/** The key from REEL_API_KEY (if set) is accepted as "env", an admin; others are looked up by hash. */
export function apiKeyAuth(db: Queryable, envKey: string | undefined) {
  const envHash = envKey ? Buffer.from(hashKey(envKey), 'hex') : undefined;
  return async function requireApiKey(req: FastifyRequest): Promise<void> {
    const header = req.headers.authorization;
    if (!header) throw errors.missingApiKey();
    const match = /^Bearer\s+(\S{1,256})$/i.exec(header);
    if (!match) throw errors.badApiKey();
    const secret = match[1]!;
    if (envHash && crypto.timingSafeEqual(envHash, Buffer.from(hashKey(secret), 'hex'))) {
      req.apiKeyId = 'env';
      req.apiKeyScopes = ['admin'];
      return;
    }
    const key = await findApiKey(db, secret);
    if (!key) throw errors.badApiKey();
    req.apiKeyId = key.id;
    req.apiKeyScopes = key.scopes;
  };
}

/** Throws 403 REEL_SCOPE_DENIED unless the request's key holds `needed` (or a wider scope). */
export function assertScope(req: FastifyRequest, needed: Scope): void {
  if (!grants(req.apiKeyScopes ?? [], needed)) throw errors.scopeDenied(needed);
}

/**
 * A route hook (preHandler, after the plugin's requireApiKey ran in onRequest) that lets only keys
 * holding `needed` through: `{ preHandler: needScope('write') }`.
 */
export function needScope(needed: Scope) {
  return async function scopeCheck(req: FastifyRequest): Promise<void> {
    assertScope(req, needed);
  };
}

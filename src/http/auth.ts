/** API-key authentication for the management and upload routes. */
import crypto from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors } from '../core/errors.js';
import type { Queryable } from '../core/ports.js';
import { findApiKey, hashKey } from '../db/apiKeys.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKeyId?: string;
  }
}

/** The key from REEL_API_KEY (if set) is accepted as "env"; others are looked up by hash. */
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
      return;
    }
    const id = await findApiKey(db, secret);
    if (!id) throw errors.badApiKey();
    req.apiKeyId = id;
  };
}

/**
 * Webhooks: POST/GET/DELETE /v1/webhooks, GET /v1/webhooks/{id}/deliveries and POST /v1/webhooks/{id}/test,
 * all for admin keys only. Deliveries themselves are sent by the deliverer (webhooks/deliverer.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { IntegrationConfig } from '../config.js';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  queueTestEvent,
  type WebhookRow,
} from '../db/webhooks.js';
import { assertPublicDestination, checkOutboundUrl } from '../net/outbound.js';
import { TEST_EVENT, WEBHOOK_EVENTS } from '../webhooks/payload.js';
import { newWebhookSecret } from '../webhooks/signature.js';
import { scopeRoutes } from './routeScopes.js';
import { authenticated, errorRef, type IdParams, idParams, noContent, nullable } from './schemas.js';

/** The most webhooks a deployment may have. */
export const MAX_WEBHOOKS = 100;
export const MAX_WEBHOOK_URL_LENGTH = 2048;

export interface WebhooksDeps {
  db: Db;
  config: IntegrationConfig;
  log: Logger;
  requireApiKey: (req: FastifyRequest) => Promise<void>;
}

const eventType = { type: 'string', enum: WEBHOOK_EVENTS } as const;

const webhookSchema = {
  $id: 'Webhook',
  type: 'object',
  properties: {
    id: { type: 'string' },
    url: { type: 'string', format: 'uri' },
    events: { type: 'array', items: eventType },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'url', 'events', 'createdAt'],
} as const;

const deliverySchema = {
  $id: 'WebhookDelivery',
  type: 'object',
  properties: {
    id: { type: 'integer' },
    eventId: { type: 'string', description: 'the webhook-id header of every attempt (msg_…)' },
    event: { type: 'string', examples: ['video.ready'] },
    state: {
      type: 'string',
      enum: ['pending', 'running', 'delivered', 'failed', 'cancelled'],
      description:
        'pending: waiting for its next attempt; failed: every attempt failed (about a day); cancelled: the webhook was deleted',
    },
    attempts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          attempt: { type: 'integer' },
          statusCode: nullable('integer', { description: "the receiver's HTTP status; null: no answer" }),
          durationMs: { type: 'integer' },
          error: nullable('string', { description: 'why the attempt failed; null when delivered' }),
          at: { type: 'string', format: 'date-time' },
        },
        required: ['attempt', 'statusCode', 'durationMs', 'error', 'at'],
      },
    },
    nextAttemptAt: nullable('string', { format: 'date-time' }),
    createdAt: { type: 'string', format: 'date-time' },
    finishedAt: nullable('string', { format: 'date-time' }),
  },
  required: ['id', 'eventId', 'event', 'state', 'attempts', 'nextAttemptAt', 'createdAt', 'finishedAt'],
} as const;

const view = (w: WebhookRow) => ({
  id: w.id,
  url: w.url,
  events: w.events,
  createdAt: new Date(w.created_at).toISOString(),
});

export function registerWebhooks(app: FastifyInstance, deps: WebhooksDeps): void {
  const { db, config, log } = deps;
  app.addSchema(webhookSchema);
  app.addSchema(deliverySchema);

  app.register(async (api) => {
    api.addHook('onRequest', deps.requireApiKey);
    api.addHook('onRoute', scopeRoutes('admin'));

    const loadWebhook = async (id: string) => {
      const w = await getWebhook(db, id);
      if (!w) throw errors.webhookNotFound(id);
      return w;
    };

    api.post<{ Body: { url: string; events?: string[] } }>(
      '/v1/webhooks',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'Create a webhook',
          description:
            'Reel POSTs the chosen events (all of them when `events` is left out) to `url`, signed as the ' +
            'Standard Webhooks spec says (headers webhook-id, webhook-timestamp, webhook-signature). The ' +
            '`secret` that verifies them is in this answer only. The URL must be public (a private, ' +
            'loopback or link-local address is refused unless REEL_ALLOW_PRIVATE_NETWORKS=true).',
          ...authenticated,
          body: {
            type: 'object',
            properties: {
              url: { type: 'string', minLength: 1, maxLength: MAX_WEBHOOK_URL_LENGTH },
              events: { type: 'array', items: eventType, minItems: 1, uniqueItems: true },
            },
            required: ['url'],
            additionalProperties: false,
          },
          response: {
            201: {
              type: 'object',
              properties: {
                ...webhookSchema.properties,
                secret: { type: 'string', description: 'whsec_…: shown once' },
              },
              required: [...webhookSchema.required, 'secret'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req, reply) => {
        const url = checkOutboundUrl(req.body.url);
        await assertPublicDestination(url, { allowPrivateNetworks: config.allowPrivateNetworks });
        const events = req.body.events ?? [...WEBHOOK_EVENTS];
        const secret = newWebhookSecret();
        const row = await createWebhook(
          db,
          { url: url.href, events, secret, apiKeyId: req.apiKeyId },
          MAX_WEBHOOKS,
        );
        if (!row) throw errors.tooManyWebhooks(MAX_WEBHOOKS);
        log.info({ webhookId: row.id, events }, 'webhook created');
        return reply.code(201).send({ ...view(row), secret });
      },
    );

    api.get(
      '/v1/webhooks',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'List webhooks (never their secrets)',
          ...authenticated,
          response: {
            200: {
              type: 'object',
              properties: { data: { type: 'array', items: { $ref: 'Webhook#' } } },
              required: ['data'],
            },
            '4xx': errorRef,
          },
        },
      },
      async () => ({ data: (await listWebhooks(db)).map(view) }),
    );

    api.delete<{ Params: IdParams }>(
      '/v1/webhooks/:id',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'Delete a webhook; deliveries it has not received are cancelled',
          ...authenticated,
          params: idParams,
          response: { 204: noContent, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        if (!(await deleteWebhook(db, req.params.id))) throw errors.webhookNotFound(req.params.id);
        log.info({ webhookId: req.params.id }, 'webhook deleted');
        return reply.code(204).send();
      },
    );

    api.get<{ Params: IdParams; Querystring: { limit: number } }>(
      '/v1/webhooks/:id/deliveries',
      {
        schema: {
          tags: ['webhooks'],
          summary: "A webhook's latest deliveries, newest first, with every attempt",
          ...authenticated,
          params: idParams,
          querystring: {
            type: 'object',
            properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 } },
            additionalProperties: false,
          },
          response: {
            200: {
              type: 'object',
              properties: { data: { type: 'array', items: { $ref: 'WebhookDelivery#' } } },
              required: ['data'],
            },
            '4xx': errorRef,
          },
        },
      },
      async (req) => {
        const w = await loadWebhook(req.params.id);
        return { data: await listDeliveries(db, w.id, { limit: req.query.limit }) };
      },
    );

    api.post<{ Params: IdParams }>(
      '/v1/webhooks/:id/test',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'Send a webhook.test event to this webhook',
          description:
            'Queues the event `{type: "webhook.test", timestamp, data: {webhookId}}` for this webhook alone and ' +
            'answers its delivery (pending); GET /v1/webhooks/{id}/deliveries shows how it went.',
          ...authenticated,
          params: idParams,
          response: { 202: { $ref: 'WebhookDelivery#' }, '4xx': errorRef },
        },
      },
      async (req, reply) => {
        const w = await loadWebhook(req.params.id);
        const deliveryId = await queueTestEvent(db, w.id, TEST_EVENT);
        const [delivery] = await listDeliveries(db, w.id, { limit: 1, id: deliveryId });
        return reply.code(202).send(delivery);
      },
    );
  });
}

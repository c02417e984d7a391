/**
 * The API reference at /docs (Swagger UI, also /docs/json and /docs/yaml): @fastify/swagger generates it
 * from the route schemas. Register it (awaited) before the routes: it only sees routes added after it.
 *
 * Each module describes its own routes. A route whose Fastify schema cannot say what it does describes
 * itself in its route options: `config.swaggerTransform` (@fastify/swagger's own: another URL or schema
 * for the document), or `config.openapiOperations` (one operation per HTTP method, for a route that
 * serves several methods with one handler, like tus). What is not API has `schema: { hide: true }`.
 */
import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** One operation of a route that serves several HTTP methods. */
export interface OpenApiOperation {
  summary: string;
  description: string;
  /** The status of a success, e.g. '204'. */
  ok: string;
  /** Whether it needs an API key (default true). */
  authenticated?: boolean;
}

/** The document's operations for one route, by lower-case HTTP method. */
export interface OpenApiOperations {
  tag: string;
  /** What a success answers, e.g. 'tus response headers'. */
  okDescription: string;
  /** Path parameters: name → description. */
  params?: Record<string, string>;
  operations: Record<string, OpenApiOperation>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    openapiOperations?: OpenApiOperations;
  }
}

/** An onRoute hook that files every route of a plugin under `tag` in /docs, unless it names its own. */
export const tagRoutes = (tag: string) => (route: RouteOptions) => {
  route.schema = { tags: [tag], ...route.schema };
};

const require = createRequire(import.meta.url);
const VERSION = (require('../../package.json') as { version: string }).version;

/** A Fastify URL as the OpenAPI document writes it: /v1/uploads/:id → /v1/uploads/{id}. */
const openapiUrl = (url: string) => url.replace(/:(\w+)/g, '{$1}');

export async function registerDocs(app: FastifyInstance): Promise<void> {
  /** The routes that describe themselves operation by operation, by OpenAPI URL. */
  const byOperation = new Map<string, OpenApiOperations>();

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Reel API',
        version: VERSION,
        description:
          '[← Back to the Reel web app](/) · [Library](/) · [Upload](/upload)\n\n' +
          'Upload videos (tus 1.0), follow their processing, and play them back as adaptive HLS. ' +
          'Management and upload calls need `Authorization: Bearer <api key>`; playback needs no key, only a ' +
          'playback token in the path for signed videos. Each operation names the scope its key needs ' +
          '(`Scope: read.`): a key holds admin, write or read, and admin ⊇ write ⊇ read; a key without it gets 403. ' +
          'Every error body is `{error, code, message, statusCode}`.',
      },
      tags: [
        { name: 'videos', description: 'Videos and their playback URLs' },
        { name: 'uploads', description: 'tus 1.0 resumable uploads; the upload id is the video id' },
        { name: 'playback', description: 'HLS playlists, segments and poster; no API key' },
        { name: 'keys', description: 'API keys' },
        { name: 'events', description: 'Live changes for dashboards' },
        { name: 'webhooks', description: 'Signed event deliveries to your servers (Standard Webhooks)' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (reel keys create).' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `schema${i}`) },
    transform: ({ schema, url, route }) => {
      const ops = route.config?.openapiOperations;
      if (ops) byOperation.set(openapiUrl(url), ops);
      return { schema, url };
    },
    transformObject: (doc) =>
      describeOperations(
        ('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as Record<string, unknown>,
        byOperation,
      ),
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: false },
    // Swagger UI pads its code chips by 5 px top and bottom: on wrapped lines they covered the line above
    // (plain to see in dark mode, where the chips are black). Slim chips, and room between the lines.
    theme: {
      css: [
        {
          filename: 'reel-docs.css',
          content:
            '.swagger-ui .markdown code,.swagger-ui .renderedMarkdown code{padding:0.05em 0.3em;' +
            'box-decoration-break:clone;-webkit-box-decoration-break:clone}' +
            '.swagger-ui .markdown p,.swagger-ui .renderedMarkdown p{line-height:1.7}',
        },
      ],
    },
  });
}

/** Replaces the operations of each route that describes itself by method with one per method. */
function describeOperations(
  openapiObject: Record<string, unknown>,
  byOperation: Map<string, OpenApiOperations>,
): Record<string, unknown> {
  const paths = (openapiObject['paths'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [url, { tag, okDescription, params = {}, operations }] of byOperation) {
    if (!paths[url]) continue;
    const parameters = Object.entries(params).map(([name, description]) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
      description,
    }));
    paths[url] = Object.fromEntries(
      Object.entries(operations).map(([method, op]) => [
        method,
        {
          tags: [tag],
          summary: op.summary,
          description: op.description,
          parameters,
          security: op.authenticated === false ? [] : [{ apiKey: [] }],
          responses: {
            [op.ok]: { description: okDescription },
            '4XX': {
              description: 'The error body',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ReelError' } } },
            },
          },
        },
      ]),
    );
  }
  return openapiObject;
}

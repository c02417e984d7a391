/**
 * A webhook receiver for tests: an HTTP server on 127.0.0.1 that records every request and answers what
 * the test's handler says (a status, after an optional hold), and a Standard Webhooks verifier.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: the parsed event, as a receiver sees it
  json: any;
  at: number;
}

/** What to answer: a status, optionally after holding the request `holdMs`. */
export type Handler = (r: Received, nth: number) => { status: number; holdMs?: number } | number;

export interface Receiver {
  url: string;
  received: Received[];
  handle(h: Handler): void;
  waitFor(what: string, pred: (all: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(handler: Handler = () => 200): Promise<Receiver> {
  let h = handler;
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const r: Received = {
        id: String(req.headers['webhook-id']),
        timestamp: String(req.headers['webhook-timestamp']),
        signature: String(req.headers['webhook-signature']),
        headers: req.headers,
        body,
        json: JSON.parse(body || 'null'),
        at: Date.now(),
      };
      received.push(r);
      const out = h(r, received.length);
      const { status, holdMs = 0 } = typeof out === 'number' ? { status: out } : out;
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      }, holdMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    handle: (next) => {
      h = next;
    },
    async waitFor(what, pred, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      while (!pred(received)) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; received ${received.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Verifies a delivery as a receiver would, with the npm `standardwebhooks` package (signature over
 * `${id}.${timestamp}.${body}` with the base64 key of the whsec_ secret, timestamp within 5 minutes).
 * Throws when it does not verify.
 */
export async function verifyDelivery(secret: string, r: Received): Promise<void> {
  new Webhook(secret).verify(r.body, {
    'webhook-id': r.id,
    'webhook-timestamp': r.timestamp,
    'webhook-signature': r.signature,
  });
}

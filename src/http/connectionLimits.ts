/**
 * Limits on connections that the HTTP server itself enforces: a request body that sends no byte for a
 * while is cut (the client resumes a tus upload from the bytes that arrived), and connections beyond a
 * cap are refused. Headers already time out (Node's headersTimeout); bodies did not.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export interface ConnectionLimits {
  /** A request body silent this long is cut. */
  bodyIdleMs: number;
  /** Connections open at once; more are closed as soon as they are accepted. */
  maxConnections: number;
}

/** Whether the request announces a body (Content-Length above 0, or chunked). */
const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export function limitConnections(server: Server, limits: ConnectionLimits, log: Logger): void {
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let lastReport = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastReport < 10_000) return;
    lastReport = now;
    log.warn(
      { dropped, maxConnections: limits.maxConnections },
      'connections refused: the server holds as many as REEL_MAX_CONNECTIONS allows',
    );
    dropped = 0;
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!hasBody(req)) return;
    const socket = req.socket;
    // Every byte read resets the socket's idle timer (Node's parser does that even for consumed sockets).
    socket.setTimeout(limits.bodyIdleMs);
    // Node emits 'timeout' on the request only while its body is incomplete: the client went silent.
    req.on('timeout', () => {
      log.info(
        { method: req.method, url: req.url?.split('?')[0], idleMs: limits.bodyIdleMs },
        'request body idle too long (REEL_BODY_IDLE_SECONDS): connection closed',
      );
      socket.destroy();
    });
    // The body arrived and the server is still answering (storing the last part, say): not the client's
    // silence, so the connection stays.
    res.on('timeout', () => {
      if (req.complete) socket.setTimeout(0);
    });
  });
}

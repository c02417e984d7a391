/**
 * LISTEN on one Postgres channel over a dedicated connection that is re-opened with backoff whenever it
 * drops. Notifications sent while nobody listened are lost, so `onConnect` runs after every (re)connect:
 * the caller catches up there (wakes a worker, re-asks for a lock) instead of trusting it saw everything.
 */
import pg from 'pg';
import type { Logger } from 'pino';

export interface ChannelListener {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Told each notification's payload. */
  onNotify: (payload: string) => void;
  /** Told after each successful LISTEN, the first one included. */
  onConnect?: () => void;
  /** Told when a connection that had LISTENed drops (notifications may be missed until onConnect). */
  onDisconnect?: () => void;
  /** Names the listener in log lines ("job notifications"). */
  label?: string;
}

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export function listenOnChannel(
  url: string,
  channel: string,
  opts: ListenOptions,
  log: Logger,
): ChannelListener {
  // LISTEN takes an identifier, not a parameter: only plain names get this far.
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
  const label = opts.label ?? `notifications on ${channel}`;
  let client: pg.Client | undefined;
  let closed = false;
  let delay = MIN_DELAY_MS;
  let timer: NodeJS.Timeout | undefined;

  const retryLater = () => {
    timer = setTimeout(() => void connect(), delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  };

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: url, keepAlive: true });
    client = c;
    c.on('notification', (msg) => {
      if (msg.channel === channel) opts.onNotify(msg.payload ?? '');
    });
    c.on('error', (err) => {
      log.warn({ err: err.message }, `${label}: connection lost; reconnecting`);
    });
    let listening = false;
    c.on('end', () => {
      if (listening) opts.onDisconnect?.();
      listening = false;
      if (closed || client !== c) return;
      client = undefined;
      retryLater();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      listening = true;
      delay = MIN_DELAY_MS;
      opts.onConnect?.();
    } catch (err) {
      log.warn({ err: (err as Error).message }, `${label}: cannot connect; retrying`);
      await c.end().catch(() => undefined);
      if (client === c && !closed) {
        client = undefined;
        retryLater();
      }
    }
  };
  void connect();

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}

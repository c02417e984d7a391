/**
 * Slow bodies and too many connections (issue 9, point 4): a request body that goes silent is cut after
 * REEL_BODY_IDLE_SECONDS (a tus PATCH keeps the bytes that arrived and resumes, on the filesystem store
 * and on S3), and connections beyond REEL_MAX_CONNECTIONS are refused.
 */
import http from 'node:http';
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitConnections } from '../../src/http/connectionLimits.js';
import { assembleUpload } from '../../src/uploads/assemble.js';
import { rawRequest } from '../helpers/rawHttp.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { startS3Reel } from '../helpers/s3.js';
import { tusHeaders } from '../helpers/tus.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection to the server: what it receives, and when it was closed. */
function connect(url: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const state = { received: '', closedAt: undefined as number | undefined };
  socket.on('data', (d: Buffer) => {
    state.received += d.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      state.closedAt = Date.now();
      resolve();
    }),
  );
  const connected = new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  return { socket, state, closed, connected };
}

/** The head of a request, as a client would write it before its body. */
const head = (method: string, pathname: string, headers: Record<string, string>) =>
  `${method} ${pathname} HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

async function createUpload(t: TestReel, size: number): Promise<string> {
  const res = await rawRequest(t.url, '/v1/uploads', 'POST', tusHeaders.create(size, undefined, t.auth));
  expect(res.status).toBe(201);
  return String(res.headers.location).split('/').pop()!;
}

const offsetOf = async (t: TestReel, id: string) =>
  Number(
    (await rawRequest(t.url, `/v1/uploads/${id}`, 'HEAD', tusHeaders.base(t.auth))).headers['upload-offset'],
  );

/** Bytes where every 4 KiB block differs, so that misplaced bytes show. */
function pattern(bytes: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= data.length; i += 4096) data.writeUInt32BE(i % 2 ** 32, i);
  for (let i = 4; i < data.length; i += 4096) data[i] = (i >> 12) & 0xff;
  return data;
}

async function sourceBytes(t: TestReel, id: string): Promise<Buffer> {
  await assembleUpload(t.reel.db, t.reel.store, id); // on S3 the parts are joined first
  const chunks: Buffer[] = [];
  for await (const c of await t.reel.store.get(`sources/${id}/original`)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * Sends the head of a tus PATCH announcing all of `data` from `offset`, then `sent` bytes of it, and goes
 * silent: resolves once the server has closed the connection (or `giveUpMs` passed).
 */
async function stalledPatch(
  t: TestReel,
  id: string,
  data: Buffer,
  offset: number,
  sent: number,
  giveUpMs: number,
) {
  const c = connect(t.url);
  await c.connected;
  c.socket.write(
    head(
      'PATCH',
      `/v1/uploads/${id}`,
      tusHeaders.patch(offset, {
        Authorization: t.auth.Authorization,
        'Content-Length': String(data.length - offset),
      }),
    ),
  );
  c.socket.write(data.subarray(offset, offset + sent));
  const silentFrom = Date.now();
  await Promise.race([c.closed, sleep(giveUpMs)]);
  c.socket.destroy();
  return { closedAfterMs: c.state.closedAt === undefined ? undefined : c.state.closedAt - silentFrom };
}

function stallSuite(
  name: string,
  start: () => Promise<{ t: TestReel; close: () => Promise<void> }>,
  sizes: {
    total: number;
    sent: number;
    /** The offset a HEAD reports once the stalled PATCH was cut. */
    kept: number;
  },
) {
  describe(`a tus PATCH cut by the body idle timeout keeps its bytes and resumes (${name})`, () => {
    let t: TestReel;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ t, close } = await start());
    });
    afterAll(() => close());

    it('HEAD answers the offset reached, and the upload finishes byte for byte', async () => {
      const data = pattern(sizes.total);
      const id = await createUpload(t, data.length);
      const { closedAfterMs } = await stalledPatch(t, id, data, 0, sizes.sent, 15_000);
      expect(closedAfterMs, 'the stalled PATCH was never cut').toBeDefined();
      expect(closedAfterMs!).toBeLessThan(10_000);
      const offset = await waitFor(
        'the cut PATCH to settle',
        async () => {
          const o = await offsetOf(t, id);
          return o === sizes.kept ? o : undefined;
        },
        10_000,
      );
      expect(offset).toBe(sizes.kept);
      const rest = await rawRequest(
        t.url,
        `/v1/uploads/${id}`,
        'PATCH',
        tusHeaders.patch(offset, t.auth),
        data.subarray(offset),
      );
      expect(rest.status).toBe(204);
      expect(Number(rest.headers['upload-offset'])).toBe(data.length);
      expect((await sourceBytes(t, id)).equals(data)).toBe(true);
    });
  });
}

describe('slow bodies and the connection cap (filesystem store)', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play', 'body-idle-seconds': '1', 'max-connections': '4' });
  });
  afterAll(() => t.close());

  it('a body dripping bytes stays open while bytes come, and is cut once they stop for the idle time', async () => {
    const id = await createUpload(t, 100 * MiB);
    const c = connect(t.url);
    await c.connected;
    c.socket.write(
      head(
        'PATCH',
        `/v1/uploads/${id}`,
        tusHeaders.patch(0, { Authorization: t.auth.Authorization, 'Content-Length': String(100 * MiB) }),
      ),
    );
    // A byte every 400 ms for 2.4 s: longer than the idle time in all, but never idle that long.
    let silentFrom = 0;
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      expect(c.state.closedAt, 'cut while bytes were still coming').toBeUndefined();
      c.socket.write('x');
      silentFrom = Date.now();
    }
    await Promise.race([c.closed, sleep(8_000)]);
    c.socket.destroy();
    expect(c.state.closedAt, 'the silent body was never cut').toBeDefined();
    expect(c.state.closedAt! - silentFrom).toBeGreaterThanOrEqual(800);
    expect(c.state.closedAt! - silentFrom).toBeLessThan(5_000);
  });

  it('connections beyond the cap are refused; one is accepted again once another closes', async () => {
    // The test's own requests use Connection: close, so only these four are held.
    const held = Array.from({ length: 4 }, () => connect(t.url));
    for (const h of held) {
      await h.connected;
      h.socket.write(head('GET', '/healthz', {}));
    }
    await waitFor('the held connections to be answered', async () =>
      held.every((h) => h.state.received.includes('200 OK')),
    );
    const extra = connect(t.url);
    extra.socket.write(head('GET', '/healthz', {}));
    await Promise.race([extra.closed, sleep(5_000)]);
    expect(extra.state.closedAt, 'a fifth connection was kept').toBeDefined();
    expect(extra.state.received).toBe('');

    held[0]!.socket.destroy();
    await held[0]!.closed;
    await sleep(200);
    const res = await rawRequest(t.url, '/healthz', 'GET', {});
    expect(res.status).toBe(200);
    for (const h of held) h.socket.destroy();
  });
});

it('a body that arrived in full is not cut while the server takes longer than the idle time to answer', async () => {
  // Storing the last part of an upload can take a while; that silence is the server's, not the client's.
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('stored'), 2_500));
  });
  limitConnections(server, { bodyIdleMs: 1_000, maxConnections: 10 }, pino({ level: 'silent' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as net.AddressInfo;
    const res = await rawRequest(`http://127.0.0.1:${port}`, '/', 'PUT', {}, Buffer.alloc(1000));
    expect(res.status).toBe(200);
    expect(res.body).toBe('stored');
  } finally {
    server.close();
  }
});

stallSuite(
  'filesystem store',
  async () => {
    const t = await startTestReel({ roles: 'upload,play', 'body-idle-seconds': '1' });
    return { t, close: () => t.close() };
  },
  { total: 3 * MiB, sent: MiB + 12345, kept: MiB + 12345 },
);

// On S3 the bytes are kept up to the last whole part stored (5 MiB parts here): the part being streamed
// when the client went silent is the one the client sends again.
stallSuite(
  'S3 store',
  () => startS3Reel({ roles: 'upload,play', 'body-idle-seconds': '1', 'tus-part-mib': '5' }),
  { total: 20 * MiB, sent: 12 * MiB, kept: 10 * MiB },
);

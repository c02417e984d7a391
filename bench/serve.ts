/**
 * `npm run bench:serve`: Reel's play role against nginx serving the same files, requests and bytes per
 * second from the same run (issue 15).
 *
 * Media: a 30 s 1080p30 clip (testsrc with a tone, made once), processed with the ladder 1080, x264
 * ultrafast and CRF 16 (1080p segments of 200–400 kB, as a real 1080p video at a few Mbit/s would have) by an
 * in-process Reel, twice per database: one video public, one signed.
 * For the signed one, several viewers each fetch a playback token (GET /v1/videos/{id}/playback, a second
 * apart so the tokens differ) and the master with it, as a player would; their session-token URLs are what
 * the load generator asks for. Then the processing Reel is closed and `reel serve --roles play` (bin/reel.js,
 * dist/) serves the data directory, as an operator would run it.
 *
 * Load: Debian's `wrk -t1 -c${BENCH_CONNECTIONS} -d${BENCH_SECONDS}s` (installed with apt-get when
 * missing) with a Lua script that rotates over a list of paths (the video's 1080p segments, the viewers'
 * tokens); a one-second warm-up before each row is not counted, and a fresh Reel first gets 3 s of every path.
 * nginx's rows are measured right before each Reel configuration's rows and again right after them: the mean
 * of both is what those rows are compared with. A row with any non-2xx answer or socket
 * error is marked as failed rather than counted.
 *
 * Rows:
 * 1. nginx (Debian's, one worker, sendfile, as Debian ships it), serving the same files from disk: the
 *    segment files where Reel's filesystem store keeps them (outputs rows → store.localPath), the media
 *    playlist and the master as static files holding exactly the text Reel serves for the public video.
 * 2. Reel embedded (PGlite), one process: segment, media playlist, master, public and signed (a signed
 *    master carries a start token and answers with a new session).
 * 3. Reel on Postgres (a private server, test/helpers/private-postgres.ts), one process and N processes
 *    (`reel serve --processes N`, N = BENCH_PROCESSES or os.availableParallelism()), public and signed.
 * 4. The edge: nginx with deploy/nginx/reel-edge.conf (test/helpers/nginx.ts startEdge, one worker like the
 *    reference) in front of Reel on Postgres with N processes; BENCH_EDGE_CONNECTIONS (200) viewers rotating
 *    over the signed video's segments and the viewers' session tokens, then over the public video's, against
 *    plain nginx at the same concurrency. Origin hit ratio for segments: 1 − (segment requests that reached
 *    Reel) / (segment requests made at the edge), counted over the checks, the warm-up and the measured run;
 *    "reached Reel" is the larger of what Reel logged and what the edge's access log shows as not answered
 *    from its cache (MISS, EXPIRED, REVALIDATED, BYPASS).
 *
 * Aims (issue 15): the play role alone ≥ 50% of nginx's requests per second for segments and for media
 * playlists, token checks included (every Reel configuration, public and signed); through the edge ≥ 90%
 * of plain nginx; origin hit ratio ≥ 99%.
 *
 * BENCH_SECONDS (5), BENCH_CONNECTIONS (32), BENCH_PROCESSES (cores), BENCH_SKIP_POSTGRES=1 (embedded only),
 * BENCH_VIEWERS (4), BENCH_EDGE_CONNECTIONS (200), BENCH_CLIP_SECONDS (30), BENCH_CRF (16) change it.
 * Every process and temporary directory it makes is removed at the end, also on an error or Ctrl-C.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FFMPEG, FIXTURES_DIR } from '../test/fixtures/generate.js';
import { startEdge } from '../test/helpers/nginx.js';
import { freePort, type PrivatePostgres, startPrivatePostgres } from '../test/helpers/private-postgres.js';
import { startTestReel, waitUntilReady } from '../test/helpers/reel.js';
import { tusUpload } from '../test/helpers/upload.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const EDGE_CONNECTIONS = Number(process.env.BENCH_EDGE_CONNECTIONS ?? 200);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? os.availableParallelism());
const SKIP_POSTGRES = process.env.BENCH_SKIP_POSTGRES === '1';
const VIEWERS = Number(process.env.BENCH_VIEWERS ?? 4);
const CLIP_SECONDS = Number(process.env.BENCH_CLIP_SECONDS ?? 30);
const CRF = process.env.BENCH_CRF ?? '16';
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p)) ?? 'nginx';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// Clean-up: every process and directory this run makes is registered here and removed on the way out, also
// on an error or Ctrl-C. Processes are started in their own group, so a kill takes their children along.

const cleanups: (() => Promise<void> | void)[] = [];

/** Registers `fn` for the clean-up; the function returned runs it now instead (once). */
function onCleanup(fn: () => Promise<void> | void): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => {
    done ??= Promise.resolve().then(fn);
    return done;
  };
  cleanups.push(once);
  return once;
}
const groups = new Set<number>();
const dirs = new Set<string>();

function tempDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `reel-bench-serve-${name}-`));
  dirs.add(dir);
  return dir;
}

async function cleanUp(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (err) {
      console.error('clean-up:', (err as Error).message);
    }
  }
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  groups.clear();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

process.on('exit', () => {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

/** Starts a long-running process in its own group; its output goes to `logFile`. */
function startProcess(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', out, 'pipe'], detached: true });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  groups.add(child.pid);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    stderr: () => stderr,
    exited,
    /** SIGTERM, then SIGKILL to the whole group after `graceMs`. */
    async stop(graceMs = 5000): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(child.pid!, 'SIGTERM');
        await Promise.race([exited, sleep(graceMs)]);
      }
      killGroup(child.pid!, 'SIGKILL');
      groups.delete(child.pid!);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Tools

function has(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian packages as root (as scripts/setup.sh does) when the binary is missing. */
function ensureTool(bin: string, pkg: string): void {
  if (has(bin)) return;
  if (process.getuid?.() !== 0)
    throw new Error(`${bin} is missing: install it with "apt-get install ${pkg}"`);
  console.log(`installing ${pkg} (apt-get)…`);
  execFileSync(
    'sh',
    ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg}`],
    {
      stdio: 'inherit',
    },
  );
  if (!has(bin)) throw new Error(`${pkg} was installed but ${bin} is still missing`);
}

// ---------------------------------------------------------------------------------------------------------
// wrk

interface Load {
  requests: number;
  bytes: number;
  seconds: number;
  errors: number;
  non2xx: number;
  p50ms: number;
  p99ms: number;
}

const LUA = `
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

let luaFile = '';

/** `wrk -t1 -c{connections} -d{seconds}s` rotating over `paths` on `base`. */
function wrk(base: string, paths: string[], seconds: number, connections: number): Load {
  const work = tempDir('wrk');
  try {
    const list = path.join(work, 'paths.txt');
    fs.writeFileSync(list, `${paths.join('\n')}\n`);
    const out = execFileSync(
      'wrk',
      ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', luaFile, base],
      { env: { ...process.env, BENCH_PATHS: list }, encoding: 'utf8', timeout: (seconds + 30) * 1000 },
    );
    const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
    if (!line) throw new Error(`wrk printed no result:\n${out}`);
    const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
    return {
      requests: r.requests!,
      bytes: r.bytes!,
      seconds: r.us! / 1e6,
      errors: r.connect! + r.read! + r.write! + r.timeout!,
      non2xx: r.status!,
      p50ms: r.p50! / 1000,
      p99ms: r.p99! / 1000,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    dirs.delete(work);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Results

type Kind = 'segment' | 'playlist' | 'master';

interface Row {
  name: string;
  kind: Kind;
  /** The nginx row this one is compared with. */
  reference?: Row;
  load?: Load;
  /** Why there is no measurement. */
  missing?: string;
  connections: number;
  /** Every request made for the row: the checks, the warm-up and the measured run. */
  made?: number;
  /** A reference measured at the start and again at the end: each run's requests per second. */
  runs?: number[];
  /**
   * Edge rows: segment requests that reached Reel and access checks (/play-auth) that did, from Reel's log;
   * segment requests the edge did not answer from its cache, from nginx's access log, as a check.
   */
  origin?: { segments: number; checks: number; notHit?: number };
}

const rows: Row[] = [];

const rate = (l: Load) => l.requests / l.seconds;
const failed = (l: Load) => l.errors > 0 || l.non2xx > 0;

/** Checks each path answers 200 (with the expected length when given), then warms up and measures. */
async function measure(
  name: string,
  kind: Kind,
  base: string,
  paths: string[],
  opts: { reference?: Row | undefined; connections?: number; expectBytes?: Map<string, number> } = {},
): Promise<Row> {
  const connections = opts.connections ?? CONNECTIONS;
  for (const p of new Set(paths)) {
    const res = await fetch(base + p);
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200)
      throw new Error(`${name}: ${p} answered ${res.status}: ${body.toString().slice(0, 200)}`);
    const want = opts.expectBytes?.get(p);
    if (want !== undefined && body.length !== want)
      throw new Error(`${name}: ${p} has ${body.length} bytes, the file on disk ${want}`);
  }
  const warm = wrk(base, paths, 1, connections); // warm-up, not counted
  const load = wrk(base, paths, SECONDS, connections);
  const made = new Set(paths).size + warm.requests + load.requests;
  const row: Row = { name, kind, reference: opts.reference, load, connections, made };
  rows.push(row);
  console.log(`  ${line(row)}`);
  return row;
}

/**
 * Measures a reference row again (warm-up included) and merges both runs into it, so that the rows measured
 * in between are compared with the reference's mean over that time.
 */
function remeasure(row: Row, base: string, paths: string[]): void {
  const first = row.load!;
  wrk(base, paths, 1, row.connections);
  const again = wrk(base, paths, SECONDS, row.connections);
  row.runs = [rate(first), rate(again)];
  row.load = {
    requests: first.requests + again.requests,
    bytes: first.bytes + again.bytes,
    seconds: first.seconds + again.seconds,
    errors: first.errors + again.errors,
    non2xx: first.non2xx + again.non2xx,
    p50ms: (first.p50ms + again.p50ms) / 2,
    p99ms: Math.max(first.p99ms, again.p99ms),
  };
  console.log(`  ${row.name} (-c${row.connections}), again: ${num(rate(again))} req/s`);
}

const num = (n: number) => Math.round(n).toLocaleString('en-US');
function bytesPerSecond(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB/s`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB/s`;
  return `${(n / 1e3).toFixed(0)} kB/s`;
}

function ratio(row: Row): number | undefined {
  if (!row.load || !row.reference?.load || failed(row.load) || failed(row.reference.load)) return undefined;
  return rate(row.load) / rate(row.reference.load);
}

function line(row: Row): string {
  if (!row.load) return `${row.name}: ${row.missing}`;
  const l = row.load;
  const r = ratio(row);
  const problems = failed(l) ? `  FAILED: ${l.non2xx} non-2xx, ${l.errors} socket errors` : '';
  return `${row.name}: ${num(rate(l))} req/s, ${bytesPerSecond(l.bytes / l.seconds)}${r === undefined ? '' : `, ${(r * 100).toFixed(0)}% of nginx`}${problems}`;
}

function table(): string {
  const head = ['row', 'c', 'req/s', 'bytes/s', 'p50', 'p99', 'vs nginx', 'notes'];
  const body = rows.map((row) => {
    if (!row.load) return [row.name, String(row.connections), '', '', '', '', '', row.missing ?? ''];
    const l = row.load;
    const r = ratio(row);
    return [
      row.name,
      String(row.connections),
      num(rate(l)),
      bytesPerSecond(l.bytes / l.seconds),
      `${l.p50ms.toFixed(1)} ms`,
      `${l.p99ms.toFixed(1)} ms`,
      r === undefined ? '' : `${(r * 100).toFixed(0)}%`,
      [
        failed(l) ? `FAILED: ${l.non2xx} non-2xx, ${l.errors} socket errors` : '',
        row.runs ? `mean of the runs before and after: ${row.runs.map(num).join(', ')}` : '',
        row.origin
          ? `${row.origin.segments} of ${row.made} reached Reel, ${row.origin.checks} checks; ${row.origin.notHit ?? '?'} not from the edge's cache`
          : '',
      ]
        .filter(Boolean)
        .join('; '),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(fmt)].join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Media

/**
 * The source: 1080p30 `testsrc` (not testsrc2, whose noise-like detail makes every 1080p segment several MB at
 * the rung's bit-rate ceiling) with a 440 Hz tone, x264 ultrafast; made once into test/fixtures/out.
 */
async function makeSource(): Promise<string> {
  const file = path.join(FIXTURES_DIR, `bench-serve-testsrc-1080p30-${CLIP_SECONDS}s.mp4`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(FIXTURES_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  try {
    execFileSync(FFMPEG, [
      ...['-hide_banner', '-nostdin', '-v', 'error', '-y'],
      ...['-f', 'lavfi', '-i', `testsrc=size=1920x1080:rate=30:duration=${CLIP_SECONDS}`],
      ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${CLIP_SECONDS}`],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', '-b:a', '96k', '-ac', '2', '-t', String(CLIP_SECONDS), tmp],
    ]);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return file;
}

interface Prepared {
  dataDir: string;
  databaseUrl: string | undefined;
  publicId: string;
  signedId: string;
  /** Paths (no host) of the public video, as a player finds them. */
  publicMaster: string;
  publicMedia: string;
  publicSegments: string[];
  /** The signed video: one master path per viewer (start token), its media playlist and segments (session). */
  signedMasters: string[];
  signedMedia: string[];
  signedSegments: string[];
  /** Public file path (as in the URL) → where the store keeps it, and its size. */
  files: Map<string, { file: string; bytes: number }>;
  /** `{videoId}/{file}` → size, for both videos (two encodes of one clip may differ by a few bytes). */
  sizes: Map<string, number>;
  /** The public master and media playlist, exactly as Reel served them. */
  masterText: string;
  mediaText: string;
}

const uris = (text: string) => text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));

/** master URL → [first (highest) variant's media playlist URL, its text, its segment URLs]. */
async function walk(
  masterUrl: string,
): Promise<{ master: string; media: string; mediaText: string; segments: string[] }> {
  const res = await fetch(masterUrl);
  const master = await res.text();
  if (res.status !== 200) throw new Error(`${masterUrl}: ${res.status} ${master.slice(0, 200)}`);
  const variant = uris(master)[0];
  if (!variant) throw new Error(`no variant in the master:\n${master}`);
  const media = new URL(variant, masterUrl).href;
  const mres = await fetch(media);
  const mediaText = await mres.text();
  if (mres.status !== 200) throw new Error(`${media}: ${mres.status} ${mediaText.slice(0, 200)}`);
  const segments = uris(mediaText).map((u) => new URL(u, media).href);
  if (segments.length === 0) throw new Error(`no segments in ${media}`);
  return { master, media, mediaText, segments };
}

const pathOf = (url: string) => {
  const u = new URL(url);
  return u.pathname + u.search;
};

/** Processes the clip twice (public, signed) in an in-process Reel on this database; closes it. */
async function prepare(clip: string, databaseUrl: string | undefined): Promise<Prepared> {
  const dataDir = tempDir('data');
  const t = await startTestReel(
    {
      ladder: '1080',
      'x264-preset': 'ultrafast',
      crf: CRF,
      'lease-seconds': '30',
      'log-level': 'info',
      ...(databaseUrl ? { 'database-url': databaseUrl } : {}),
    },
    dataDir,
  );
  const close = onCleanup(() => t.close());
  try {
    const bytes = fs.readFileSync(clip);
    const publicId = await tusUpload(t, bytes, { filename: 'public.mp4', playback_policy: 'public' });
    const signedId = await tusUpload(t, bytes, { filename: 'signed.mp4' });
    await waitUntilReady(t, publicId, 15 * 60_000);
    await waitUntilReady(t, signedId, 15 * 60_000);

    const pub = await walk(`${t.url}/play/${publicId}/public/master.m3u8`);
    const files = new Map<string, { file: string; bytes: number }>();
    const sizes = new Map<string, number>();
    const outputs = await t.reel.db.query<{ video_id: string; path: string; key: string; bytes: string }>(
      'SELECT video_id, path, key, bytes FROM outputs WHERE video_id = $1 OR video_id = $2',
      [publicId, signedId],
    );
    for (const o of outputs) {
      sizes.set(`${o.video_id}/${o.path}`, Number(o.bytes));
      if (o.video_id !== publicId) continue;
      const file = t.reel.store.localPath?.(o.key);
      if (!file)
        throw new Error('the store has no local paths (an S3 store?): the benchmark needs the fs store');
      files.set(`/play/${publicId}/public/${o.path}`, { file, bytes: Number(o.bytes) });
    }
    const publicSegments = pub.segments.map(pathOf);
    for (const s of publicSegments) if (!files.has(s)) throw new Error(`no outputs row for ${s}`);

    // Several viewers, a second apart (a token is a signature of the video and its expiry in seconds: two
    // tokens signed in the same second are the same token).
    const signedMasters: string[] = [];
    const signedMedia: string[] = [];
    const signedSegments: string[] = [];
    for (let v = 0; v < VIEWERS; v++) {
      if (v > 0) await sleep(1050);
      const { url } = (await (await t.api(`/v1/videos/${signedId}/playback`)).json()) as { url: string };
      const walked = await walk(url);
      signedMasters.push(pathOf(url));
      signedMedia.push(pathOf(walked.media));
      signedSegments.push(...walked.segments.map(pathOf));
    }
    if (new Set(signedMedia).size !== VIEWERS)
      throw new Error('the viewers did not get distinct session tokens');
    return {
      dataDir,
      databaseUrl,
      publicId,
      signedId,
      publicMaster: `/play/${publicId}/public/master.m3u8`,
      publicMedia: pathOf(pub.media),
      publicSegments,
      signedMasters,
      signedMedia,
      signedSegments,
      files,
      sizes,
      masterText: pub.master,
      mediaText: pub.mediaText,
    };
  } finally {
    await close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// nginx, the reference

/** Debian's nginx, one worker, serving `root` on a free port; Debian's defaults for static files. */
async function startNginx(root: string): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = tempDir('nginx');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const conf = `
${asRoot ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }
  default_type application/octet-stream;
  client_body_temp_path ${dir}/client;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const p = startProcess(
    NGINX,
    ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')],
    path.join(dir, 'out.log'),
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}/`);
      break;
    } catch {
      if (p.child.exitCode !== null || i > 100)
        throw new Error(
          `nginx did not start: ${p.stderr()}${fs.existsSync(`${dir}/error.log`) ? fs.readFileSync(`${dir}/error.log`, 'utf8') : ''}`,
        );
      await sleep(50);
    }
  }
  const stop = onCleanup(() => p.stop());
  return { url, stop };
}

/**
 * A tree mirroring the public video's URL paths: the store's own files (hard links, the same inodes; symbolic
 * links where the store is on another filesystem), the playlists as files.
 */
function mirror(p: Prepared): string {
  const root = tempDir('www');
  for (const [urlPath, { file }] of p.files) {
    const dest = path.join(root, urlPath);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    try {
      fs.linkSync(file, dest);
    } catch {
      fs.symlinkSync(file, dest);
    }
  }
  for (const [urlPath, text] of [
    [p.publicMaster, p.masterText],
    [p.publicMedia, p.mediaText],
  ] as const) {
    const dest = path.join(root, urlPath);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.rmSync(dest, { force: true });
    fs.writeFileSync(dest, text);
  }
  return root;
}

// ---------------------------------------------------------------------------------------------------------
// Reel, the play role

interface Served {
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

async function serveReel(p: Prepared, processes: number): Promise<Served> {
  const logFile = path.join(p.dataDir, `serve-${Date.now()}.log`);
  const args = [
    path.join(ROOT, 'bin/reel.js'),
    'serve',
    '--roles',
    'play',
    '--data-dir',
    p.dataDir,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--log-level',
    'info',
    ...(p.databaseUrl ? ['--database-url', p.databaseUrl] : []),
    '--processes',
    String(processes),
  ];
  const proc = startProcess(process.execPath, args, logFile);
  const started = Date.now();
  let url: string | undefined;
  while (!url) {
    url = proc.stderr().match(/URL:\s+(http:\/\/\S+)/)?.[1];
    if (url) break;
    if (proc.child.exitCode !== null || Date.now() - started > 60_000) {
      await proc.stop();
      throw new Error(`reel serve did not start:\n${proc.stderr()}`);
    }
    await sleep(50);
  }
  // With several processes, wait until the port answers (every child may take a moment longer).
  await sleep(processes > 1 ? 1500 : 200);
  const stop = onCleanup(() => proc.stop());
  return { url, logFile, stop };
}

/** Segment path → its size in bytes (from the outputs rows), for both videos. */
function expectedSizes(p: Prepared): Map<string, number> {
  const expect = new Map<string, number>();
  for (const s of [...p.publicSegments, ...p.signedSegments]) {
    // /play/{id}/{access}/{file…}
    const [, , id, , ...file] = s.split('/');
    const bytes = p.sizes.get(`${id}/${file.join('/')}`);
    if (bytes === undefined) throw new Error(`no outputs row for ${s}`);
    expect.set(s, bytes);
  }
  return expect;
}

/** The rows of one Reel configuration: public and signed, segment, media playlist and master. */
async function reelRows(label: string, base: string, p: Prepared, ref: Record<Kind, Row>): Promise<void> {
  const expect = expectedSizes(p);
  // A fresh process: every path once through it for a few seconds (JIT, caches, pools), not counted.
  wrk(
    base,
    [p.publicMedia, ...p.signedMedia, ...p.publicSegments, ...p.signedSegments, p.publicMaster],
    3,
    CONNECTIONS,
  );

  await measure(`${label}, public, segment`, 'segment', base, p.publicSegments, {
    reference: ref.segment,
    expectBytes: expect,
  });
  await measure(`${label}, public, media playlist`, 'playlist', base, [p.publicMedia], {
    reference: ref.playlist,
  });
  await measure(`${label}, public, master`, 'master', base, [p.publicMaster], { reference: ref.master });
  await measure(`${label}, signed, segment`, 'segment', base, p.signedSegments, {
    reference: ref.segment,
    expectBytes: expect,
  });
  await measure(`${label}, signed, media playlist`, 'playlist', base, p.signedMedia, {
    reference: ref.playlist,
  });
  await measure(`${label}, signed, master (start token)`, 'master', base, p.signedMasters, {
    reference: ref.master,
  });
}

// ---------------------------------------------------------------------------------------------------------
// The edge (deploy/nginx/reel-edge.conf, started by test/helpers/nginx.ts once that lands)

interface Edge {
  url: string;
  /** nginx's access log, one line per request: `$upstream_cache_status $status $request_uri`. */
  accessLog?: string;
  stop(): Promise<void>;
}

/** nginx with the shipped edge configuration in front of `origin`, one worker like the reference. */
async function startEdgeTier(origin: string): Promise<Edge> {
  const edge = await startEdge({ upstreams: [new URL(origin).host], workers: 1 });
  return { url: edge.url, accessLog: edge.accessLog, stop: onCleanup(() => edge.stop()) };
}

/** The edge's access log lines so far, when it keeps one. */
function edgeLogLines(edge: Edge): string[] | undefined {
  if (!edge.accessLog || !fs.existsSync(edge.accessLog)) return undefined;
  return fs.readFileSync(edge.accessLog, 'utf8').split('\n').filter(Boolean);
}

/** Requests Reel logged (one "request completed" line each) for segments and for access checks. */
function originRequests(logFile: string): { segments: number; checks: number } {
  let segments = 0;
  let checks = 0;
  for (const l of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!l.includes('request completed')) continue;
    try {
      const url = (JSON.parse(l) as { req?: { url?: string } }).req?.url ?? '';
      if (url.startsWith('/play/') && url.endsWith('.m4s')) segments++;
      else if (url.startsWith('/play-auth/')) checks++;
    } catch {
      // a line cut short
    }
  }
  return { segments, checks };
}

/**
 * The edge in front of `served`: plain nginx at the same concurrency, then the signed video's segments (every
 * viewer's tokens) and the public one's through the edge. Segment requests that reached Reel: the larger of
 * what Reel logged (a successful playback answer is logged at debug only, so usually none) and what the edge
 * did not answer from its cache (nginx's access log: anything but HIT, UPDATING, STALE) — a hit ratio that errs low.
 */
async function edgeTier(n: number, served: Served, p: Prepared, nginxUrl: string, nginxPaths: string[]) {
  const edge = await startEdgeTier(served.url);
  const plain = await measure('nginx, segment', 'segment', nginxUrl, nginxPaths, {
    connections: EDGE_CONNECTIONS,
  });
  for (const [access, paths] of [
    ['signed', p.signedSegments],
    ['public', p.publicSegments],
  ] as const) {
    const before = originRequests(served.logFile);
    const logged = edgeLogLines(edge);
    const row = await measure(`edge (nginx + ${n} Reel), ${access}, segment`, 'segment', edge.url, paths, {
      reference: plain,
      connections: EDGE_CONNECTIONS,
      expectBytes: expectedSizes(p),
    });
    await sleep(500); // the last log lines
    const after = originRequests(served.logFile);
    const segmentLines = edgeLogLines(edge)
      ?.slice(logged?.length ?? 0)
      .filter((l) => /\.m4s(\?|$)/.test(l));
    // Answered from the cache: HIT, and UPDATING/STALE (an old copy while one request refreshes it).
    const notHit = segmentLines?.filter((l) => !/^(HIT|UPDATING|STALE) /.test(l)).length;
    // "$upstream_cache_status $status": how the edge answered, for a hit ratio that falls short.
    const how = new Map<string, number>();
    for (const l of segmentLines ?? []) {
      const k = l.split(' ').slice(0, 2).join(' ');
      how.set(k, (how.get(k) ?? 0) + 1);
    }
    const reel = after.segments - before.segments;
    row.origin = { segments: Math.max(reel, notHit ?? 0), checks: after.checks - before.checks, notHit };
    console.log(
      `    ${row.origin.segments} of ${row.made} segment requests reached Reel (Reel's log: ${reel}, the edge's log: ${notHit ?? '?'} not from its cache; ${row.origin.checks} access checks logged)`,
    );
    console.log(`    the edge's answers: ${[...how].map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  }
  await edge.stop();
  remeasure(plain, nginxUrl, nginxPaths);
}

// ---------------------------------------------------------------------------------------------------------

function machine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${os.availableParallelism()} cores (${cpus[0]?.model.trim() ?? '?'}), load ${load}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
}

async function main(): Promise<void> {
  ensureTool('wrk', 'wrk');
  ensureTool('nginx', 'nginx');
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run "npm run build"');
  const work = tempDir('lua');
  luaFile = path.join(work, 'rotate.lua');
  fs.writeFileSync(luaFile, LUA);

  console.log(`machine: ${machine()}`);
  console.log(
    `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s per row (edge: -c${EDGE_CONNECTIONS}), 1 s warm-up each`,
  );
  const clip = await makeSource();

  const processingStarted = performance.now();
  console.log('processing (embedded)…');
  const embedded = await prepare(clip, undefined);
  let pg: PrivatePostgres | undefined;
  let onPostgres: Prepared | undefined;
  if (!SKIP_POSTGRES) {
    console.log('processing (Postgres)…');
    pg = await startPrivatePostgres();
    const db = pg;
    onCleanup(() => db.destroy());
    onPostgres = await prepare(clip, await pg.createDatabase());
  }
  const processing = (performance.now() - processingStarted) / 1000;
  const sizes = embedded.publicSegments.map((s) => embedded.files.get(s)!.bytes);
  console.log(
    `media: ${embedded.publicSegments.length} segments of 1080p (${num(Math.min(...sizes) / 1000)}–${num(Math.max(...sizes) / 1000)} kB, mean ${num(sizes.reduce((a, b) => a + b, 0) / sizes.length / 1000)} kB), ${VIEWERS} viewers' tokens; processed in ${processing.toFixed(0)} s`,
  );

  // 1. nginx, the reference: measured again around each Reel configuration (right before its rows and right
  // after them; the mean counts), so that a change in the machine's load weighs on both sides alike.
  const www = mirror(embedded);
  const nginx = await startNginx(www);
  const expect = new Map([...embedded.files].map(([k, v]) => [k, v.bytes]));
  const bracketed = async (run: (ref: Record<Kind, Row>) => Promise<void>) => {
    const ref: Record<Kind, Row> = {
      segment: await measure('nginx, segment', 'segment', nginx.url, embedded.publicSegments, {
        expectBytes: expect,
      }),
      playlist: await measure('nginx, media playlist', 'playlist', nginx.url, [embedded.publicMedia]),
      master: await measure('nginx, master', 'master', nginx.url, [embedded.publicMaster]),
    };
    await run(ref);
    remeasure(ref.segment, nginx.url, embedded.publicSegments);
    remeasure(ref.playlist, nginx.url, [embedded.publicMedia]);
    remeasure(ref.master, nginx.url, [embedded.publicMaster]);
  };

  // 2. Reel embedded, one process.
  await bracketed(async (ref) => {
    const served = await serveReel(embedded, 1);
    await reelRows('Reel embedded, 1 process', served.url, embedded, ref);
    await served.stop();
  });

  // 3. Reel on Postgres, one process and N; 4. the edge in front of the last of them.
  if (onPostgres) {
    const counts = PROCESSES > 1 ? [1, PROCESSES] : [1];
    for (const n of counts) {
      const served = await serveReel(onPostgres, n);
      await bracketed((ref) =>
        reelRows(`Reel Postgres, ${n} process${n > 1 ? 'es' : ''}`, served.url, onPostgres, ref),
      );
      if (n === counts.at(-1)) await edgeTier(n, served, onPostgres, nginx.url, embedded.publicSegments);
      await served.stop();
    }
  }
  await nginx.stop();

  console.log(`\nmachine at the end: ${machine()}\n`);
  console.log(table());
  console.log('\naims:');
  const pct = (x: number | undefined, digits = 0) =>
    x === undefined ? 'n/a' : `${(x * 100).toFixed(digits)}%`;
  for (const kind of ['segment', 'playlist'] as const) {
    const reel = rows.filter((r) => r.kind === kind && r.name.startsWith('Reel'));
    const measured = reel.map(ratio).filter((r): r is number => r !== undefined);
    const broken = reel.filter((r) => r.load && failed(r.load)).length;
    const absent = reel.filter((r) => !r.load).length;
    const worst = measured.length ? Math.min(...measured) : undefined;
    const notes = [`worst of ${measured.length} rows`];
    if (broken) notes.push(`${broken} rows FAILED`);
    if (absent) notes.push(`${absent} not available`);
    console.log(
      `  play role ≥ 50% of nginx for ${kind === 'segment' ? 'segments' : 'media playlists'}, tokens included (${notes.join(', ')}): ${pct(worst)} ${verdict(worst === undefined ? undefined : worst >= 0.5 && broken === 0)}`,
    );
  }
  const edgeRows = rows.filter((r) => r.name.startsWith('edge') && r.load);
  const edgeRatios = edgeRows.map(ratio).filter((r): r is number => r !== undefined);
  const er = edgeRatios.length ? Math.min(...edgeRatios) : undefined;
  const made = edgeRows.reduce((n, r) => n + (r.made ?? 0), 0);
  const reached = edgeRows.reduce((n, r) => n + (r.origin?.segments ?? 0), 0);
  // Each edge row starts with a cold cache for its video: at least its first requests must reach Reel. None
  // logged means Reel no longer logs them (not a perfect cache): the ratio is then unknown.
  const counted = edgeRows.every((r) => (r.origin?.segments ?? 0) > 0);
  if (edgeRows.length && !counted)
    console.log("  (Reel's log shows no segment requests from the edge: not counted)");
  const hitRatio = made > 0 && counted ? 1 - reached / made : undefined;
  console.log(
    `  edge ≥ 90% of plain nginx at -c${EDGE_CONNECTIONS} (worst row): ${pct(er)} ${verdict(er === undefined ? undefined : er >= 0.9)}`,
  );
  console.log(
    `  origin hit ratio for segments ≥ 99% (${reached} of ${made} reached Reel): ${pct(hitRatio, 2)} ${verdict(hitRatio === undefined ? undefined : hitRatio >= 0.99)}`,
  );
}

const verdict = (ok: boolean | undefined) => (ok === undefined ? '(not measured)' : ok ? 'met' : 'NOT met');

main()
  .catch((err: unknown) => {
    console.error(err);
    if (rows.length) console.error(`\nrows so far:\n${table()}`);
    process.exitCode = 1;
  })
  .finally(() => cleanUp());

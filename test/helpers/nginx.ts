/**
 * Debian's nginx with the shipped edge configuration (deploy/nginx/reel-edge.conf), started on a free port
 * in a temp dir without root: `renderEdgeConfig` rewrites only the listen port, the upstream servers and
 * the caches' directory; a minimal nginx.conf (daemon off, pid, logs and temp paths in the temp dir) includes
 * it with what Debian's own nginx.conf sets in http { }. `scripts/setup.sh --test` installs nginx where it is missing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NGINX = process.env.REEL_NGINX ?? '/usr/sbin/nginx';
const MIME_TYPES = '/etc/nginx/mime.types';
export const EDGE_CONF = path.resolve(import.meta.dirname, '../../deploy/nginx/reel-edge.conf');

export interface EdgeConfigOptions {
  /** Where nginx listens (host:port or port). */
  listen: string | number;
  /** The Reel processes, host:port each. */
  upstreams: string[];
  /** An existing directory; replaces /var/lib/nginx/ in the caches' paths (reel-media, reel-auth). */
  cacheDir: string;
}

/**
 * The shipped file with its three deployment-specific parts replaced: the `listen 8080;` line, the
 * upstream's `server 127.0.0.1:3000 …;` line (one per upstream, same parameters) and the cache directory.
 * Throws when the file no longer has them, so a change to it cannot silently break a test or a benchmark.
 */
export function renderEdgeConfig(
  opts: EdgeConfigOptions,
  source = fs.readFileSync(EDGE_CONF, 'utf8'),
): string {
  const replace = (text: string, pattern: RegExp, by: (m: RegExpMatchArray) => string): string => {
    const matches = [...text.matchAll(pattern)];
    if (matches.length !== 1) throw new Error(`${EDGE_CONF}: expected one match of ${pattern}`);
    return text.replace(pattern, (...args) => by(args as unknown as RegExpMatchArray));
  };
  let conf = replace(source, /^( *)listen 8080;$/gm, (m) => `${m[1]}listen ${opts.listen};`);
  conf = replace(conf, /^( *)server 127\.0\.0\.1:3000( [^;\n]*)?;$/gm, (m) =>
    opts.upstreams.map((u) => `${m[1]}server ${u}${m[2] ?? ''};`).join('\n'),
  );
  if (!conf.includes(' /var/lib/nginx/reel-')) throw new Error(`${EDGE_CONF}: no /var/lib/nginx/reel- cache`);
  return conf.replaceAll(' /var/lib/nginx/reel-', ` ${opts.cacheDir.replace(/\/$/, '')}/reel-`);
}

export interface NginxOptions {
  upstreams: string[];
  /** nginx worker processes (default 1). */
  workers?: number;
  /** false: no access log (a benchmark); default: one line per request in accessLog. */
  accessLog?: boolean;
  /** Extra lines inside http { } of the wrapper (e.g. another server for comparison). */
  httpExtra?: string;
}

export interface TestNginx {
  url: string;
  port: number;
  dir: string;
  /** One line per request: `$upstream_cache_status $status $request_uri`. */
  accessLog: string;
  errorLog: string;
  stop(): Promise<void>;
}

export function haveNginx(): boolean {
  try {
    fs.accessSync(NGINX, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts nginx with the shipped edge configuration in front of `upstreams`; stop() ends it. */
export async function startEdge(opts: NginxOptions): Promise<TestNginx> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-nginx-'));
  // Run as root, nginx's workers are "nobody": they must reach the cache and temp dirs under it.
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const accessLog = path.join(dir, 'access.log');
  const errorLog = path.join(dir, 'error.log');
  fs.writeFileSync(
    path.join(dir, 'reel-edge.conf'),
    renderEdgeConfig({ listen: `127.0.0.1:${port}`, upstreams: opts.upstreams, cacheDir: dir }),
  );
  const temp = (name: string) => path.join(dir, 'temp', name);
  for (const name of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    fs.mkdirSync(temp(name), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off;
worker_processes ${opts.workers ?? 1};
pid ${path.join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 4096; }
http {
  # As Debian's /etc/nginx/nginx.conf has it.
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  ${fs.existsSync(MIME_TYPES) ? `include ${MIME_TYPES};` : ''}
  default_type application/octet-stream;
  gzip on;
  log_format edge '$upstream_cache_status $status $request_uri';
  access_log ${opts.accessLog === false ? 'off' : `${accessLog} edge buffer=64k flush=200ms`};
  client_body_temp_path ${temp('client')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  ${opts.httpExtra ?? ''}
  include ${path.join(dir, 'reel-edge.conf')};
}
`,
  );
  // -e: the error log before the configuration is read (the default one may not be writable).
  const args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog];
  const proc: ChildProcess = spawn(NGINX, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) {
      const log = fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '';
      throw new Error(`nginx exited (${proc.exitCode}): ${stderr}${log}`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > until) {
      proc.kill('SIGKILL');
      throw new Error(`nginx did not listen on ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    dir,
    accessLog,
    errorLog,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGQUIT');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `reel upload FILE [--title T] [--public]`: a tus upload with a progress bar. An interrupted upload of the
 * same file resumes where it stopped (the upload URL is remembered by the file's fingerprint).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tus from 'tus-js-client';

const { Upload } = tus;
// Node's build of tus-js-client exports a file-backed URL storage that its type definitions omit.
const FileUrlStorage = (tus as unknown as { FileUrlStorage: new (file: string) => tus.UrlStorage })
  .FileUrlStorage;

export interface UploadOptions {
  file: string;
  server: string;
  apiKey: string;
  title?: string | undefined;
  public?: boolean;
  /** Where resumable upload URLs are remembered. */
  stateFile?: string;
  chunkSize?: number;
  /** Progress output (stderr by default). */
  out?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

export function progressBar(sent: number, total: number, startedAt: number, width = 30): string {
  const fraction = total > 0 ? sent / total : 1;
  const filled = Math.round(fraction * width);
  const seconds = Math.max(0.001, (Date.now() - startedAt) / 1000);
  const rate = sent / seconds;
  const left = rate > 0 ? (total - sent) / rate : 0;
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${mb(sent)}/${mb(total)} MiB  ${mb(rate)} MiB/s  ${Math.ceil(left)}s left`;
}

/** Uploads the file and resolves with the video id. */
export async function uploadFile(opts: UploadOptions): Promise<string> {
  const stat = fs.statSync(opts.file);
  if (!stat.isFile()) throw new Error(`${opts.file} is not a file`);
  const out = opts.out ?? process.stderr;
  const stateFile = opts.stateFile ?? path.join(os.homedir(), '.config', 'reel', 'uploads.json');
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  const filename = path.basename(opts.file);
  const startedAt = Date.now();
  let resumedFrom = 0;

  return new Promise<string>((resolve, reject) => {
    const upload = new Upload(fs.createReadStream(opts.file), {
      endpoint: `${opts.server.replace(/\/+$/, '')}/v1/uploads`,
      headers: { Authorization: `Bearer ${opts.apiKey}` },
      metadata: {
        filename,
        title: opts.title ?? filename.replace(/\.[^.]*$/, ''),
        playback_policy: opts.public ? 'public' : 'signed',
      },
      chunkSize: opts.chunkSize ?? 50 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      urlStorage: new FileUrlStorage(stateFile),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        out.write(`\r${progressBar(sent, total, startedAt)}`);
      },
      onError(err) {
        out.write('\n');
        reject(new Error(`upload failed: ${describeTusError(err)}`));
      },
      onSuccess() {
        out.write(`\r${progressBar(stat.size, stat.size, startedAt)}\n`);
        if (resumedFrom > 0) out.write(`resumed from byte ${resumedFrom}\n`);
        const id = upload.url?.split('/').pop();
        if (!id) reject(new Error('the server did not return an upload URL'));
        else resolve(id);
      },
      onUploadUrlAvailable() {
        // nothing: the URL is stored for resuming by tus-js-client itself
      },
    });
    opts.signal?.addEventListener('abort', () => {
      void upload.abort(false).then(() => reject(opts.signal?.reason ?? new Error('aborted')));
    });
    upload
      .findPreviousUploads()
      .then((previous) => {
        const last = previous.sort((a, b) => b.creationTime.localeCompare(a.creationTime))[0];
        if (last) {
          upload.resumeFromPreviousUpload(last);
          resumedFrom = -1;
        }
        upload.start();
      })
      .catch(reject);
    // tus-js-client reports the offset it resumed from through onProgress; remember the first one.
    const first = (sent: number) => {
      if (resumedFrom === -1) resumedFrom = sent;
    };
    const onProgress = upload.options.onProgress;
    upload.options.onProgress = (sent, total) => {
      first(sent);
      onProgress?.(sent, total);
    };
  });
}

function describeTusError(err: Error): string {
  const res = (err as { originalResponse?: { getBody(): string; getStatus(): number } }).originalResponse;
  if (res) {
    try {
      const body = JSON.parse(res.getBody()) as { message?: string };
      if (body.message) return `${body.message} (HTTP ${res.getStatus()})`;
    } catch {
      // not JSON
    }
    return `HTTP ${res.getStatus()}: ${res.getBody().trim()}`;
  }
  return err.message;
}

export interface DirectUploadOptions extends UploadOptions {
  /** Parts in flight at once. */
  parallel?: number;
}

interface DirectState {
  [fingerprint: string]: string;
}

/**
 * `reel upload --direct FILE`: the bytes go straight to storage through presigned part URLs, several parts
 * in flight; an interrupted upload of the same file resumes with the parts storage already has.
 */
export async function uploadDirect(opts: DirectUploadOptions): Promise<string> {
  const stat = fs.statSync(opts.file);
  const out = opts.out ?? process.stderr;
  const server = opts.server.replace(/\/+$/, '');
  const stateFile = opts.stateFile
    ? `${opts.stateFile}.direct`
    : path.join(os.homedir(), '.config', 'reel', 'direct-uploads.json');
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  const fingerprint = `${path.resolve(opts.file)}:${stat.size}:${stat.mtimeMs}:${server}`;
  const readState = (): DirectState => {
    try {
      return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as DirectState;
    } catch {
      return {};
    }
  };
  const writeState = (s: DirectState) => fs.writeFileSync(stateFile, JSON.stringify(s, null, 2));
  const api = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server}/v1/uploads/multipart${p}`, {
      method,
      headers: {
        Authorization: `Bearer ${opts.apiKey}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: opts.signal,
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {}
      throw new Error(`upload failed: ${message} (HTTP ${res.status})`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  };

  let videoId = readState()[fingerprint];
  let partSize = 0;
  let partCount = 0;
  const done = new Map<number, string>();
  if (videoId) {
    try {
      const r = await api<{
        partSize: number;
        partCount: number;
        parts: { partNumber: number; etag: string }[];
      }>('GET', `/${videoId}/parts`);
      partSize = r.partSize;
      partCount = r.partCount;
      for (const p of r.parts) done.set(p.partNumber, p.etag);
    } catch {
      videoId = undefined; // gone or finished: start again
    }
  }
  if (!videoId) {
    const filename = path.basename(opts.file);
    const r = await api<{ videoId: string; partSize: number; partCount: number }>('POST', '', {
      size: stat.size,
      filename,
      title: opts.title ?? filename.replace(/\.[^.]*$/, ''),
      playbackPolicy: opts.public ? 'public' : 'signed',
    });
    videoId = r.videoId;
    partSize = r.partSize;
    partCount = r.partCount;
    writeState({ ...readState(), [fingerprint]: videoId });
  }
  const id = videoId;
  const startedAt = Date.now();
  const resumedBytes = [...done.keys()].reduce(
    (n, k) => n + Math.min(partSize, stat.size - (k - 1) * partSize),
    0,
  );
  let sent = resumedBytes;
  out.write(`\r${progressBar(sent, stat.size, startedAt)}`);

  const todo = [...Array(partCount).keys()].map((i) => i + 1).filter((n) => !done.has(n));
  const urls = new Map<number, string>();
  const fd = await fs.promises.open(opts.file, 'r');
  try {
    for (let i = 0; i < todo.length; i += 50) {
      const batch = todo.slice(i, i + 50);
      const r = await api<{ parts: { partNumber: number; url: string }[] }>('POST', `/${id}/parts`, {
        partNumbers: batch,
      });
      for (const p of r.parts) urls.set(p.partNumber, p.url);
    }
    let next = 0;
    const lane = async () => {
      while (next < todo.length) {
        const n = todo[next++]!;
        const start = (n - 1) * partSize;
        const length = Math.min(partSize, stat.size - start);
        const buf = Buffer.alloc(length);
        await fd.read(buf, 0, length, start);
        let etag: string | null = null;
        for (let attempt = 1; !etag; attempt++) {
          try {
            const res = await fetch(urls.get(n)!, { method: 'PUT', body: buf, signal: opts.signal });
            if (!res.ok) throw new Error(`storage answered ${res.status} for part ${n}`);
            etag = res.headers.get('etag');
            if (!etag) throw new Error(`storage sent no ETag for part ${n} (does its CORS expose ETag?)`);
          } catch (err) {
            if (attempt >= 4 || opts.signal?.aborted) throw err;
            await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
          }
        }
        await api('PUT', `/${id}/parts/${n}`, { etag, size: length });
        done.set(n, etag);
        sent += length;
        out.write(`\r${progressBar(sent, stat.size, startedAt)}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 4, todo.length) }, lane));
  } finally {
    await fd.close();
  }
  await api('POST', `/${id}/complete`, {
    parts: [...done.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([partNumber, etag]) => ({ partNumber, etag })),
  });
  out.write('\n');
  if (resumedBytes > 0) out.write(`resumed from byte ${resumedBytes}\n`);
  const state = readState();
  delete state[fingerprint];
  writeState(state);
  return id;
}

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

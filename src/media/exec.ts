/** Runs a short-lived media tool (ffprobe, a one-shot ffmpeg) and collects what it prints. */
import { spawn } from 'node:child_process';
import { errors } from '../core/errors.js';

export interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Resolves with the exit status (never rejects on a nonzero exit); rejects with ffmpegMissing on ENOENT. */
export function capture(bin: string, args: readonly string[], signal?: AbortSignal): Promise<Captured> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    let failed = false;
    child.on('error', (e: NodeJS.ErrnoException) => {
      failed = true;
      signal?.removeEventListener('abort', onAbort);
      reject(e.code === 'ENOENT' ? errors.ffmpegMissing(bin) : e);
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (failed) return;
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      resolve({
        code,
        signal: sig,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** The reason an AbortSignal carries, or a DOMException AbortError when it carries none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * Makes an ffmpeg/ffprobe message fit for a person: drops the "@ 0x55…" addresses and replaces local paths
 * (which mean nothing to an uploader and should not leak) with short names.
 */
export function cleanToolMessage(line: string, paths: Record<string, string> = {}): string {
  let s = line.replace(/ @ 0x[0-9a-f]+\]/gi, ']').trim();
  for (const [p, name] of Object.entries(paths)) {
    if (p) s = s.split(p).join(name);
  }
  return s;
}

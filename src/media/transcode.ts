/** Runs the ffmpeg process: progress from `-progress pipe:1`, prompt kill on abort, a useful error. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { errors } from '../core/errors.js';
import { abortReason, cleanToolMessage } from './exec.js';
import { tiedToParent } from './tied.js';

const STDERR_TAIL = 20;

export interface RunTranscodeOptions {
  ffmpegPath: string;
  args: string[];
  /** Source duration, for the progress fraction. */
  durationMs: number;
  /** Aborting kills ffmpeg at once (SIGKILL) and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** 0–1, as often as ffmpeg reports (about twice a second); throttling is the caller's job. */
  onProgress?: (fraction: number) => void;
  /** Every stderr line (ffmpeg runs with -v error, so these are errors), e.g. to spot decode errors. */
  onStderrLine?: (line: string) => void;
  /** Local paths to hide from error messages, mapped to the short names to show instead. */
  redact?: Record<string, string>;
  /**
   * The time budget of this run, ms: past it ffmpeg is killed (SIGKILL) and the run rejects with
   * REEL_TIME_BUDGET_EXCEEDED. No limit when absent.
   */
  timeLimitMs?: number;
}

/**
 * Parses one `-progress` line; returns the output time in microseconds, or undefined.
 * ffmpeg writes `out_time_us`, and `out_time_ms` which, despite its name, is also in microseconds.
 */
export function progressMicros(line: string): number | undefined {
  const m = /^out_time_(us|ms)=(-?\d+)\s*$/.exec(line);
  if (!m) return undefined;
  const n = Number(m[2]);
  return Number.isFinite(n) ? n : undefined;
}

export function progressFraction(micros: number, durationMs: number): number {
  if (!(durationMs > 0)) return 0;
  return Math.min(1, Math.max(0, micros / (durationMs * 1000)));
}

export function runTranscode(opts: RunTranscodeOptions): Promise<void> {
  const { ffmpegPath, args, durationMs, signal, onProgress, onStderrLine } = opts;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const [bin, argv] = tiedToParent(ffmpegPath, args);
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(budget);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let overrun = false;
    const limit = opts.timeLimitMs;
    const budget =
      limit !== undefined && Number.isFinite(limit)
        ? setTimeout(
            () => {
              overrun = true;
              child.kill('SIGKILL');
            },
            Math.max(0, limit),
          )
        : undefined;

    createInterface({ input: child.stdout }).on('line', (line) => {
      const us = progressMicros(line);
      if (us !== undefined && onProgress) onProgress(progressFraction(us, durationMs));
    });
    createInterface({ input: child.stderr }).on('line', (raw) => {
      const line = cleanToolMessage(raw, opts.redact);
      if (!line) return;
      tail.push(line);
      if (tail.length > STDERR_TAIL) tail.shift();
      onStderrLine?.(line);
    });

    child.on('error', (e: NodeJS.ErrnoException) => {
      settle(() => reject(e.code === 'ENOENT' ? errors.ffmpegMissing(ffmpegPath) : e));
    });
    child.on('close', (code, sig) => {
      settle(() => {
        if (signal?.aborted) reject(abortReason(signal));
        else if (overrun) reject(errors.timeBudgetExceeded((limit ?? 0) / 1000, durationMs / 1000));
        else if (code === 0) resolve();
        else {
          const why =
            tail.at(-1) ?? (sig ? `ffmpeg was killed by ${sig}` : `ffmpeg exited with status ${code}`);
          const err = errors.transcodeFailed(why);
          // For the operator's log: the message keeps one line, the cause has the last ones.
          err.cause = { exitCode: code, signal: sig, stderr: [...tail] };
          reject(err);
        }
      });
    });
  });
}

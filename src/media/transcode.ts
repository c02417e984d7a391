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
  /**
   * ffmpeg writes the media to stdout (`pipe:1`): each piece, in order, awaited before the next is read.
   * No progress lines then.
   */
  onStdout?: (chunk: Buffer) => Promise<void>;
  /** The process id of ffmpeg, once started. */
  onSpawn?: (pid: number) => void;
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

/**
 * Runs ffmpeg to the end. Its stdout carries `-progress` lines, or, with `onStdout`, the media itself (read
 * with back-pressure: each piece is awaited before the next; a failing consumer kills ffmpeg). Either way:
 * SIGKILL on abort or past the time budget, the last stderr lines as the error, and ffmpeg's exit awaited
 * before this settles, so that nothing is left running.
 */
export async function runTranscode(opts: RunTranscodeOptions): Promise<void> {
  const { ffmpegPath, args, durationMs, signal, onProgress, onStderrLine } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const [bin, argv] = tiedToParent(ffmpegPath, args);
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  const kill = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', kill, { once: true });
  let overrun = false;
  const limit = opts.timeLimitMs;
  const budget =
    limit !== undefined && Number.isFinite(limit)
      ? setTimeout(
          () => {
            overrun = true;
            kill();
          },
          Math.max(0, limit),
        )
      : undefined;
  const tail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (raw) => {
    const line = cleanToolMessage(raw, opts.redact);
    if (!line) return;
    tail.push(line);
    if (tail.length > STDERR_TAIL) tail.shift();
    onStderrLine?.(line);
  });
  const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' ? errors.ffmpegMissing(ffmpegPath) : e);
    });
    child.on('close', (code, sig) => resolve({ code, sig }));
  });
  exited.catch(() => undefined); // awaited below; this only keeps an early spawn error from counting as unhandled
  const onStdout = opts.onStdout;
  if (!onStdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const us = progressMicros(line);
      if (us !== undefined && onProgress) onProgress(progressFraction(us, durationMs));
    });
  }
  const consume = onStdout
    ? (async () => {
        for await (const chunk of child.stdout) await onStdout(chunk as Buffer);
      })()
    : Promise.resolve();
  const stopped = () => {
    if (signal?.aborted) return abortReason(signal);
    if (overrun) return errors.timeBudgetExceeded((limit ?? 0) / 1000, durationMs / 1000);
    return undefined;
  };
  try {
    await consume.catch((e: unknown) => {
      kill();
      throw e;
    });
    const { code, sig } = await exited;
    const stop = stopped();
    if (stop) throw stop;
    if (code !== 0) {
      const why = tail.at(-1) ?? (sig ? `ffmpeg was killed by ${sig}` : `ffmpeg exited with status ${code}`);
      const err = errors.transcodeFailed(why);
      // For the operator's log: the message keeps one line, the cause has the last ones.
      err.cause = { exitCode: code, signal: sig, stderr: [...tail] };
      throw err;
    }
  } catch (e) {
    throw stopped() ?? e;
  } finally {
    clearTimeout(budget);
    signal?.removeEventListener('abort', kill);
    await exited.catch(() => undefined);
  }
}

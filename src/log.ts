/** Structured JSON-line logs; children carry videoId, jobId and attempt. */
import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Logs are written synchronously: a worker may be killed at any moment (SIGKILL, OOM), and the lines it
 * wrote just before, a claim or a takeover, are what an operator needs to account for what happened.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts = { name: 'reel', level, base: { pid: process.pid } };
  return pino(opts, destination ?? pino.destination({ dest: 1, sync: true }));
}

/** Structured JSON-line logs; children carry videoId, jobId and attempt. */
import { type DestinationStream, type Logger, pino } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts = { name: 'reel', level, base: { pid: process.pid } };
  return destination ? pino(opts, destination) : pino(opts);
}

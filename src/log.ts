/** Structured JSON-line logs; children carry videoId, jobId and attempt. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, name = 'reel'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

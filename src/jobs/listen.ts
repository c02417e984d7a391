/**
 * Wakes idle workers when a job is queued, without polling: LISTEN reel_jobs on a dedicated Postgres
 * connection (the queue runs pg_notify in the same transaction that queues a job). The connection is
 * re-opened with backoff when it drops; after a reconnect the worker is woken once, since jobs may have
 * been queued while nobody listened. Polling stays as the safety net, and is the only way on PGlite.
 */
import type { Logger } from 'pino';
import { JOBS_CHANNEL } from '../db/jobs.js';
import { type ChannelListener, listenOnChannel } from '../db/listen.js';

export function listenForJobs(url: string, onJob: () => void, log: Logger): ChannelListener {
  return listenOnChannel(
    url,
    JOBS_CHANNEL,
    { onNotify: onJob, onConnect: onJob, label: 'job notifications' },
    log,
  );
}

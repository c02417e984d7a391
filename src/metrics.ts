/**
 * Prometheus metrics. Queue figures come from the database at scrape time, so any process reports the
 * whole cluster and the figures per worker: job states (queued, running, done, failed), and the audit
 * trail's events per worker (claimed, reclaimed after a lost lease, published, retried, failed, released,
 * stale = lease lost). This process adds its own transcode-time histogram and the usual process metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Queryable } from './core/ports.js';
import { countEventsByWorker, countJobsByState, countLiveLeasesByWorker } from './db/jobs.js';
import { countTasksByState } from './db/tasks.js';

export class Metrics {
  readonly registry = new Registry();
  private readonly transcode: Histogram<'worker'>;

  constructor(db: Queryable) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'reel_' });

    new Gauge({
      name: 'reel_jobs',
      help: 'Jobs by state (cluster-wide, from the database).',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        for (const state of ['queued', 'running', 'planned', 'done', 'failed']) this.set({ state }, 0);
        for (const r of await countJobsByState(db)) this.set({ state: r.state }, r.n);
      },
    });
    new Gauge({
      name: 'reel_tasks',
      help: 'Tasks of chunked videos (a chunk, or the audio) by state (cluster-wide, from the database).',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        for (const state of ['queued', 'running', 'done', 'failed', 'cancelled']) this.set({ state }, 0);
        for (const r of await countTasksByState(db)) this.set({ state: r.state }, r.n);
      },
    });
    new Gauge({
      name: 'reel_jobs_running_by_worker',
      help: 'Jobs and tasks each worker holds a live lease on.',
      labelNames: ['worker'],
      registers,
      async collect() {
        this.reset();
        for (const r of await countLiveLeasesByWorker(db)) this.set({ worker: r.workerId }, r.n);
      },
    });
    new Counter({
      name: 'reel_job_events_total',
      help: 'Job events per worker: claimed, reclaimed (lease expired and taken over), published, retry, failed, released (handed back), stale (lease lost).',
      labelNames: ['event', 'worker'],
      registers,
      async collect() {
        this.reset();
        for (const r of await countEventsByWorker(db))
          this.inc({ event: r.event, worker: r.workerId ?? '' }, r.n);
      },
    });
    this.transcode = new Histogram({
      name: 'reel_transcode_seconds',
      help: 'Wall time from claim to publication of each task (a chunk, or the audio) this process published.',
      labelNames: ['worker'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
  }

  observeTranscode(worker: string, seconds: number): void {
    this.transcode.observe({ worker }, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

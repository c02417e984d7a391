/**
 * Bounds the images made on request in one process: at most `active` at once, `waiting` more queued, and
 * beyond that a refusal (REEL_IMAGE_BUSY, 503) rather than an ever longer queue. Requests for the same
 * image (same key) while it is being made share that one run.
 *
 * Written here rather than taken from p-limit: p-limit has neither a bound on its queue nor the sharing of
 * identical runs, and both are the point; what is left is a counter and a list.
 */
import { errors } from '../core/errors.js';

export class RenderGate {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly inflight = new Map<string, Promise<Buffer>>();
  constructor(
    readonly active: number,
    readonly waiting: number,
  ) {}

  /** make()'s bytes, or those of the run of `key` already under way; throws imageBusy when full. */
  run(key: string, make: () => Promise<Buffer>): Promise<Buffer> {
    const shared = this.inflight.get(key);
    if (shared) return shared;
    if (this.running >= this.active && this.queue.length >= this.waiting) throw errors.imageBusy();
    const p = this.slot(make).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async slot(make: () => Promise<Buffer>): Promise<Buffer> {
    if (this.running < this.active) this.running++;
    // A finishing run hands its slot straight to the next in line (running stays as it is).
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await make();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}

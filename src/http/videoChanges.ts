/**
 * The live feed's one poller per process, running only while someone listens: it reads the videos that
 * are unfinished (and those that were on the previous tick, and recent ones) once a tick and sends each
 * change to every listener, as server-sent event frames. The worker that moves the progress may run in
 * another process, so the database is the one place to look.
 */
import type { Db } from '../core/ports.js';
import { toView, type VideoRow, type VideoView } from '../db/videos.js';

/** Receives the frames of one tick (or of the first look), joined: one write per listener per tick. */
export type Listener = (frames: string) => void;

/**
 * Videos created or whose job changed this recently are looked at on every tick, whatever their status: a
 * video can be queued, claimed and failed between two ticks (a file that is not a video fails in 0.2 s).
 * Every change of a video's processing state updates its job's updated_at.
 */
const RECENT_SECONDS = 10;
const UNFINISHED = `v.status IN ('uploading', 'queued', 'processing')`;
const RECENT = `(v.created_at > now() - make_interval(secs => ${RECENT_SECONDS}) OR v.id IN (
  SELECT video_id FROM jobs WHERE updated_at > now() - make_interval(secs => ${RECENT_SECONDS})))`;

export const frame = (event: string, data: string) => `event: ${event}\ndata: ${data}\n\n`;

export class VideoChanges {
  private readonly listeners = new Set<Listener>();
  /**
   * The last state sent (view and job clock) of each video that is unfinished, or was on the previous tick,
   * or is recent. Its keys are read again on the next tick, so that a video's last change (to ready, failed
   * or deleted) is sent.
   */
  private last = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Adds a listener and sends it the unfinished and recent videos as they are now. */
  async subscribe(listener: Listener): Promise<() => void> {
    const rows = await this.db.query<VideoRow>(
      `SELECT v.* FROM videos v WHERE ${UNFINISHED} OR ${RECENT} ORDER BY v.created_at`,
    );
    const frames = rows.map((row) => frame('video', JSON.stringify(toView(row))));
    if (frames.length > 0) listener(frames.join(''));
    for (const row of rows) {
      // Followed from the next tick on, even if it finishes before then; '' makes the tick send it (again).
      if (!this.last.has(row.id)) this.last.set(row.id, '');
    }
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.last.clear();
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const prev = this.last;
      const asked = [...prev.keys()];
      const rows = await this.db.query<VideoRow & { recent: boolean; job_changed: Date | string | null }>(
        `SELECT v.*, ${RECENT} AS recent, (SELECT updated_at FROM jobs j WHERE j.video_id = v.id) AS job_changed
           FROM videos v
          WHERE ${UNFINISHED} OR ${RECENT} OR v.id = ANY($1::text[]) ORDER BY v.created_at`,
        [asked],
      );
      const next = new Map<string, string>();
      const frames: string[] = [];
      for (const row of rows) {
        const view: VideoView = toView(row);
        const json = JSON.stringify(view);
        // The job's clock is part of the state: a retry that fails again between two ticks ends where it
        // began (failed, same error), and the listeners, who saw it queued, must hear of it.
        const state = `${json}\n${row.job_changed === null ? '' : new Date(row.job_changed).getTime()}`;
        if (prev.get(row.id) !== state) frames.push(frame('video', json));
        if (row.recent || (view.status !== 'ready' && view.status !== 'failed')) next.set(row.id, state);
      }
      const seen = new Set(rows.map((r) => r.id));
      for (const id of asked) if (!seen.has(id)) frames.push(frame('deleted', JSON.stringify({ id })));
      // Marks that a subscription added while the query ran are for the next tick.
      const askedSet = new Set(asked);
      for (const [id, json] of prev) if (!askedSet.has(id) && !next.has(id)) next.set(id, json);
      if (this.timer) this.last = next; // stopped meanwhile: stay empty
      if (frames.length > 0) {
        const chunk = frames.join('');
        for (const l of this.listeners) l(chunk);
      }
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
    }
  }
}

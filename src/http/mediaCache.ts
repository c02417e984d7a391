/**
 * The hot media files of the play role (segments, init segments, storyboard sheets), kept in memory up to
 * REEL_PLAY_CACHE_MB, least recently used out first. Keyed by the store's object key: a published object
 * never changes its bytes (a new publication writes new keys), so an entry can never be stale; a deleted
 * video's entries are unreachable (the play route answers 404 before it looks here) and age out.
 *
 * Why: reading a file for each request costs the play role about ten times nginx's CPU per segment (a
 * fresh buffer per read, its pages faulted in and zeroed); sending a kept buffer costs about 1.5 times
 * (`npm run bench:serve`). Viewers of one video ask for the same few segments, so a small cache takes most
 * requests. Concurrent misses for one object share one read.
 */

export class MediaCache {
  private readonly entries = new Map<string, Buffer>();
  private readonly loading = new Map<string, Promise<Buffer>>();
  private bytes = 0;

  constructor(
    /** 0: nothing is kept. */
    private readonly maxBytes: number,
    /** Larger objects (MP4 downloads) are streamed, never kept. */
    private readonly maxObjectBytes = Math.min(16 * 1024 * 1024, maxBytes / 8),
  ) {}

  /** Whether an object of this size is kept. */
  keeps(size: number): boolean {
    return size > 0 && size <= this.maxObjectBytes;
  }

  /** The object's bytes when kept (most recently used from now on). */
  peek(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  /** The object's bytes: kept, or read with `read` (once for concurrent callers) and kept. */
  get(key: string, read: () => Promise<Buffer>): Buffer | Promise<Buffer> {
    const hit = this.peek(key);
    if (hit) return hit;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const p = read().then(
      (buf) => {
        this.loading.delete(key);
        this.keep(key, buf);
        return buf;
      },
      (err: unknown) => {
        this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, p);
    return p;
  }

  private keep(key: string, buf: Buffer): void {
    if (!this.keeps(buf.length) || this.entries.has(key)) return;
    this.entries.set(key, buf);
    this.bytes += buf.length;
    for (const [oldest, b] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= b.length;
    }
  }
}

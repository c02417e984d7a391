/**
 * What the play role needs to answer a READY video, kept in memory so that a published video costs no
 * database round trip per request: its row (policy, renditions, audio, poster…), every file it published
 * (path → object, size), and the text files rendered from them (playlists, storyboard, captions).
 *
 * Kept right by the database itself: migration 020's triggers announce a video's id on `reel_play` when
 * its row, its outputs or its captions change (a delete, a policy change, a re-publication, a caption, a
 * poster), from any process or tool, and the video is forgotten here. On Postgres the announcements come
 * over a LISTEN connection of this process (db/listen.ts); while that connection is down nothing is
 * served from memory (every request reads the database, as before), and everything is forgotten when it
 * comes back. On PGlite they come in-process as the transaction commits.
 *
 * A video that is not ready (processing, playable or not) is read from the database on every request:
 * its playlists grow. A load that an announcement overtakes is not kept.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../core/ports.js';
import { type ChannelListener, listenOnChannel } from '../db/listen.js';
import { outputKey } from '../db/outputs.js';
import { getVideo, type VideoRow } from '../db/videos.js';

/** The channel migration 020's triggers notify with a video id. */
export const PLAY_CHANNEL = 'reel_play';

export interface PlayFile {
  /** The object in the store. */
  key: string;
  bytes: number;
  /** Computed on first use (fileETag). */
  etag?: string;
}

export interface PlayVideo {
  row: VideoRow;
  /** Kept in memory: ready, and read while announcements were heard. */
  cached: boolean;
  /** A ready chunked video's published files, by path; null: ask the database (not ready, or legacy). */
  files: Map<string, PlayFile> | null;
  /** Rendered text files of a ready video, by path (filled by the play route). */
  texts: Map<string, KeptText>;
  /** Legacy (output_prefix) files' sizes, by path, as the store told them (null: no such object). */
  stats: Map<string, number | null>;
  /** `Last-Modified` of everything the ready video serves: when it became ready. */
  lastModified: string | undefined;
  /** When it was read (Date.now()); kept at most MAX_AGE_MS. */
  readAt: number;
  /** Bytes of its kept texts. */
  textBytes: number;
}

/** At most this many published files are kept over all videos (about 150 bytes each). */
const FILES_KEPT = 300_000;
/** And at most this many videos. */
const VIDEOS_KEPT = 2_000;
/** Rendered texts and legacy stats per video. */
const TEXTS_PER_VIDEO = 200;
/** And at most this many bytes of rendered texts over all videos (a 10-hour video's playlists are ~1 MB). */
const TEXT_BYTES_KEPT = 64 * 1024 * 1024;
/**
 * A kept video is read again after this long whatever was heard: a bound on anything the announcements
 * missed (a change made with triggers off, a connection that died without a word).
 */
const MAX_AGE_MS = 60_000;
/** Postgres: the listening connection is proven alive this often by a NOTIFY it must hear back. */
const PING_EVERY_MS = 5_000;
/** Not heard back within this: the connection is treated as lost (nothing served from memory). */
const PING_TIMEOUT_MS = 3_000;
const PING = 'ping:';

export class PlayCache {
  private readonly videos = new Map<string, PlayVideo>();
  private readonly loading = new Map<string, { promise: Promise<PlayVideo | null>; stale: boolean }>();
  private filesKept = 0;
  private textBytesKept = 0;
  private live = false;
  private connected = false;
  private awaiting = '';
  private heard = '';
  private pingTimer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  private listener: ChannelListener | undefined;

  constructor(private readonly db: Db) {}

  /** Starts hearing the announcements; until then (and whenever they cannot be heard) nothing is kept. */
  async start(databaseUrl: string | undefined, log: Logger): Promise<void> {
    if (databaseUrl) {
      this.listenOn(databaseUrl, log);
      // A connection can die without a word (a NAT timeout, a failover): each ping must come back over it.
      this.pingTimer = setInterval(() => this.ping(databaseUrl, log), PING_EVERY_MS);
      this.pingTimer.unref();
    } else if (this.db.listen) {
      this.stopListening = await this.db.listen(PLAY_CHANNEL, (id) => this.forget(id));
      this.live = true;
    }
  }

  private listenOn(databaseUrl: string, log: Logger): void {
    this.listener = listenOnChannel(
      databaseUrl,
      PLAY_CHANNEL,
      {
        onNotify: (payload) => {
          // Every play process pings on this channel: only this one's own counts.
          if (payload.startsWith(PING)) {
            if (payload === PING + this.awaiting) this.heard = this.awaiting;
          } else this.forget(payload);
        },
        onConnect: () => {
          this.clear();
          this.connected = true;
          this.live = true;
        },
        onDisconnect: () => {
          this.connected = false;
          this.live = false;
          this.clear();
        },
        label: 'play cache announcements',
      },
      log,
    );
  }

  private ping(databaseUrl: string, log: Logger): void {
    if (!this.connected) return;
    const nonce = Math.random().toString(36).slice(2);
    this.awaiting = nonce;
    const listener = this.listener;
    this.db.query('SELECT pg_notify($1, $2)', [PLAY_CHANNEL, PING + nonce]).catch(() => undefined);
    setTimeout(() => {
      if (this.heard === nonce || listener !== this.listener || !this.connected) return;
      log.warn('play cache: the listening connection did not hear its own ping; reconnecting');
      this.connected = false;
      this.live = false;
      this.clear();
      void listener?.close();
      this.listenOn(databaseUrl, log);
    }, PING_TIMEOUT_MS).unref();
  }

  async stop(): Promise<void> {
    this.live = false;
    this.connected = false;
    clearInterval(this.pingTimer);
    this.clear();
    await this.stopListening?.();
    await this.listener?.close();
  }

  /** The video as the play route needs it, or null when there is no such video. */
  video(id: string): Promise<PlayVideo | null> | PlayVideo {
    const hit = this.peek(id);
    if (hit) return hit;
    const pending = this.loading.get(id);
    if (pending) return pending.promise;
    const entry = { promise: this.load(id), stale: false };
    this.loading.set(id, entry);
    entry.promise
      .then((v) => {
        if (this.loading.get(id) === entry) this.loading.delete(id);
        if (v?.cached && !entry.stale && this.live) this.keep(id, v);
      })
      .catch(() => {
        if (this.loading.get(id) === entry) this.loading.delete(id);
      });
    return entry.promise;
  }

  /** A kept video, or undefined (not kept, or announcements not heard now): the fast path's look-up. */
  peek(id: string): PlayVideo | undefined {
    if (!this.live) return undefined;
    const v = this.videos.get(id);
    if (v && Date.now() - v.readAt >= MAX_AGE_MS) {
      this.forget(id);
      return undefined;
    }
    return v;
  }

  /** The object that answers a published path of a chunked video, or null. */
  async file(v: PlayVideo, path: string): Promise<PlayFile | null> {
    if (v.files) return v.files.get(path) ?? null;
    return outputKey(this.db, v.row.id, path);
  }

  /** A rendered text, encoded once; remembered when the video is kept (the route renders it once). */
  keepText(v: PlayVideo, path: string, text: string): KeptText {
    const kept = encodeText(text);
    if (v.cached && v.texts.size < TEXTS_PER_VIDEO && this.videos.get(v.row.id) === v) {
      v.texts.set(path, kept);
      v.textBytes += kept.body.length;
      this.textBytesKept += kept.body.length;
      this.evict(v.row.id);
    }
    return kept;
  }

  /** Remembers a legacy file's size as the store told it. */
  keepStat(v: PlayVideo, path: string, size: number | null): void {
    if (v.cached && v.stats.size < TEXTS_PER_VIDEO) v.stats.set(path, size);
  }

  /** This video changed: the next request reads it again (a load under way is not kept). */
  forget(id: string): void {
    const v = this.videos.get(id);
    if (v) {
      this.videos.delete(id);
      this.filesKept -= v.files?.size ?? 0;
      this.textBytesKept -= v.textBytes;
    }
    const pending = this.loading.get(id);
    if (pending) {
      pending.stale = true;
      this.loading.delete(id);
    }
  }

  clear(): void {
    for (const p of this.loading.values()) p.stale = true;
    this.loading.clear();
    this.videos.clear();
    this.filesKept = 0;
    this.textBytesKept = 0;
  }

  private async load(id: string): Promise<PlayVideo | null> {
    const row = await getVideo(this.db, id);
    if (!row) return null;
    const ready = row.status === 'ready';
    const chunked = row.output_prefix === null;
    let files: Map<string, PlayFile> | null = null;
    if (ready && chunked) {
      const rows = await this.db.query<{ path: string; key: string; bytes: string | number }>(
        'SELECT path, key, bytes FROM outputs WHERE video_id = $1',
        [id],
      );
      files = new Map(rows.map((r) => [r.path, { key: r.key, bytes: Number(r.bytes) }]));
    }
    return {
      row,
      cached: ready,
      files,
      texts: new Map(),
      stats: new Map(),
      lastModified: ready && row.ready_at ? new Date(row.ready_at).toUTCString() : undefined,
      readAt: Date.now(),
      textBytes: 0,
    };
  }

  private keep(id: string, v: PlayVideo): void {
    this.forget(id);
    this.videos.set(id, v);
    this.filesKept += v.files?.size ?? 0;
    this.evict(id);
  }

  /** Forgets the oldest videos (not `keep`) until the bounds hold. */
  private evict(keep: string): void {
    while (
      this.videos.size > VIDEOS_KEPT ||
      this.filesKept > FILES_KEPT ||
      this.textBytesKept > TEXT_BYTES_KEPT
    ) {
      const oldest = this.videos.keys().next().value;
      if (oldest === undefined || oldest === keep) break;
      this.forget(oldest);
    }
  }
}

/** A text file as sent: its bytes and their ETag. */
export interface KeptText {
  body: Buffer;
  etag: string;
}

export function encodeText(text: string): KeptText {
  const body = Buffer.from(text);
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** A published file's ETag: a digest of its object's key (the key never changes its bytes) and its size. */
export function fileETag(key: string, bytes: number): string {
  return `"${createHash('sha256').update(key).digest('base64url').slice(0, 22)}-${bytes}"`;
}

/** A published file's ETag, computed once. */
export function publishedETag(f: PlayFile): string {
  if (f.etag === undefined) f.etag = fileETag(f.key, f.bytes);
  return f.etag;
}

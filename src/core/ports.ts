/** The two ports Reel's core depends on: a SQL database and an object store. */
import type { Readable } from 'node:stream';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Embedded databases only (PGlite): calls onNotify with the payload of each pg_notify on `channel`,
   * committed by anyone in this process; resolves to the way to stop. Postgres is listened to over a
   * connection of its own instead (db/listen.ts).
   */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
}

export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

export interface ObjectStat {
  size: number;
}

export interface ObjectStore {
  /** Stores a stream or buffer at key, replacing what was there. */
  put(key: string, body: Readable | Buffer): Promise<void>;
  /** Stores a local file at key (a filesystem store may move it instead of copying when `move` is set). */
  putFile(key: string, localPath: string, opts?: { move?: boolean }): Promise<void>;
  /** Reads an object, or a byte range of it. Throws REEL_NOT_FOUND when absent. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  stat(key: string): Promise<ObjectStat | null>;
  /** Keys under a prefix, recursively. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<void>;
  /** A short-lived URL that reads the object directly from the store (S3), for redirecting players. */
  presignGet?(key: string, expiresSeconds: number): Promise<string>;
  /** A local path ffmpeg can read directly, when the store is on this filesystem. */
  localPath?(key: string): string;
  /** Present when the store takes multipart uploads (S3): see MultipartStorage. */
  readonly multipart?: MultipartStorage;
}

/** A part of a multipart upload as storage holds it. */
export interface StoredPart {
  partNumber: number;
  etag: string;
  size: number;
}

/**
 * The one capability Reel asks a store about: multipart uploads (S3 and S3-compatible stores), which tus
 * uploads stream into and direct uploads are PUT to. Keys are store keys, as for every other method.
 * Storage's refusals keep their name (`err.name`, e.g. InvalidPart, NoSuchUpload) for uploads to judge.
 */
export interface MultipartStorage {
  /** Starts a multipart upload of `key`; its upload id. */
  create(key: string): Promise<string>;
  /** Stores one part of `size` bytes; its ETag. */
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable | Buffer,
    size: number,
    signal?: AbortSignal,
  ): Promise<string>;
  /** A URL a client PUTs one part of exactly `size` bytes to (the length is signed into it). */
  presignPart(
    key: string,
    uploadId: string,
    partNumber: number,
    size: number,
    expiresSeconds: number,
  ): Promise<string>;
  /** The parts storage holds, in order; null when this storage cannot list them (s3rver). */
  listParts(key: string, uploadId: string): Promise<StoredPart[] | null>;
  /** Joins the parts into the object at `key`. */
  complete(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void>;
  /** Drops an unfinished upload and its parts. */
  abort(key: string, uploadId: string): Promise<void>;
}

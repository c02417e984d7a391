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
}

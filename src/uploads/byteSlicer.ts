/**
 * Hands out consecutive slices of a byte stream: `take(n)` yields exactly the next n bytes as they arrive
 * (for streaming one part of a multipart upload with a known length), `readUpTo(n)` collects up to n bytes
 * in memory. Slices must be read one after another, each to its end, before the next is asked for.
 * When the source fails, `error` holds why: `take` throws it, `readUpTo` returns the bytes it had.
 */
export class ShortStreamError extends Error {
  constructor(readonly missing: number) {
    super(`the stream ended ${missing} bytes early`);
    this.name = 'ShortStreamError';
  }
}

export class ByteSlicer {
  private readonly it: AsyncIterator<Uint8Array>;
  private leftover: Buffer | undefined;
  private done = false;
  /** Why the source failed, if it did (a client that went away mid-request). */
  error: unknown;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.leftover) {
      const chunk = this.leftover;
      this.leftover = undefined;
      return chunk;
    }
    if (this.done) return undefined;
    let r: IteratorResult<Uint8Array>;
    try {
      r = await this.it.next();
    } catch (err) {
      this.error = err;
      this.done = true;
      throw err;
    }
    if (r.done) {
      this.done = true;
      return undefined;
    }
    return Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
  }

  /** Yields exactly n bytes; throws ShortStreamError when the stream ends before them. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const chunk = await this.next();
      if (chunk === undefined) {
        this.error ??= new ShortStreamError(left);
        throw this.error;
      }
      if (chunk.length > left) {
        this.leftover = chunk.subarray(left);
        yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  }

  /** Up to n bytes, fewer only where the stream ends or fails. The chunks are joined once. */
  async readUpTo(n: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const chunk = await this.next().catch(() => undefined);
      if (chunk === undefined) break;
      if (chunk.length > n - have) {
        this.leftover = chunk.subarray(n - have);
        chunks.push(chunk.subarray(0, n - have));
        have = n;
      } else {
        chunks.push(chunk);
        have += chunk.length;
      }
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
  }
}

/** The bytes of several sources one after another. */
export async function* concatSources(...sources: AsyncIterable<Uint8Array>[]): AsyncGenerator<Uint8Array> {
  for (const s of sources) yield* s;
}

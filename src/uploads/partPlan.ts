/**
 * How uploads are cut into S3 multipart parts (pure planning, no I/O): the parts of each tus PATCH (the
 * parts of a direct upload are in directRules.ts). S3 wants every part but the last to hold at least
 * 5 MiB, and at most 10,000 parts in all.
 */
export const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PARTS = 10_000;
/**
 * Parts streamed from a PATCH whose length is known. Large, since a streamed part costs no memory and a
 * storage request has a fixed cost; an interrupted PATCH loses at most the part it was streaming.
 */
export const STREAM_PART_SIZE = 32 * MiB;
/** Parts collected in memory from a PATCH of unknown length (chunked transfer encoding). */
export const BUFFERED_PART_SIZE = 8 * MiB;

/** The smallest whole-MiB part size ≥ base that fits an upload of `size` bytes in MAX_PARTS parts. */
export function partSizeFor(size: number | undefined, base: number): number {
  if (size === undefined) return base;
  return Math.max(base, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

export interface PatchPlan {
  /** Sizes of the parts to stream, in order. */
  parts: number[];
  /** Bytes left after the parts, too few for a part: kept as the tail until the next PATCH. */
  tail: number;
}

/**
 * The parts for `tail` bytes left by the last PATCH followed by `length` new bytes. `final` when these
 * bytes end the upload: then the last part may be small and nothing is left over.
 */
export function planPatch(p: { tail: number; length: number; final: boolean; partSize: number }): PatchPlan {
  const parts: number[] = [];
  let left = p.tail + p.length;
  while (left >= p.partSize) {
    parts.push(p.partSize);
    left -= p.partSize;
  }
  if (left > 0 && (p.final || left >= MIN_PART_SIZE)) {
    parts.push(left);
    left = 0;
  }
  return { parts, tail: left };
}

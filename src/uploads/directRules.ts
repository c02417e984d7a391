/**
 * The rules of a direct upload (pure, no I/O): how it is cut into parts, what a reported part must be,
 * what a completion must list, and the bytes storage holds against the size declared and the limit. They
 * are checked before storage sees a request, so a wrong request changes nothing and gets a clear 4xx.
 */
import { errors, type ReelError } from '../core/errors.js';
import { MAX_PARTS, MIN_PART_SIZE, MiB, partSizeFor } from './partPlan.js';

/** Parts a client PUTs straight to storage: each is one request it may have to send again. */
export const DIRECT_PART_SIZE = 8 * MiB;

const bad = (message: string) => errors.invalidRequest(message);
const ETAG = /^"?[0-9a-fA-F]{32}(-\d+)?"?$/;

/** An ETag as storage writes it, in double quotes. */
export const quoted = (etag: string) => (etag.startsWith('"') ? etag : `"${etag}"`);

/** The parts of a direct upload of `size` bytes. */
export function planParts(size: number): { partSize: number; partCount: number } {
  const partSize = partSizeFor(size, DIRECT_PART_SIZE);
  return { partSize, partCount: Math.max(1, Math.ceil(size / partSize)) };
}

/** Refuses a direct upload above the limit or with more parts than storage takes; its parts otherwise. */
export function planDirectUpload(
  size: number,
  maxUploadBytes: number,
): { partSize: number; partCount: number } {
  if (size > maxUploadBytes) throw errors.uploadTooLarge(size, maxUploadBytes);
  const plan = planParts(size);
  if (plan.partCount > MAX_PARTS) throw bad(`A file of ${size} bytes needs more than ${MAX_PARTS} parts.`);
  return plan;
}

/** The shape of a started direct upload: its declared size and part size. */
export interface DirectShape {
  size: number;
  partSize: number;
}

/** How many parts a direct upload has: derived from its size and part size, never stored. */
export const partCountOf = (u: DirectShape) => Math.ceil(u.size / u.partSize);

/** The size part `n` must have. */
export function expectedPartSize(u: DirectShape, n: number): number {
  const count = partCountOf(u);
  return n < count ? u.partSize : u.size - u.partSize * (count - 1);
}

/** Refuses part numbers the upload does not have. */
export function checkPartNumbers(u: DirectShape, numbers: number[]): void {
  const count = partCountOf(u);
  const outside = numbers.find((n) => n > count);
  if (outside) throw bad(`This upload has ${count} parts; there is no part ${outside}.`);
}

/** Refuses a part the client reports unless it is one of the upload's, with an ETag and its exact size. */
export function checkReportedPart(u: DirectShape, n: number, etag: string, size: number): void {
  const count = partCountOf(u);
  if (n > count) throw bad(`This upload has ${count} parts; there is no part ${n}.`);
  if (!ETAG.test(etag)) throw bad(`"${etag.slice(0, 80)}" is not an ETag storage returns.`);
  const want = expectedPartSize(u, n);
  if (size !== want) {
    throw bad(
      size < MIN_PART_SIZE && n < count
        ? `Part ${n} is ${size} bytes: every part but the last must be at least ${MIN_PART_SIZE} bytes (this upload's parts are ${u.partSize}).`
        : `Part ${n} must be ${want} bytes, not ${size}.`,
    );
  }
}

/**
 * Refuses a completion unless it lists every part, each stored with the ETag given and (but the last)
 * at least 5 MiB. `stored` is what storage holds (or what the client reported), by part number.
 */
export function checkCompletion(
  u: DirectShape,
  given: { partNumber: number; etag: string }[],
  stored: Map<number, { etag: string; size: number }>,
): void {
  const count = partCountOf(u);
  for (let n = 1; n <= count; n++) {
    const g = given.find((p) => p.partNumber === n);
    if (!g) throw bad(`Part ${n} is missing from the list: give all ${count} parts with their ETags.`);
    const s = stored.get(n);
    if (!s) throw bad(`Part ${n} was not uploaded (or not reported with PUT …/parts/${n}).`);
    if (quoted(g.etag) !== quoted(s.etag)) throw bad(`The ETag of part ${n} does not match the stored part.`);
    if (Number(s.size) < MIN_PART_SIZE && n < count) {
      throw bad(
        `Part ${n} is ${s.size} bytes: every part but the last must be at least ${MIN_PART_SIZE} bytes.`,
      );
    }
  }
  if (given.length !== count) throw bad(`This upload has ${count} parts; the list names ${given.length}.`);
}

/**
 * Why the bytes storage holds for a direct upload cannot be taken, or null: they must be exactly the size
 * the upload was started with (the size the limit was checked against), and within the server's limit.
 */
export function storedSizeProblem(stored: number, declared: number, max: number): ReelError | null {
  if (stored > max) return errors.storedUploadTooLarge(stored, max);
  if (stored !== declared) return errors.uploadSizeMismatch(stored, declared);
  return null;
}

/**
 * Joins the parts of a stored tus upload into the source object (S3 CompleteMultipartUpload). The worker
 * does it before it reads the source; it is safe to repeat, and a second worker (or a retry after a crash
 * between the join and its record) finds the object already there. A store without multipart uploads
 * has nothing to join.
 */
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { getMultipart, listParts, markAssembled } from '../db/multipart.js';
import { videoExists } from '../db/videos.js';
import { keys } from '../storage/keys.js';

/** Storage's answers that mean these parts can never be joined: the upload must be sent again. */
export const PARTS_REFUSED = ['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall'];

export async function assembleUpload(db: Db, store: ObjectStore, videoId: string): Promise<void> {
  const { multipart } = store;
  if (!multipart) return;
  const row = await getMultipart(db, videoId);
  if (row?.state !== 'stored') return;
  const parts = await listParts(db, videoId);
  const source = keys.source(videoId);
  try {
    await multipart.complete(
      source,
      row.s3_upload_id,
      parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })),
    );
  } catch (err) {
    // Joined before (stores answer NoSuchUpload, s3rver an InternalError, for an upload id they no longer
    // know): the object is there, whole. Otherwise a refusal is final, and anything else (NoSuchUpload
    // while an earlier join is still running, a timeout) is tried again with the job.
    const joined = (await store.stat(source))?.size === Number(row.size);
    if (!joined) {
      const name = (err as { name?: string }).name ?? '';
      throw PARTS_REFUSED.includes(name) ? errors.uploadUnjoinable(name) : err;
    }
  }
  await markAssembled(db, videoId);
  // Tails that failed or crashed requests left behind.
  await store.deletePrefix(`uploads/${videoId}/`).catch(() => undefined);
  // The video was deleted while its parts were being joined: the object joined after the deletion.
  if (!(await videoExists(db, videoId))) await store.delete(source).catch(() => undefined);
}

/**
 * Joins the parts of a stored tus upload into the source object (S3 CompleteMultipartUpload). The worker
 * does it before it reads the source; it is safe to repeat, and a second worker (or a retry after a crash
 * between the join and its record) finds the object already there.
 */
import { CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
import { errors } from '../core/errors.js';
import type { Db } from '../core/ports.js';
import { getMultipart, listParts, markAssembled } from '../db/multipart.js';
import { keys } from '../storage/keys.js';
import type { S3Store } from '../storage/s3.js';

/** Storage's answers that mean these parts can never be joined: the upload must be sent again. */
export const PARTS_REFUSED = ['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall'];

export async function assembleUpload(db: Db, store: S3Store, videoId: string): Promise<void> {
  const row = await getMultipart(db, videoId);
  if (row?.state !== 'stored') return;
  const parts = await listParts(db, videoId);
  const source = keys.source(videoId);
  try {
    await store.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: store.bucket,
        Key: store.fullKey(source),
        UploadId: row.s3_upload_id,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag })) },
      }),
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
  const [video] = await db.query('SELECT 1 FROM videos WHERE id = $1', [videoId]);
  if (!video) await store.delete(source).catch(() => undefined);
}

/**
 * PATCH /v1/videos/{id} `posterTime`: the frame at that time becomes the video's poster.jpg. The frame is
 * made by the thumbnail machinery (media/thumbnailPlan.ts, media/thumbnailRender.ts) from the published
 * segments of the top rung, at the poster's size (at most POSTER_MAX_WIDTH wide), never from the source;
 * one render at a time per process (a second waits, more are refused with REEL_IMAGE_BUSY).
 *
 * Fenced: the image is put at a key of its own (random, under the video's prefix, so deleting the video
 * removes it), then one UPDATE, only while the video is still ready, points `poster_key` at it and answers
 * the key it replaces, which is deleted after the commit. A request that lost (the video was deleted or
 * is no longer ready) deletes its own object; two requests at once each put their own, the last commit
 * wins and the other object is deleted by whichever replaced it. The transcode's own poster is never
 * deleted: `posterTime: null` goes back to it.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { errors } from '../core/errors.js';
import type { Db, ObjectStore } from '../core/ports.js';
import { listSegments, outputKey } from '../db/outputs.js';
import type { VideoRow } from '../db/videos.js';
import { POSTER_MAX_WIDTH } from '../media/ladder.js';
import { RenderGate } from '../media/renderGate.js';
import { locateSpan, stillRequest } from '../media/thumbnailPlan.js';
import { renderImage } from '../media/thumbnailRender.js';
import { keys } from '../storage/keys.js';

/** The longest video a poster time may name (a week): the schema's bound, the video's own is checked too. */
export const MAX_POSTER_TIME = 7 * 24 * 3600;

const gate = new RenderGate(1, 2);

export interface PosterDeps {
  db: Db;
  store: ObjectStore;
  log: Logger;
  ffmpegPath: string;
}

/** Where a chosen poster is kept: under the video's prefix, a name of its own per request. */
export const posterKey = (videoId: string, frame: number) =>
  `${keys.videoPrefix(videoId)}posters/f${frame}-${randomBytes(6).toString('hex')}.jpg`;

/** Checks that `video` can have a poster chosen at `time` and makes the image: its bytes and frame. */
async function renderPoster(
  deps: PosterDeps,
  video: VideoRow,
  time: number,
): Promise<{ bytes: Buffer; frame: number }> {
  if (video.status !== 'ready') throw errors.posterNotAvailable(video.id, `it is ${video.status}, not ready`);
  if (video.output_prefix !== null)
    throw errors.posterNotAvailable(
      video.id,
      'it was processed before chunks (it has no segments to take a frame from)',
    );
  const durationSeconds = (video.duration_ms ?? 0) / 1000;
  if (time > durationSeconds)
    throw errors.invalidRequest(
      `Invalid request: body/posterTime ${time} s is beyond the video's end (${durationSeconds} s).`,
    );
  // The thumbnail plan checks and quantises the time and sizes the image as the transcode's poster.
  const image = stillRequest(
    'thumbnail.jpg',
    { time: String(Math.round(time * 1000) / 1000), width: String(POSTER_MAX_WIDTH) },
    { videoId: video.id, durationSeconds, rungs: video.renditions },
  );
  const rung = image.rung.name;
  const span = locateSpan(image, (await listSegments(deps.db, video.id, rung)).get(rung) ?? [], true);
  if (!span) throw errors.frameNotPublished(time);
  const bytes = await gate.run(`${video.id}/${image.frame}`, async () => {
    const objects = await Promise.all(
      [`${rung}/init.mp4`, ...span.seqs.map((s) => `${rung}/seg_${String(s).padStart(5, '0')}.m4s`)].map(
        (p) => outputKey(deps.db, video.id, p),
      ),
    );
    if (objects.some((o) => o === null)) throw errors.frameNotPublished(span.seekSeconds);
    const [init, ...segments] = objects.map((o) => o!.key);
    return renderImage(deps.store, deps.ffmpegPath, image, span, init!, segments);
  });
  return { bytes, frame: image.frame };
}

/**
 * Makes the frame at `time` (seconds) the poster of `video` (null: back to the transcode's); the row as it
 * is now. Throws posterNotAvailable (409) when the video is not ready or not chunked, invalidRequest for a
 * time past its end, videoNotFound when it went meanwhile.
 */
export async function choosePoster(
  deps: PosterDeps,
  video: VideoRow,
  time: number | null,
): Promise<VideoRow> {
  let key: string | null = null;
  if (time !== null) {
    const { bytes, frame } = await renderPoster(deps, video, time);
    key = posterKey(video.id, frame);
    await deps.store.put(key, bytes);
  }
  const rows = await deps.db.query<VideoRow & { replaced: string | null }>(
    `WITH old AS (SELECT id, poster_key FROM videos WHERE id = $1 FOR UPDATE)
     UPDATE videos v SET poster_key = $2, poster_time = $3
       FROM old WHERE v.id = old.id AND v.status = 'ready'
     RETURNING v.*, old.poster_key AS replaced`,
    [video.id, key, time],
  );
  const row = rows[0];
  const drop = async (k: string | null) => {
    if (k) await deps.store.delete(k).catch((err) => deps.log.warn({ err, key: k }, 'an old poster stays'));
  };
  if (!row) {
    await drop(key);
    throw errors.videoNotFound(video.id);
  }
  if (row.replaced !== key) await drop(row.replaced);
  const { replaced: _replaced, ...now } = row;
  deps.log.info({ videoId: video.id, posterTime: time }, 'poster chosen');
  return now;
}

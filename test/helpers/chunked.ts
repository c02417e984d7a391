/**
 * A chunked video laid out by hand as the worker side publishes one: a video row with output_prefix NULL,
 * renditions at their ceilings and the audio planned; real fMP4 files from a transcode, each put in the
 * store at a stable key with its `outputs` row when a test "publishes" it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RenditionInfo } from '../../src/core/types.js';
import { insertUploadingVideo } from '../../src/db/videos.js';
import { transcodeToHls } from '../../src/media/pipeline.js';
import { parseMediaPlaylist } from '../../src/media/playlist.js';
import { type ClipOptions, makeClip } from '../fixtures/generate.js';
import { settings } from '../media/support.js';
import type { TestReel } from './reel.js';

export interface LadderFile {
  path: string;
  rendition: string | null;
  seq: number | null;
  duration: number | null;
}

export interface ChunkedLadder {
  /** The transcode's directory (master.m3u8, {rendition}/index.m3u8 and the files). */
  dir: string;
  /** Every file as played (720p/seg_00000.m4s …), with its rendition, seq and duration. */
  files: Map<string, LadderFile>;
  /** The renditions as measured (what a ready video holds). */
  measured: RenditionInfo[];
  /** Video rungs then "audio". */
  names: string[];
  durationMs: number;
  cleanup(): Promise<void>;
}

/** Transcodes a generated clip into a ladder whose files a test publishes one by one. */
export async function makeChunkedLadder(
  name: string,
  clip: ClipOptions,
  rungs: number[],
): Promise<ChunkedLadder> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reel-chunked-'));
  const input = await makeClip(name, clip);
  const result = await transcodeToHls({ input, outDir: dir, settings: settings(rungs) });
  const names = [...result.renditions.map((r) => r.name), ...(result.plan.audio ? ['audio'] : [])];
  const files = new Map<string, LadderFile>();
  files.set('poster.jpg', { path: 'poster.jpg', rendition: null, seq: null, duration: null });
  for (const n of names) {
    const pl = parseMediaPlaylist(await readFile(path.join(dir, n, 'index.m3u8'), 'utf8'));
    files.set(`${n}/init.mp4`, { path: `${n}/init.mp4`, rendition: n, seq: null, duration: null });
    pl.segments.forEach((s, seq) => {
      const p = `${n}/${s.uri}`;
      files.set(p, { path: p, rendition: n, seq, duration: s.duration });
    });
  }
  return {
    dir,
    files,
    measured: result.renditions,
    names,
    durationMs: result.source.durationMs,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A chunked video as planning leaves it: processing, no prefix, renditions at a ceiling, audio planned. */
export async function insertChunkedVideo(
  t: TestReel,
  ladder: ChunkedLadder,
  id: string,
  policy: 'public' | 'signed',
  ceilingBps = 5_000_000,
): Promise<void> {
  const { db } = t.reel;
  await insertUploadingVideo(db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: policy });
  const ceilings = ladder.measured.map((r) => ({
    ...r,
    bandwidth: ceilingBps,
    averageBandwidth: ceilingBps,
  }));
  const audio = ladder.names.includes('audio')
    ? { name: 'audio', codecs: 'mp4a.40.2', bandwidth: 130_000, channels: 2 }
    : null;
  await db.query(
    `UPDATE videos SET status = 'processing', output_prefix = NULL, duration_ms = $4, width = $5,
       height = $6, renditions = $2::jsonb, audio = $3::jsonb WHERE id = $1`,
    [
      id,
      JSON.stringify(ceilings),
      audio && JSON.stringify(audio),
      ladder.durationMs,
      ladder.measured[0]!.width,
      ladder.measured[0]!.height,
    ],
  );
}

/** What a task's commit does for one file: the object at its stable key, then its outputs row. */
export async function publishOutput(t: TestReel, ladder: ChunkedLadder, id: string, file: string) {
  const f = ladder.files.get(file);
  if (!f) throw new Error(`${file} is not a file of the ladder`);
  const key = `videos/${id}/chunked/${file}`;
  const bytes = await readFile(path.join(ladder.dir, file));
  await t.reel.store.put(key, bytes);
  await t.reel.db.query(
    `INSERT INTO outputs (video_id, path, key, rendition, seq, duration, bytes)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [id, file, key, f.rendition, f.seq, f.duration, bytes.length],
  );
}

/** Publishes every file of these segment numbers (and the init segments with seq 0) in every rendition. */
export async function publishSegments(t: TestReel, ladder: ChunkedLadder, id: string, seqs: number[]) {
  for (const n of ladder.names) {
    for (const seq of seqs) {
      if (seq === 0) await publishOutput(t, ladder, id, `${n}/init.mp4`);
      await publishOutput(t, ladder, id, `${n}/seg_${String(seq).padStart(5, '0')}.m4s`);
    }
  }
}

export const markPlayable = (t: TestReel, id: string) =>
  t.reel.db.query('UPDATE videos SET playable_at = now() WHERE id = $1', [id]);

/** The last chunk is in: ready, with the measured renditions. */
export const markReady = (t: TestReel, ladder: ChunkedLadder, id: string) =>
  t.reel.db.query(
    `UPDATE videos SET status = 'ready', ready_at = now(), progress = 1, renditions = $2::jsonb WHERE id = $1`,
    [id, JSON.stringify(ladder.measured)],
  );

/** A ready chunked video: these segments of every rendition (and the init segments), the poster, ready. */
export async function publishReadyVideo(
  t: TestReel,
  ladder: ChunkedLadder,
  id: string,
  policy: 'public' | 'signed',
  seqs: number[],
): Promise<void> {
  await insertChunkedVideo(t, ladder, id, policy);
  await publishSegments(t, ladder, id, seqs);
  await publishOutput(t, ladder, id, 'poster.jpg');
  await markPlayable(t, id);
  await markReady(t, ladder, id);
}

/** A signed video's playback token, from its playback URL (/play/{id}/{token}/master.m3u8). */
export async function playbackToken(t: Pick<TestReel, 'api'>, id: string): Promise<string> {
  const { url } = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string };
  return new URL(url).pathname.split('/')[3]!;
}

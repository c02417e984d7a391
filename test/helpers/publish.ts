/** Published videos without transcoding: rows and objects as a worker would leave them. */
import { insertUploadingVideo } from '../../src/db/videos.js';
import type { TestReel } from './reel.js';

/** One rendition (720p) with one segment. */
export async function publishFake(t: TestReel, id: string, policy: 'public' | 'signed', status = 'ready') {
  const { db, store } = t.reel;
  await insertUploadingVideo(db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: policy });
  const prefix = `videos/${id}/a1/`;
  await db.query(`UPDATE videos SET status = $2, output_prefix = $3 WHERE id = $1`, [id, status, prefix]);
  await store.put(
    `${prefix}master.m3u8`,
    Buffer.from('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n'),
  );
  await store.put(`${prefix}720p/index.m3u8`, Buffer.from('#EXTM3U\n#EXTINF:4,\nseg_00000.m4s\n'));
  await store.put(`${prefix}720p/seg_00000.m4s`, Buffer.from('0123456789abcdef'));
  await store.put(`${prefix}720p/init.mp4`, Buffer.from('init'));
}

/**
 * A ladder shaped as Reel publishes it: two video renditions and an audio group, three segments each, and
 * a duration. Every file's body names the file, so a test can tell what it got.
 */
export async function publishLadder(
  t: TestReel,
  id: string,
  policy: 'public' | 'signed',
  durationMs = 12_000,
): Promise<string[]> {
  const { db, store } = t.reel;
  await insertUploadingVideo(db, { id, title: id, filename: `${id}.mp4`, playbackPolicy: policy });
  const prefix = `videos/${id}/a1/`;
  await db.query(
    `UPDATE videos SET status = 'ready', output_prefix = $2, duration_ms = $3, ready_at = now() WHERE id = $1`,
    [id, prefix, durationMs],
  );
  await store.put(
    `${prefix}master.m3u8`,
    Buffer.from(
      [
        '#EXTM3U',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,AUDIO="aud"',
        '720p/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240,AUDIO="aud"',
        '240p/index.m3u8',
        '',
      ].join('\n'),
    ),
  );
  const files: string[] = [];
  for (const r of ['720p', '240p', 'audio']) {
    const segs = [0, 1, 2].map((i) => `seg_0000${i}.m4s`);
    const playlist = [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:4',
      '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXT-X-MAP:URI="init.mp4"',
      ...segs.flatMap((s) => ['#EXTINF:4.0,', s]),
      '#EXT-X-ENDLIST',
      '',
    ].join('\n');
    await store.put(`${prefix}${r}/index.m3u8`, Buffer.from(playlist));
    await store.put(`${prefix}${r}/init.mp4`, Buffer.from(`${id}/${r}/init.mp4`));
    files.push(`${r}/index.m3u8`, `${r}/init.mp4`);
    for (const s of segs) {
      await store.put(`${prefix}${r}/${s}`, Buffer.from(`${id}/${r}/${s}`));
      files.push(`${r}/${s}`);
    }
  }
  return files;
}

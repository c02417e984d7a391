/**
 * Hostile sources through the whole service (tus upload → worker → playback): an upload that names other
 * files on the server's disk, and sources beyond the processing limits, fail with a sentence and publish
 * nothing, while the worker goes on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoView } from '../../src/db/videos.js';
import { makeClip } from '../fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

describe('hostile sources through the worker', () => {
  let t: TestReel;
  beforeAll(async () => {
    // Frames above 640 pixels on a side are refused: the limit is low so that the test clip is small.
    t = await startTestReel({ 'max-dimension': '640' });
  });
  afterAll(() => t.close());

  const getVideo = async (id: string) => (await (await t.api(`/v1/videos/${id}`)).json()) as VideoView;
  const settle = (id: string) =>
    waitFor(
      `video ${id} to settle`,
      async () => {
        const v = await getVideo(id);
        return v.status === 'ready' || v.status === 'failed' ? v : undefined;
      },
      120_000,
      150,
    );
  const attempts = async (id: string) =>
    (await t.reel.db.query<{ attempt: number }>('SELECT attempt FROM jobs WHERE video_id = $1', [id]))[0]!
      .attempt;

  it("an HLS playlist or DASH manifest naming another video's files fails at once and publishes nothing", async () => {
    const victimClip = await makeClip('e2e-victim', { width: 320, height: 180, seconds: 2 });
    const victim = await tusUpload(t, fs.readFileSync(victimClip), { title: 'private' });
    expect((await settle(victim)).status).toBe('ready');
    // What the victim published: objects/videos/{victim}/t{task}-a1/{rendition}/init.mp4, seg_*.m4s.
    const name = (await getVideo(victim)).renditions[0]!.name;
    const [row] = await t.reel.db.query<{ key: string }>(
      'SELECT key FROM outputs WHERE video_id = $1 AND path = $2',
      [victim, `${name}/seg_00000.m4s`],
    );
    const rendition = path.posix.dirname(row!.key);
    const published = path.join(t.dataDir, 'objects', rendition);
    expect(fs.existsSync(path.join(published, 'seg_00000.m4s'))).toBe(true);

    // The attacker's source is stored at objects/sources/{its id}/original: "../../" is objects/.
    const master = (uri: string) => `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\n${uri}\n`;
    const hostile: [string, string, RegExp][] = [
      ['hls file://', master(`file://${published}/seg_00000.m4s`), /HLS playlist/],
      ['hls ../', master(`../../${rendition}/seg_00000.m4s`), /HLS playlist/],
      [
        'dash file://',
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" ' +
          'mediaPresentationDuration="PT2S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">' +
          `<Period><BaseURL>file://${published}/</BaseURL><AdaptationSet mimeType="video/mp4">` +
          '<Representation id="1" bandwidth="100000" codecs="avc1.64000d" width="320" height="180">' +
          '<SegmentList duration="2"><Initialization sourceURL="init.mp4"/><SegmentURL media="seg_00000.m4s"/>' +
          '</SegmentList></Representation></AdaptationSet></Period></MPD>\n',
        /DASH manifest/,
      ],
    ];
    for (const [label, text, what] of hostile) {
      const id = await tusUpload(t, Buffer.from(text), { filename: 'holiday.mp4' });
      const v = await settle(id);
      expect(v.status, label).toBe('failed');
      expect(v.error, label).toMatch(what);
      expect(v.error, label).toMatch(/not a video: it only names other files/);
      expect(v.error, label).not.toContain(t.dataDir);
      expect(v.renditions, label).toEqual([]);
      expect(await attempts(id), `${label}: failed at once, not retried`).toBe(1);
      expect(fs.existsSync(path.join(t.dataDir, 'objects', 'videos', id)), label).toBe(false);
      const playback = (await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url?: string };
      if (playback.url) expect((await fetch(playback.url)).status, label).toBe(404);
    }
  });

  it('a frame above the size limit is refused when probed, with the limit and its setting', async () => {
    const big = await makeClip('e2e-too-wide', { width: 800, height: 200, seconds: 1, audio: false });
    const id = await tusUpload(t, fs.readFileSync(big));
    const v = await settle(id);
    expect(v.status).toBe('failed');
    expect(v.error).toMatch(/frame is 800×200; this server accepts at most 640 pixels on either side/);
    expect(v.error).toContain('REEL_MAX_DIMENSION');
    expect(await attempts(id)).toBe(1);
    expect(fs.existsSync(path.join(t.dataDir, 'objects', 'videos', id))).toBe(false);
  });
});

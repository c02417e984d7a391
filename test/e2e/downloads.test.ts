/**
 * MP4 downloads end to end (issue 13 item 3) in one embedded Reel: a video uploaded with tus metadata
 * `mp4` gets download/{rung}.mp4 and download/audio.m4a, listed on the video with their sizes, served with
 * byte ranges and Content-Disposition; each is a fast-start MP4 (moov before mdat) whose packets are the
 * published segments' own (no re-encode: same packet data hash). A video made without mp4 gets them by
 * PATCH while it stays ready, and loses them by PATCH.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG, FFPROBE, makeRichClip } from '../fixtures/generate.js';
import { parseMasterPlaylist, parseMediaPlaylist, resolveUri } from '../helpers/hls.js';
import { startTestReel, type TestReel, waitFor } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';

const run = promisify(execFile);

interface Download {
  name: string;
  width: number | null;
  height: number | null;
  size: number;
}
interface View {
  id: string;
  status: string;
  mp4: boolean;
  downloads: Download[];
}
interface Probed {
  streams: {
    codec_type: string;
    codec_name: string;
    profile?: string;
    width?: number;
    height?: number;
    channels?: number;
    nb_read_packets?: string;
  }[];
  format: { duration: string };
}

const TITLE = 'Café: "demo"';

async function ffprobe(file: string): Promise<Probed> {
  const { stdout } = await run(FFPROBE, [
    '-v',
    'error',
    '-count_packets',
    '-show_streams',
    '-show_format',
    '-of',
    'json',
    file,
  ]);
  return JSON.parse(stdout) as Probed;
}

/** MD5 of every packet's data of one stream type, as ffmpeg's hash muxer sees them (copied, not decoded). */
async function packetHash(file: string, stream: 'v' | 'a'): Promise<string> {
  const { stdout } = await run(FFMPEG, [
    '-v',
    'error',
    '-i',
    file,
    '-map',
    `0:${stream}:0`,
    '-c',
    'copy',
    '-f',
    'hash',
    '-hash',
    'md5',
    '-',
  ]);
  return stdout.trim();
}

/** The top-level box types of an MP4 file, in order. */
function topLevelBoxes(buf: Buffer): string[] {
  const types: string[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    let size = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    if (size === 1) size = Number(buf.readBigUInt64BE(at + 8));
    else if (size === 0) size = buf.length - at;
    if (size < 8) throw new Error(`bad box size ${size} at ${at}`);
    types.push(type);
    at += size;
  }
  return types;
}

/** GET with the path sent exactly as given (no URL normalisation of `..`). */
function rawGet(base: string, rawPath: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    http
      .get({ host: u.hostname, port: u.port, path: rawPath }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('MP4 downloads', () => {
  let t: TestReel;
  let work: string;
  let source: Probed;
  let withMp4: string;
  let without: string;
  let url: string;
  let otherUrl: string;

  const view = async (id: string) => (await (await t.api(`/v1/videos/${id}`)).json()) as View;
  const playbackUrl = async (id: string) =>
    ((await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string }).url;
  const patch = (id: string, body: unknown, key = t.apiKey) =>
    fetch(`${t.url}/v1/videos/${id}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const ready = (id: string) =>
    waitFor(
      `video ${id} ready`,
      async () => {
        const v = await view(id);
        if (v.status === 'failed') throw new Error('the video failed');
        return v.status === 'ready' ? v : undefined;
      },
      60_000,
      100,
    );

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-downloads-'));
    const clip = await makeRichClip({ seconds: 6 });
    source = await ffprobe(clip);
    // Private networks allowed: an import is created (and deleted) to check its mp4.
    t = await startTestReel({ ladder: '360,240', 'allow-private-networks': 'true' });
    const data = fs.readFileSync(clip);
    [withMp4, without] = await Promise.all([
      tusUpload(t, data, { filename: 'rich.mp4', title: TITLE, mp4: 'true' }),
      tusUpload(t, data, { filename: 'plain.mp4' }),
    ]);
    await Promise.all([ready(withMp4), ready(without)]);
    url = await playbackUrl(withMp4);
    otherUrl = await playbackUrl(without);
  }, 90_000);
  afterAll(async () => {
    await t?.close();
    if (t) fs.rmSync(t.dataDir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists every rung and the audio, served with the listed size, fast start, streams copied', async () => {
    const v = await view(withMp4);
    expect(v.mp4).toBe(true);
    expect(v.downloads.map((d) => [d.name, d.width, d.height])).toEqual([
      ['360p', 640, 360],
      ['240p', 426, 240],
      ['audio', null, null],
    ]);
    const sourceSeconds = Number(source.format.duration);
    const sourceAudio = source.streams.find((s) => s.codec_type === 'audio')!;
    const master = parseMasterPlaylist(await (await fetch(url)).text());

    // Each download checked at the same time as the others (ffprobe and ffmpeg runs).
    const check = async (d: Download) => {
      const file = d.name === 'audio' ? 'download/audio.m4a' : `download/${d.name}.mp4`;
      const res = await fetch(new URL(file, url));
      expect(res.status, file).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(Number(res.headers.get('content-length'))).toBe(d.size);
      expect(body.length).toBe(d.size);
      expect(res.headers.get('content-type')).toBe(d.name === 'audio' ? 'audio/mp4' : 'video/mp4');
      const ext = d.name === 'audio' ? 'm4a' : 'mp4';
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="Cafe demo-${d.name}.${ext}"; filename*=UTF-8''Caf%C3%A9%20demo-${d.name}.${ext}`,
      );
      const boxes = topLevelBoxes(body);
      expect(boxes.indexOf('moov'), `${file}: ${boxes.join(' ')}`).toBeGreaterThan(-1);
      expect(boxes.indexOf('moov'), `${file}: moov before mdat`).toBeLessThan(boxes.indexOf('mdat'));
      expect(boxes, 'not fragmented').not.toContain('moof');
      const local = path.join(work, path.basename(file));
      fs.writeFileSync(local, body);
      const p = await ffprobe(local);
      expect(Math.abs(Number(p.format.duration) - sourceSeconds), file).toBeLessThanOrEqual(0.1);
      const video = p.streams.filter((s) => s.codec_type === 'video');
      const audio = p.streams.filter((s) => s.codec_type === 'audio');
      expect(audio.map((s) => s.channels)).toEqual([sourceAudio.channels]);

      // The published renditions it was made of, as a player reads them: init + segments, one fMP4 stream.
      const published = async (variantUri: string) => {
        const playlistUrl = resolveUri(url, variantUri);
        const media = parseMediaPlaylist(await (await fetch(playlistUrl)).text());
        const parts = [media.map!, ...media.segments.map((s) => s.uri)];
        const bufs = await Promise.all(
          parts.map(async (u) => Buffer.from(await (await fetch(resolveUri(playlistUrl, u))).arrayBuffer())),
        );
        const out = path.join(work, `${path.basename(file)}.${variantUri.replace(/\W/g, '_')}.fmp4`);
        fs.writeFileSync(out, Buffer.concat(bufs));
        return out;
      };
      const audioUri = master.media.find((m) => m['TYPE'] === 'AUDIO' && m['DEFAULT'] === 'YES')!['URI']!;
      const audioStream = await published(audioUri);
      expect(await packetHash(local, 'a'), `${file}: audio packets copied`).toBe(
        await packetHash(audioStream, 'a'),
      );
      if (d.name === 'audio') {
        expect(video).toEqual([]);
        return;
      }
      expect(video.map((s) => [s.width, s.height])).toEqual([[d.width, d.height]]);
      const variant = master.variants.find((x) => x.attributes['RESOLUTION'] === `${d.width}x${d.height}`)!;
      const rung = await published(variant.uri);
      const r = (await ffprobe(rung)).streams.find((s) => s.codec_type === 'video')!;
      expect([video[0]!.codec_name, video[0]!.profile]).toEqual([r.codec_name, r.profile]);
      expect(video[0]!.nb_read_packets).toBe(r.nb_read_packets);
      expect(await packetHash(local, 'v'), `${file}: video packets copied`).toBe(await packetHash(rung, 'v'));
    };
    await Promise.all(v.downloads.map(check));
  });

  it('answers byte ranges of a download, and refuses one past its end', async () => {
    const d = (await view(withMp4)).downloads[0]!;
    const part = await fetch(new URL('download/360p.mp4', url), { headers: { Range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 0-99/${d.size}`);
    expect((await part.arrayBuffer()).byteLength).toBe(100);
    const past = await fetch(new URL('download/360p.mp4', url), {
      headers: { Range: `bytes=${d.size}-${d.size + 100}` },
    });
    expect(past.status).toBe(416);
    await past.arrayBuffer();
  });

  it('a video made without mp4 has none; PATCH mp4: true makes them while it stays ready; false removes them', async () => {
    const before = await view(without);
    expect([before.mp4, before.downloads]).toEqual([false, []]);
    const missing = await fetch(new URL('download/360p.mp4', otherUrl));
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();

    const res = await patch(without, { mp4: true });
    expect(res.status).toBe(200);
    expect(((await res.json()) as View).mp4).toBe(true);
    const statuses = new Set<string>();
    const made = await waitFor(
      'downloads made after PATCH',
      async () => {
        const v = await view(without);
        statuses.add(v.status);
        return v.downloads.length > 0 ? v : undefined;
      },
      30_000,
      50,
    );
    expect(statuses, 'ready all along').toEqual(new Set(['ready']));
    expect(made.downloads.map((d) => d.name)).toEqual(['360p', '240p', 'audio']);
    const got = await fetch(new URL('download/240p.mp4', otherUrl));
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(made.downloads[1]!.size);

    const off = await patch(without, { mp4: false });
    expect(off.status).toBe(200);
    expect(((await off.json()) as View).downloads).toEqual([]);
    expect((await view(without)).downloads).toEqual([]);
    for (const file of ['download/360p.mp4', 'download/audio.m4a']) {
      const gone = await fetch(new URL(file, otherUrl));
      expect(gone.status, file).toBe(404);
      await gone.arrayBuffer();
    }
  });

  it('refuses a read-scope key, another video’s token, path tricks and a non-boolean mp4', async () => {
    const keyRes = await t.api('/v1/keys', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
    });
    expect(keyRes.status).toBe(201);
    const reader = ((await keyRes.json()) as { key: string }).key;
    expect((await patch(withMp4, { mp4: false }, reader)).status).toBe(403);

    // The other video's token, on this video's download.
    const otherToken = new URL(otherUrl).pathname.split('/')[3]!;
    const stolen = await fetch(`${t.url}/play/${withMp4}/${otherToken}/download/360p.mp4`);
    expect(stolen.status).toBe(403);
    await stolen.arrayBuffer();

    const token = new URL(url).pathname.split('/')[3]!;
    for (const trick of [
      'download/../../x',
      'download/..%2F..%2Fx',
      'download/%2e%2e/360p/init.mp4',
      'download/360p.mp4/../x',
      'download/360p.m4s',
      'download/360p.mp4%00.mp4',
    ])
      expect(await rawGet(t.url, `/play/${withMp4}/${token}/${trick}`), trick).toBe(404);

    const bad = await patch(withMp4, { mp4: 'yes' });
    expect(bad.status).toBe(400);
    await expect(tusUpload(t, Buffer.alloc(100), { filename: 'x.mp4', mp4: 'yes' })).rejects.toThrow(/mp4/);
    // Still listed after the refusals.
    expect((await view(withMp4)).downloads).toHaveLength(3);
  });

  it('takes mp4 on the other creation paths: an import, an upload link', async () => {
    const imported = await t.api('/v1/videos', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/clip.mp4', mp4: true }),
    });
    expect(imported.status).toBe(201);
    const iv = (await imported.json()) as View;
    expect([iv.mp4, iv.downloads]).toEqual([true, []]);
    expect((await t.api(`/v1/videos/${iv.id}`, { method: 'DELETE' })).status).toBe(204);
    const link = await t.api('/v1/uploads/links', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ mp4: true }),
    });
    expect(link.status).toBe(201);
    const { videoId } = (await link.json()) as { videoId: string };
    expect((await view(videoId)).mp4).toBe(true);
    const refused = await t.api('/v1/videos', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/clip.mp4', mp4: 'yes' }),
    });
    expect(refused.status).toBe(400);
    await refused.arrayBuffer();
  });

  it('/docs shows mp4 and downloads on the video, and mp4 on the creation paths and PATCH', async () => {
    type Schema = { properties: Record<string, { type?: unknown; items?: Schema }> };
    type Op = { requestBody?: { content: Record<string, { schema: Schema }> } };
    const doc = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, Op>>;
      components: { schemas: Record<string, Schema> };
    };
    const video = doc.components.schemas.Video!.properties;
    expect(video.mp4?.type).toBe('boolean');
    expect(Object.keys(video.downloads?.items?.properties ?? {}).sort()).toEqual([
      'height',
      'name',
      'size',
      'width',
    ]);
    const body = (op: Op | undefined) => op?.requestBody?.content['application/json']?.schema.properties;
    expect(body(doc.paths['/v1/videos/{id}']?.patch)?.mp4?.type).toBe('boolean');
    expect(body(doc.paths['/v1/videos']?.post)?.mp4?.type).toBe('boolean');
    expect(body(doc.paths['/v1/uploads/links']?.post)?.mp4?.type).toBe('boolean');
  });
});

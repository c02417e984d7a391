import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type TranscodeResult, transcodeToHls } from '../../src/media/pipeline.js';
import {
  makeAudioOnly,
  makeClip,
  makeContainerClip,
  makeEmptyFile,
  makeLyingDuration,
  makeReferencingSource,
  makeStillImage,
  makeTextFile,
  makeTruncated,
  type ReferencingKind,
  STANDARD_CLIPS,
} from '../fixtures/generate.js';
import {
  parseMasterPlaylist,
  parseMediaPlaylist,
  probeAudioRendition,
  probeRendition,
  type RenditionProbe,
  recomputeVariantBitrates,
} from '../helpers/hls.js';
import { childProcesses, cornerLuma, expectReelError, settings } from './support.js';

const workDirs: string[] = [];
async function outDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'reel-media-'));
  workDirs.push(dir);
  return path.join(dir, 'out');
}
afterAll(async () => {
  await Promise.all(workDirs.map((d) => rm(d, { recursive: true, force: true })));
});

const clip = (name: keyof typeof STANDARD_CLIPS & string) => makeClip(name, STANDARD_CLIPS[name]!);

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Probes every rendition; checks sizes, keyframes every 2 s at the same times everywhere, duration, no rotation. */
async function checkRenditions(
  out: string,
  result: TranscodeResult,
  sourceSec: number,
): Promise<RenditionProbe[]> {
  const probes: RenditionProbe[] = [];
  for (const r of result.renditions) {
    const p = await probeRendition(path.join(out, r.name, 'index.m3u8'));
    probes.push(p);
    expect({ name: r.name, width: p.width, height: p.height }).toEqual({
      name: r.name,
      width: r.width,
      height: r.height,
    });
    expect(p.pixFmt).toBe('yuv420p');
    expect(p.rotation, `${r.name} carries no rotation`).toBe(0);
    expect(Math.abs(p.durationSec - sourceSec), `${r.name} duration ${p.durationSec}`).toBeLessThanOrEqual(
      0.2,
    );
    const first = p.keyframeTimes[0]!;
    expect(first).toBeLessThan(0.1);
    const gaps = p.keyframeTimes.slice(1).map((t, i) => t - p.keyframeTimes[i]!);
    for (const g of gaps) expect(Math.abs(g - 2), `${r.name} keyframe gaps ${gaps}`).toBeLessThan(0.05);
    expect(p.keyframeTimes.length).toBe(Math.ceil(sourceSec / 2 - 0.01));

    const media = parseMediaPlaylist(await readFile(path.join(out, r.name, 'index.m3u8'), 'utf8'));
    expect(media.map).toBe('init.mp4');
    expect(media.endList).toBe(true);
    expect(media.playlistType).toBe('VOD');
    expect(media.independentSegments).toBe(true);
    for (const s of media.segments.slice(0, -1)) {
      expect(s.duration).toBeGreaterThanOrEqual(4 - 0.01);
      expect(s.duration).toBeLessThanOrEqual(6);
    }
  }
  // Same keyframe instants in every rendition: players can switch at any of them.
  for (const p of probes.slice(1)) {
    expect(p.keyframeTimes.length).toBe(probes[0]!.keyframeTimes.length);
    p.keyframeTimes.forEach((t, i) => {
      expect(Math.abs(t - probes[0]!.keyframeTimes[i]!)).toBeLessThan(0.001);
    });
  }
  return probes;
}

/**
 * BANDWIDTH within 2% of RFC 8216's peak segment bit rate and AVERAGE-BANDWIDTH within 10% of the
 * average, both recomputed independently from segment sizes; and no segment is a sliver (21 ms of audio).
 */
async function checkBandwidth(out: string) {
  const variants = await recomputeVariantBitrates(path.join(out, 'master.m3u8'));
  expect(variants.length).toBeGreaterThan(0);
  for (const v of variants) {
    expect(Math.abs(v.declared.bandwidth - v.measured.rfcPeak) / v.measured.rfcPeak, v.uri).toBeLessThan(
      0.02,
    );
    expect(Math.abs(v.declared.average - v.measured.average) / v.measured.average, v.uri).toBeLessThan(0.1);
    expect(v.declared.bandwidth).toBeGreaterThanOrEqual(v.declared.average);
  }
}

describe('transcodeToHls (real ffmpeg)', () => {
  it('1280×720 with audio → 720p/480p/240p + audio, aligned keyframes, measured master playlist', async () => {
    const out = await outDir();
    const progress: number[] = [];
    const result = await transcodeToHls({
      input: await clip('land-720p'),
      outDir: out,
      settings: settings([720, 480, 240]),
      onProgress: (f) => progress.push(f),
    });
    expect(result.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      '720p 1280x720',
      '480p 854x480',
      '240p 426x240',
    ]);
    expect(result.source.hasAudio).toBe(true);
    expect(result.plan.audio).not.toBeNull();

    const tree = await listTree(out);
    for (const dir of ['720p', '480p', '240p', 'audio']) {
      expect(tree).toEqual(
        expect.arrayContaining([
          `${dir}/index.m3u8`,
          `${dir}/init.mp4`,
          `${dir}/seg_00000.m4s`,
          `${dir}/seg_00001.m4s`,
        ]),
      );
    }
    expect(tree).toEqual(expect.arrayContaining(['master.m3u8', 'poster.jpg']));
    expect(
      tree.filter((f) => !/^(720p|480p|240p|audio)\/(index\.m3u8|init\.mp4|seg_\d{5}\.m4s)$/.test(f)),
    ).toEqual(['master.m3u8', 'poster.jpg']);

    const probes = await checkRenditions(out, result, 6);
    for (const p of probes) {
      expect(p.profile).toBe('High');
      expect(p.hasAudio).toBe(false);
    }

    const audio = await probeAudioRendition(path.join(out, 'audio', 'index.m3u8'));
    expect(audio).toMatchObject({
      codec: 'aac',
      profile: 'LC',
      channels: 2,
      sampleRate: 48000,
      hasVideo: false,
    });
    expect(Math.abs(audio.durationSec - 6)).toBeLessThanOrEqual(0.2);
    // Audio ends with the video: its last AAC frame (21 ms) is not a segment of its own.
    const audioSegments = parseMediaPlaylist(
      await readFile(path.join(out, 'audio', 'index.m3u8'), 'utf8'),
    ).segments;
    expect(audioSegments.map((s) => Math.round(s.duration))).toEqual([4, 2]);
    expect(audioSegments.every((s) => s.duration > 1)).toBe(true);

    const master = parseMasterPlaylist(await readFile(path.join(out, 'master.m3u8'), 'utf8'));
    expect(master.version).toBe(7);
    expect(master.independentSegments).toBe(true);
    expect(master.media).toEqual([
      expect.objectContaining({ TYPE: 'AUDIO', 'GROUP-ID': 'aud', CHANNELS: '2', URI: 'audio/index.m3u8' }),
    ]);
    expect(master.variants.map((v) => v.uri)).toEqual([
      '720p/index.m3u8',
      '480p/index.m3u8',
      '240p/index.m3u8',
    ]);
    master.variants.forEach((v, i) => {
      const r = result.renditions[i]!;
      const p = probes[i]!;
      expect(v.attributes).toMatchObject({
        BANDWIDTH: String(r.bandwidth),
        'AVERAGE-BANDWIDTH': String(r.averageBandwidth),
        RESOLUTION: `${r.width}x${r.height}`,
        'FRAME-RATE': '30.000',
        AUDIO: 'aud',
      });
      // CODECS from the actual encode: High (0x64), no constraint flags, the level x264 chose
      const level = p.level.toString(16).toUpperCase().padStart(2, '0');
      expect(v.attributes['CODECS']).toBe(`avc1.6400${level},mp4a.40.2`);
      expect(r.codecs).toBe(v.attributes['CODECS']);
      expect(r.frameRate).toBe(30);
    });
    await checkBandwidth(out);

    const poster = await probeRendition(path.join(out, 'poster.jpg'));
    expect([poster.width, poster.height]).toEqual([1280, 720]);

    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((f) => f >= 0 && f <= 1)).toBe(true);
    expect(progress.at(-1)).toBeGreaterThan(0.95);
  });

  it('1920×1080 without audio → a 1080p rung, video-only renditions, no audio group', async () => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await clip('land-1080p-silent'),
      outDir: out,
      settings: settings([1080, 240], 'ultrafast'),
    });
    expect(result.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      '1080p 1920x1080',
      '240p 426x240',
    ]);
    expect(result.plan.audio).toBeNull();
    await checkRenditions(out, result, 4);
    const tree = await listTree(out);
    expect(tree.some((f) => f.startsWith('audio/'))).toBe(false);

    const text = await readFile(path.join(out, 'master.m3u8'), 'utf8');
    const master = parseMasterPlaylist(text);
    expect(master.media).toEqual([]);
    expect(text).not.toContain('AUDIO=');
    expect(text).not.toContain('mp4a');
    expect(master.variants.map((v) => v.attributes['RESOLUTION'])).toEqual(['1920x1080', '426x240']);
    for (const v of master.variants) expect(v.attributes['CODECS']).toMatch(/^avc1\.[0-9A-F]{6}$/);
    await checkBandwidth(out);

    const poster = await probeRendition(path.join(out, 'poster.jpg'));
    expect([poster.width, poster.height]).toEqual([1280, 720]);
  });

  it('a portrait source stays portrait', async () => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await clip('portrait-360x640'),
      outDir: out,
      settings: settings([720, 360, 240], 'ultrafast'),
    });
    expect(result.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      '360p 360x640',
      '240p 240x426',
    ]);
    await checkRenditions(out, result, 6);
  });

  it('a phone clip rotated 90° comes out portrait, turned the right way, with no rotation metadata', async () => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await clip('phone-rotated'),
      outDir: out,
      settings: settings([360, 240], 'ultrafast'),
    });
    expect(result.source).toMatchObject({ width: 640, height: 360, rotation: 90 });
    expect(result.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      '360p 360x640',
      '240p 240x426',
    ]);
    await checkRenditions(out, result, 6);
    const master = parseMasterPlaylist(await readFile(path.join(out, 'master.m3u8'), 'utf8'));
    expect(master.variants.map((v) => v.attributes['RESOLUTION'])).toEqual(['360x640', '240x426']);
    // testsrc2 draws its dark timestamp box top left; turned 90° clockwise it must be top right.
    const [, topRight, bottomLeft] = await cornerLuma(path.join(out, 'poster.jpg'), 9, 16);
    expect(topRight).toBeLessThan(bottomLeft - 50);
  });

  it('a 10-bit source becomes 8-bit yuv420p H.264 High', async () => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await clip('ten-bit'),
      outDir: out,
      settings: settings([360, 240]),
    });
    const probes = await checkRenditions(out, result, 4);
    for (const p of probes) expect(p.profile).toBe('High');
    for (const r of result.renditions) expect(r.codecs).toMatch(/^avc1\.6400[0-9A-F]{2}$/);
  });

  it('a variable-frame-rate source is encoded at a constant rate with regular keyframes', async () => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await clip('vfr'),
      outDir: out,
      settings: settings([360, 240], 'ultrafast'),
    });
    expect(result.plan.fps).toBe(24000 / 1001);
    const probes = await checkRenditions(out, result, 6);
    for (const p of probes) expect(p.frameRate).toBeCloseTo(23.976, 2);
    const master = parseMasterPlaylist(await readFile(path.join(out, 'master.m3u8'), 'utf8'));
    for (const v of master.variants) expect(v.attributes['FRAME-RATE']).toBe('23.976');
    await checkBandwidth(out);
  });

  it('a source below the lowest rung gets one rendition at its own size', async () => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await clip('tiny'),
      outDir: out,
      settings: settings([1080, 720, 480, 240]),
    });
    expect(result.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual(['120p 160x120']);
    await checkRenditions(out, result, 2);
    expect((await listTree(out)).filter((f) => f.startsWith('120p/'))).toEqual([
      '120p/index.m3u8',
      '120p/init.mp4',
      '120p/seg_00000.m4s',
    ]);
  });
});

describe('transcodeToHls: bad sources fail permanently with the right code', () => {
  const run = async (input: string) =>
    transcodeToHls({ input, outDir: await outDir(), settings: settings([240]) });

  it('0 bytes → REEL_EMPTY_SOURCE', async () => {
    await expectReelError(run(await makeEmptyFile()), 'REEL_EMPTY_SOURCE', true);
  });
  it('a text file → REEL_NOT_MEDIA', async () => {
    await expectReelError(run(await makeTextFile()), 'REEL_NOT_MEDIA', true);
  });
  it('a JPEG → REEL_NOT_MEDIA', async () => {
    await expectReelError(run(await makeStillImage()), 'REEL_NOT_MEDIA', true);
  });
  it('audio only → REEL_NO_VIDEO_STREAM', async () => {
    await expectReelError(run(await makeAudioOnly()), 'REEL_NO_VIDEO_STREAM', true);
  });
  it('cut in half, index at the end → REEL_NOT_MEDIA', async () => {
    await expectReelError(run(await makeTruncated('moov-last')), 'REEL_NOT_MEDIA', true);
  });
  it('cut in half, index first (faststart) → REEL_TRUNCATED_SOURCE, saying where it stops', async () => {
    const input = await makeTruncated('moov-first');
    const err = await expectReelError(run(input), 'REEL_TRUNCATED_SOURCE', true);
    expect(err.message).toMatch(/stops at \d+\.\d s of the 6\.0 s/);
    expect(err.message).not.toContain(input);
  });
});

describe('transcodeToHls: a source that names other files publishes nothing of them', () => {
  const kinds: ReferencingKind[] = ['hls-absolute', 'hls-relative', 'concat', 'concat-image2', 'dash'];
  it.each(kinds)('%s → REEL_UNSUPPORTED_FORMAT, no ffmpeg run, no output', async (kind) => {
    // The file on the server's disk the upload points at: a whole video another user published.
    const secret = await makeClip('hostile-secret', { width: 320, height: 180, seconds: 2, audio: false });
    const out = await outDir();
    const err = await expectReelError(
      transcodeToHls({
        input: await makeReferencingSource(kind, secret),
        outDir: out,
        settings: settings([240]),
      }),
      'REEL_UNSUPPORTED_FORMAT',
      true,
    );
    expect(err.message).toMatch(/not a video: it only names other files/);
    expect(await listTree(out).catch(() => [])).toEqual([]);
  });

  it.each(['mkv', 'webm', 'avi', 'ts'] as const)('a %s source is still transcoded', async (container) => {
    const out = await outDir();
    const result = await transcodeToHls({
      input: await makeContainerClip(container),
      outDir: out,
      settings: settings([240], 'ultrafast'),
    });
    expect(result.renditions.map((r) => `${r.width}x${r.height}`)).toEqual(['320x180']);
    expect(result.plan.audio).not.toBeNull();
    const p = await probeRendition(path.join(out, result.renditions[0]!.name, 'index.m3u8'));
    expect(Math.abs(p.durationSec - 2)).toBeLessThanOrEqual(0.2);
  });
});

describe('transcodeToHls: processing limits', () => {
  const limits = { maxDurationSeconds: 12 * 3600, maxDimension: 4096, maxPixels: 4096 * 2176 };
  const limited = async (input: string, extra: Partial<typeof limits>) => {
    const out = await outDir();
    const p = transcodeToHls({
      input,
      outDir: out,
      settings: { ...settings([240]), limits: { ...limits, ...extra } },
    });
    return { p, out };
  };

  it('a 16 KB MKV whose container claims 10 hours is refused when probed, before any transcoding', async () => {
    const { p, out } = await limited(await makeLyingDuration(10), {});
    const err = await expectReelError(p, 'REEL_IMPLAUSIBLE_DURATION', true);
    expect(err.message).toMatch(/claims to last 10 h but holds only \d+ bytes/);
    expect(await listTree(out).catch(() => [])).toEqual([]);
  });

  it('a source longer than the limit is refused with its duration and the limit', async () => {
    const { p } = await limited(await clip('tiny'), { maxDurationSeconds: 1 });
    const err = await expectReelError(p, 'REEL_SOURCE_TOO_LONG', true);
    expect(err.message).toContain('The video is 2 s long; this server accepts at most 1 s');
  });

  it('a frame above the size or pixel limit is refused (limits set low: 320 px, 0.05 Mpixel)', async () => {
    const wide = await limited(await clip('portrait-360x640'), { maxDimension: 320 });
    const e1 = await expectReelError(wide.p, 'REEL_FRAME_TOO_LARGE', true);
    expect(e1.message).toContain("The video's frame is 360×640; this server accepts at most 320 pixels");
    const area = await limited(await clip('tiny'), { maxPixels: 160 * 120 - 1 });
    await expectReelError(area.p, 'REEL_FRAME_TOO_LARGE', true);
    // within the limits, the same machinery passes
    const ok = await limited(await clip('tiny'), { maxDimension: 160, maxPixels: 160 * 120 });
    expect((await ok.p).renditions).toHaveLength(1);
  });

  it('past its time budget ffmpeg is killed and the attempt fails with the reason, leaving no process', async () => {
    const input = await clip('abort-long');
    const t0 = Date.now();
    const err = await expectReelError(
      transcodeToHls({
        input,
        outDir: await outDir(),
        settings: { ...settings([720, 480, 240]), budget: { floorSeconds: 1.5, factor: 0 } },
      }),
      'REEL_TIME_BUDGET_EXCEEDED',
      true,
    );
    // probe + 1.5 s of ffmpeg, then a prompt kill (the whole encode takes far longer)
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(err.message).toContain('Processing was stopped after 1.5 s, the time allowed for a 30 s video');
    expect(await childProcesses()).toEqual([]);
  });
});

describe('transcodeToHls: operations', () => {
  it('aborting kills ffmpeg within a second, rejects with the reason, leaves no process', async () => {
    const ac = new AbortController();
    let started = false;
    const p = transcodeToHls({
      input: await clip('abort-long'),
      outDir: await outDir(),
      settings: settings([720, 480, 240]),
      signal: ac.signal,
      onProgress: () => {
        started = true;
      },
    }).catch((e: unknown) => e);
    const deadline = Date.now() + 20_000;
    while (!started && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(started, 'ffmpeg reported progress').toBe(true);
    expect((await childProcesses()).some((l) => l.endsWith('ffmpeg'))).toBe(true);

    const reason = new Error('lease lost');
    const t0 = Date.now();
    ac.abort(reason);
    expect(await p).toBe(reason);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await childProcesses()).toEqual([]);
  });

  it('a missing ffmpeg → REEL_FFMPEG_MISSING (not permanent: the operator can fix it)', async () => {
    const err = await expectReelError(
      transcodeToHls({
        input: await clip('tiny'),
        outDir: await outDir(),
        settings: { ...settings([240]), ffmpegPath: '/nonexistent/ffmpeg' },
      }),
      'REEL_FFMPEG_MISSING',
      false,
    );
    expect(err.message).toContain('/nonexistent/ffmpeg');
  });
});

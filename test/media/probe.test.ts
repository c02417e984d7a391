import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSource, probe, rotationOf } from '../../src/media/probe.js';
import {
  FFPROBE,
  FIXTURES_DIR,
  makeAudioOnly,
  makeClip,
  makeContainerClip,
  makeEmptyFile,
  makeReferencingSource,
  makeStillImage,
  makeTextFile,
  makeTruncated,
  type OTHER_CONTAINERS,
  type ReferencingKind,
  STANDARD_CLIPS,
} from '../fixtures/generate.js';
import { expectReelError } from './support.js';

const opts = { ffprobePath: FFPROBE };

describe('probe (real ffprobe)', () => {
  it('describes a landscape clip with audio', async () => {
    const info = await probe(await makeClip('land-720p', STANDARD_CLIPS['land-720p']!), opts);
    expect(info).toMatchObject({
      width: 1280,
      height: 720,
      rotation: 0,
      displayWidth: 1280,
      displayHeight: 720,
      fps: 30,
      pixFmt: 'yuv420p',
      videoCodec: 'h264',
      hasAudio: true,
    });
    expect(Math.abs(info.durationMs - 6000)).toBeLessThanOrEqual(50);
    expect(info.videoBitRate).toBeGreaterThan(100_000);
  });

  it('a phone clip rotated 90° clockwise is portrait for the viewer', async () => {
    const info = await probe(await makeClip('phone-rotated', STANDARD_CLIPS['phone-rotated']!), opts);
    expect(info).toMatchObject({
      width: 640,
      height: 360,
      rotation: 90,
      displayWidth: 360,
      displayHeight: 640,
    });
  });

  it('reads 180° and 270° rotations too', async () => {
    const r180 = await probe(
      await makeClip('rot180', { width: 160, height: 90, seconds: 1, audio: false, rotate: 180 }),
      opts,
    );
    expect(r180).toMatchObject({ rotation: 180, displayWidth: 160, displayHeight: 90 });
    const r270 = await probe(
      await makeClip('rot270', { width: 160, height: 90, seconds: 1, audio: false, rotate: 270 }),
      opts,
    );
    expect(r270).toMatchObject({ rotation: 270, displayWidth: 90, displayHeight: 160 });
  });

  it('reports 10-bit, silent and variable-frame-rate sources as they are', async () => {
    const tenBit = await probe(await makeClip('ten-bit', STANDARD_CLIPS['ten-bit']!), opts);
    expect(tenBit.pixFmt).toBe('yuv420p10le');
    expect(tenBit.hasAudio).toBe(false);
    const vfr = await probe(await makeClip('vfr', STANDARD_CLIPS['vfr']!), opts);
    // 30 fps with frames 3 mod 7 and 5 mod 11 dropped: about 23.5 frames a second on average
    expect(vfr.fps).toBeGreaterThan(22);
    expect(vfr.fps).toBeLessThan(25);
  });

  it('a 0-byte file → REEL_EMPTY_SOURCE', async () => {
    await expectReelError(probe(await makeEmptyFile(), opts), 'REEL_EMPTY_SOURCE', true);
  });

  it('a text file → REEL_NOT_MEDIA, and the message shows no server path', async () => {
    const file = await makeTextFile();
    const err = await expectReelError(probe(file, opts), 'REEL_NOT_MEDIA', true);
    expect(err.message).toContain('Invalid data found when processing input');
    expect(err.message).not.toContain(file);
    expect(err.message).toMatch(/Upload a video file/);
  });

  it('a JPEG photo → REEL_NOT_MEDIA saying it is a still image', async () => {
    const err = await expectReelError(probe(await makeStillImage(), opts), 'REEL_NOT_MEDIA', true);
    expect(err.message).toContain('still image');
  });

  it('audio only → REEL_NO_VIDEO_STREAM', async () => {
    await expectReelError(probe(await makeAudioOnly(), opts), 'REEL_NO_VIDEO_STREAM', true);
  });

  it('an MP4 cut in half with its index at the end → REEL_NOT_MEDIA', async () => {
    const err = await expectReelError(probe(await makeTruncated('moov-last'), opts), 'REEL_NOT_MEDIA', true);
    expect(err.message).toMatch(/moov atom not found|Invalid data/);
  });

  it('a missing ffprobe → REEL_FFMPEG_MISSING naming the binary', async () => {
    const clip = await makeClip('tiny', STANDARD_CLIPS['tiny']!);
    const err = await expectReelError(
      probe(clip, { ffprobePath: '/nonexistent/ffprobe' }),
      'REEL_FFMPEG_MISSING',
    );
    expect(err.message).toContain('/nonexistent/ffprobe');
  });
});

describe('describeSource and rotationOf (pure)', () => {
  const video = {
    codec_type: 'video',
    codec_name: 'h264',
    width: 1920,
    height: 1080,
    pix_fmt: 'yuv420p',
    avg_frame_rate: '30000/1001',
    r_frame_rate: '30000/1001',
    bit_rate: '8000000',
  };

  it('turns the display matrix (counterclockwise) and the rotate tag (clockwise) into clockwise degrees', () => {
    expect(rotationOf({ side_data_list: [{ rotation: -90 }] })).toBe(90);
    expect(rotationOf({ side_data_list: [{ rotation: 90 }] })).toBe(270);
    expect(rotationOf({ side_data_list: [{ rotation: -180 }] })).toBe(180);
    expect(rotationOf({ side_data_list: [{ rotation: 180 }] })).toBe(180);
    expect(rotationOf({ side_data_list: [{ rotation: 270 }] })).toBe(90);
    expect(rotationOf({ side_data_list: [{ rotation: -89.99 }] })).toBe(90);
    expect(rotationOf({ tags: { rotate: '90' } })).toBe(90);
    expect(rotationOf({ tags: { rotate: '270' } })).toBe(270);
    expect(rotationOf({})).toBe(0);
    expect(rotationOf({ side_data_list: [{ rotation: -90 }], tags: { rotate: '180' } })).toBe(90);
  });

  it('uses avg_frame_rate, falls back to r_frame_rate and to the stream duration', () => {
    const info = describeSource({
      streams: [{ ...video, avg_frame_rate: '0/0', r_frame_rate: '25/1', duration: '3.5' }],
      format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2' },
    });
    expect(info.fps).toBe(25);
    expect(info.durationMs).toBe(3500);
    expect(info.hasAudio).toBe(false);
    expect(info.videoBitRate).toBe(8_000_000);
  });

  it('applies a non-square sample aspect ratio to the display size', () => {
    const info = describeSource({
      streams: [{ ...video, width: 720, height: 576, sample_aspect_ratio: '64:45' }],
      format: { format_name: 'matroska,webm', duration: '2' },
    });
    expect(info.displayWidth).toBe(1024);
    expect(info.displayHeight).toBe(576);
  });

  it('audio with cover art has no video stream; a file with no streams is not media', () => {
    expect(() =>
      describeSource({
        streams: [
          { codec_type: 'audio', codec_name: 'mp3' },
          {
            codec_type: 'video',
            codec_name: 'mjpeg',
            width: 500,
            height: 500,
            disposition: { attached_pic: 1 },
          },
        ],
        format: { format_name: 'mp3', duration: '100' },
      }),
    ).toThrowError(expect.objectContaining({ code: 'REEL_NO_VIDEO_STREAM' }));
    expect(() => describeSource({ streams: [], format: {} })).toThrowError(
      expect.objectContaining({ code: 'REEL_NOT_MEDIA' }),
    );
  });

  it('reads the Matroska BPS tag when the stream has no bit_rate', () => {
    const { bit_rate: _, ...noRate } = video;
    const info = describeSource({
      streams: [{ ...noRate, tags: { 'BPS-eng': '1234567' } }],
      format: { format_name: 'matroska,webm', duration: '2' },
    });
    expect(info.videoBitRate).toBe(1_234_567);
  });
});

describe('probe: a source is opened only as a self-contained container', () => {
  /** Another file on the server's disk that a hostile upload tries to have read. */
  const secret = () => makeClip('hostile-secret', { width: 320, height: 180, seconds: 2, audio: false });

  const named: [ReferencingKind, RegExp][] = [
    ['hls-absolute', /is an HLS playlist \(\.m3u8\), not a video/],
    ['hls-relative', /is an HLS playlist \(\.m3u8\), not a video/],
    ['concat', /is an ffmpeg concat list, not a video/],
    ['concat-image2', /is an ffmpeg concat list, not a video/],
    ['dash', /is a DASH manifest \(\.mpd\), not a video/],
  ];
  it.each(named)(
    '%s naming another local file → REEL_UNSUPPORTED_FORMAT saying what it is',
    async (kind, what) => {
      const file = await makeReferencingSource(kind, await secret());
      const err = await expectReelError(probe(file, opts), 'REEL_UNSUPPORTED_FORMAT', true);
      expect(err.message).toMatch(what);
      expect(err.message).toMatch(
        /never opens files named inside an upload\. Upload the video file itself \(MP4\/MOV, MKV\/WebM/,
      );
      expect(err.message).not.toContain(FIXTURES_DIR);
    },
  );

  it('a still image named like a video (no extension) → REEL_NOT_MEDIA saying it is a still image', async () => {
    const jpeg = await makeStillImage();
    const copy = path.join(FIXTURES_DIR, 'hostile', 'photo-without-extension');
    const { copyFile, mkdir } = await import('node:fs/promises');
    await mkdir(path.dirname(copy), { recursive: true });
    await copyFile(jpeg, copy);
    const err = await expectReelError(probe(copy, opts), 'REEL_NOT_MEDIA', true);
    expect(err.message).toContain('still image (jpeg_pipe)');
  });

  const containers: [keyof typeof OTHER_CONTAINERS, string][] = [
    ['mkv', 'matroska'],
    ['webm', 'matroska'],
    ['avi', 'avi'],
    ['ts', 'mpegts'],
    ['flv', 'flv'],
    ['mpg', 'mpeg'],
    ['wmv', 'asf'],
  ];
  it.each(containers)('a %s file is read with the %s demuxer', async (container, demuxer) => {
    const info = await probe(await makeContainerClip(container), opts);
    expect(info).toMatchObject({ demuxer, width: 320, height: 180, hasAudio: true });
    expect(Math.abs(info.durationMs - 2000)).toBeLessThan(150);
  });

  it('an MP4 is read with the mov demuxer', async () => {
    const info = await probe(await makeClip('tiny', STANDARD_CLIPS['tiny']!), opts);
    expect(info.demuxer).toBe('mov');
  });
});

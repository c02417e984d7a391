import { describe, expect, it } from 'vitest';
import type { SourceInfo } from '../../src/core/types.js';
import {
  buildFilterGraph,
  buildTranscodeArgs,
  fpsArg,
  keyint,
  varStreamMap,
} from '../../src/media/ffmpegArgs.js';
import { planTranscode } from '../../src/media/ladder.js';

const src = (extra: Partial<SourceInfo> = {}): SourceInfo => ({
  durationMs: 8000,
  width: 1920,
  height: 1080,
  rotation: 0,
  displayWidth: 1920,
  displayHeight: 1080,
  fps: 30,
  pixFmt: 'yuv420p',
  videoCodec: 'h264',
  videoBitRate: undefined,
  hasAudio: true,
  ...extra,
});
const opts = { rungs: [1080, 720, 480, 240], preset: 'veryfast', crf: 21 };

/** The value after each occurrence of a flag. */
const valuesOf = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
const optionOf = (args: string[], flag: string) => {
  const v = valuesOf(args, flag);
  expect(v, `${flag} given once`).toHaveLength(1);
  return v[0]!;
};

describe('buildTranscodeArgs', () => {
  const plan = planTranscode(src(), opts);
  const args = buildTranscodeArgs(plan, { path: '/in/source.mp4', demuxer: 'mov' }, '/out');
  // The options of the HLS output (the poster output follows it with its own -c:v and -map_metadata).
  const hls = args.slice(0, args.indexOf('/out/%v/index.m3u8') + 1);

  it('opens the source only as the probed container, through the file protocol alone, before -i', () => {
    const i = args.indexOf('-i');
    const input = args.slice(0, i + 2);
    expect(optionOf(input, '-f')).toBe('mov');
    expect(optionOf(input, '-format_whitelist')).toBe('mov');
    expect(optionOf(input, '-protocol_whitelist')).toBe('file');
    // An explicit file: URL: no character of the path can select another protocol.
    expect(args[i + 1]).toBe('file:/in/source.mp4');
  });

  it('is one process with one input and one filter graph that decodes once for every rendition', () => {
    expect(valuesOf(args, '-i')).toEqual(['file:/in/source.mp4']);
    const graph = optionOf(args, '-filter_complex');
    expect(graph.match(/\[0:v:0\]/g)).toHaveLength(1);
    expect(graph).toContain('fps=30,format=yuv420p,split=5'); // 4 renditions + the poster
    for (const r of plan.renditions)
      expect(graph).toContain(`scale=w=${r.width}:h=${r.height}:flags=bicubic,setsar=1`);
    expect(valuesOf(args, '-map')).toEqual(['[v0]', '[v1]', '[v2]', '[v3]', '0:a:0', '[poster]']);
  });

  it('encodes H.264 High yuv420p with a ceiling per rendition', () => {
    expect(optionOf(hls, '-c:v')).toBe('libx264');
    expect(valuesOf(args, '-c:v')).toEqual(['libx264', 'mjpeg']);
    expect(optionOf(args, '-profile:v')).toBe('high');
    expect(optionOf(args, '-pix_fmt')).toBe('yuv420p');
    expect(optionOf(args, '-preset')).toBe('veryfast');
    expect(optionOf(args, '-crf')).toBe('21');
    expect(optionOf(args, '-maxrate:v:0')).toBe('6000k');
    expect(optionOf(args, '-bufsize:v:0')).toBe('12000k');
    expect(optionOf(args, '-maxrate:v:3')).toBe('500k');
    expect(optionOf(args, '-bufsize:v:3')).toBe('1000k');
  });

  it('puts keyframes every 2 s in every rendition and none at scene cuts', () => {
    expect(optionOf(args, '-force_key_frames')).toBe('expr:gte(t,n_forced*2)');
    expect(optionOf(args, '-sc_threshold')).toBe('0');
    expect(optionOf(args, '-x264-params')).toBe('keyint=60:min-keyint=60:scenecut=0');
    expect(optionOf(args, '-forced-idr')).toBe('1');
  });

  it('writes fMP4 HLS, 4 s segments, per-rendition directories, and no master playlist of its own', () => {
    expect(optionOf(hls.slice(hls.indexOf('-i') + 2), '-f')).toBe('hls');
    expect(optionOf(args, '-hls_time')).toBe('4');
    expect(optionOf(args, '-hls_playlist_type')).toBe('vod');
    expect(optionOf(args, '-hls_segment_type')).toBe('fmp4');
    expect(optionOf(args, '-hls_flags')).toBe('independent_segments');
    expect(optionOf(args, '-hls_fmp4_init_filename')).toBe('init.mp4');
    expect(optionOf(args, '-hls_segment_filename')).toBe('/out/%v/seg_%05d.m4s');
    expect(args).toContain('/out/%v/index.m3u8');
    expect(args).not.toContain('-master_pl_name');
    expect(args.at(-1)).toBe('/out/poster.jpg');
  });

  it('encodes the audio once as AAC-LC stereo 48 kHz and shares it through one group', () => {
    expect(optionOf(args, '-c:a')).toBe('aac');
    expect(optionOf(args, '-profile:a')).toBe('aac_low');
    expect(optionOf(args, '-b:a')).toBe('128k');
    expect(optionOf(args, '-ac')).toBe('2');
    expect(optionOf(args, '-ar')).toBe('48000');
    expect(optionOf(args, '-var_stream_map')).toBe(
      'v:0,agroup:aud,name:1080p v:1,agroup:aud,name:720p v:2,agroup:aud,name:480p v:3,agroup:aud,name:240p ' +
        'a:0,agroup:aud,name:audio',
    );
  });

  it('without audio: no audio map, no audio encoder, no audio group', () => {
    const silent = planTranscode(src({ hasAudio: false }), opts);
    const a = buildTranscodeArgs(silent, { path: 'in.mp4', demuxer: 'mov' }, 'out');
    expect(valuesOf(a, '-map')).not.toContain('0:a:0');
    expect(a).not.toContain('-c:a');
    expect(optionOf(a, '-var_stream_map')).toBe('v:0,name:1080p v:1,name:720p v:2,name:480p v:3,name:240p');
    expect(varStreamMap(silent)).not.toContain('agroup');
  });

  it('reports progress on stdout, errors only on stderr, overwrites, reads no stdin', () => {
    expect(optionOf(args, '-progress')).toBe('pipe:1');
    expect(args).toContain('-nostats');
    expect(optionOf(args, '-v')).toBe('error');
    expect(args).toContain('-y');
    expect(args).toContain('-nostdin');
  });

  it('drops source metadata from the outputs', () => {
    expect(valuesOf(args, '-map_metadata')).toEqual(['-1', '-1']);
  });
});

describe('frame rates and the filter graph', () => {
  it('spells NTSC rates as exact fractions and derives keyint from them', () => {
    expect(fpsArg(30)).toBe('30');
    expect(fpsArg(30000 / 1001)).toBe('30000/1001');
    expect(fpsArg(24000 / 1001)).toBe('24000/1001');
    expect(fpsArg(60000 / 1001)).toBe('60000/1001');
    expect(keyint({ fps: 30000 / 1001, keyframeSeconds: 2 })).toBe(60);
    expect(keyint({ fps: 25, keyframeSeconds: 2 })).toBe(50);
    expect(keyint({ fps: 24000 / 1001, keyframeSeconds: 2 })).toBe(48);
  });

  it('uses the planned fps in the graph and x264 settings', () => {
    const plan = planTranscode(src({ fps: 59.94 }), opts);
    const args = buildTranscodeArgs(plan, { path: 'in.mp4', demuxer: 'mov' }, 'out');
    expect(optionOf(args, '-filter_complex')).toContain('fps=60000/1001,');
    expect(optionOf(args, '-x264-params')).toBe('keyint=120:min-keyint=120:scenecut=0');
  });

  it('a single rendition without a poster needs no split', () => {
    const plan = {
      ...planTranscode(src({ width: 160, height: 120, displayWidth: 160, displayHeight: 120 }), opts),
    };
    const graph = buildFilterGraph({ ...plan, poster: null });
    expect(graph).toBe('[0:v:0]fps=30,format=yuv420p,scale=w=160:h=120:flags=bicubic,setsar=1[v0]');
  });

  it('takes the poster from the same decode at the planned time and size', () => {
    const plan = planTranscode(src(), opts);
    expect(buildFilterGraph(plan)).toContain(
      '[sp]trim=start=0.8,scale=w=1280:h=720:flags=lanczos,setsar=1,format=yuvj420p[poster]',
    );
  });
});

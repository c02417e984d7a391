/**
 * The pure planning of several audio tracks: which streams, their renditions, NAME, LANGUAGE, CHANNELS,
 * the limit; the tasks they become; what videos.audio_tracks holds; which tracks a master lists while the
 * video processes; the ffmpeg arguments of one track.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { errors } from '../../src/core/errors.js';
import type { Db } from '../../src/core/ports.js';
import type { SourceAudioStream, SourceInfo } from '../../src/core/types.js';
import type { VideoRow } from '../../src/db/videos.js';
import { listedAudioTracks } from '../../src/http/playExtras.js';
import { audioTracksOfVideo, tasksOf } from '../../src/jobs/planAttempt.js';
import { leavesTrackOut } from '../../src/jobs/taskAttempt.js';
import { buildAudioArgs } from '../../src/media/chunkArgs.js';
import { audioTrackOf, type MediaPlan, planAudioTracks, planTranscode } from '../../src/media/ladder.js';

const stream = (index: number, extra: Partial<SourceAudioStream> = {}): SourceAudioStream => ({
  index,
  channels: 2,
  ...extra,
});

const source = (extra: Partial<SourceInfo> = {}): SourceInfo => ({
  durationMs: 30_000,
  width: 640,
  height: 360,
  rotation: 0,
  displayWidth: 640,
  displayHeight: 360,
  fps: 30,
  pixFmt: 'yuv420p',
  videoCodec: 'h264',
  videoBitRate: undefined,
  hasAudio: true,
  ...extra,
});

const opts = { rungs: [240], preset: 'veryfast', crf: 21 };

describe('planAudioTracks', () => {
  it('names the renditions audio, audio_1, …; LANGUAGE as BCP 47; NAME from title, language, or Track N', () => {
    const tracks = planAudioTracks(
      [
        stream(0, { language: 'eng' }),
        stream(1, { language: 'fre', channels: 1 }),
        stream(2, { language: 'deu', title: 'Director’s commentary', channels: 6 }),
        stream(3),
        stream(4, { language: 'und', channels: 0 }),
      ],
      8,
    );
    expect(tracks.map((t) => [t.stream, t.name, t.language, t.label, t.channels, t.bitrateKbps])).toEqual([
      [0, 'audio', 'en', 'English', 2, 128],
      [1, 'audio_1', 'fr', 'Français', 1, 64],
      [2, 'audio_2', 'de', 'Director’s commentary', 2, 128],
      [3, 'audio_3', null, 'Track 4', 2, 128],
      [4, 'audio_4', null, 'Track 5', 2, 128],
    ]);
    expect(tracks.map((t) => t.tagged)).toEqual([true, true, true, false, false]);
  });

  it('keeps every NAME unique (case-insensitive) and writable in a quoted attribute', () => {
    const tracks = planAudioTracks(
      [
        stream(0, { language: 'eng' }),
        stream(1, { language: 'en' }),
        stream(2, { title: 'english' }),
        stream(3, { title: 'Track 5' }),
        stream(4),
        stream(5, { title: 'say "hi"\n\tnow' }),
        stream(6, { title: '   ' }),
        stream(7, { title: 'x'.repeat(200) }),
      ],
      8,
    );
    const labels = tracks.map((t) => t.label);
    expect(labels.slice(0, 7)).toEqual([
      'English',
      'English (2)',
      'english (3)',
      'Track 5',
      'Track 5 (2)',
      'say hi now',
      'Track 7',
    ]);
    expect(labels[7]).toHaveLength(64);
    expect(new Set(labels.map((l) => l.toLowerCase())).size).toBe(labels.length);
    for (const l of labels) expect(l).not.toMatch(/["\r\n\t]/);
  });

  it('takes the first N streams only', () => {
    const many = Array.from({ length: 12 }, (_, i) => stream(i, { language: 'eng' }));
    const tracks = planAudioTracks(many, 8);
    expect(tracks.map((t) => t.name)).toEqual([
      'audio',
      'audio_1',
      'audio_2',
      'audio_3',
      'audio_4',
      'audio_5',
      'audio_6',
      'audio_7',
    ]);
    expect(tracks.map((t) => t.stream)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(planAudioTracks(many, 1)).toHaveLength(1);
  });

  it('planTranscode: tracks from the probe, the limit from the caller, none without audio', () => {
    const two = source({ audioStreams: [stream(0, { language: 'eng' }), stream(1, { channels: 1 })] });
    expect(planTranscode(two, opts).audioTracks?.map((t) => t.name)).toEqual(['audio', 'audio_1']);
    expect(planTranscode(two, { ...opts, maxAudioTracks: 1 }).audioTracks).toHaveLength(1);
    expect(planTranscode(source({ hasAudio: false, audioStreams: [] }), opts).audioTracks).toEqual([]);
    // A probe that lists no streams (older callers): the first audio stream, stereo.
    expect(planTranscode(source(), opts).audioTracks).toMatchObject([
      { stream: 0, name: 'audio', channels: 2 },
    ]);
  });

  it('audioTrackOf: a plan made before several tracks has the first, as always', () => {
    const old = planTranscode(source(), opts) as MediaPlan;
    delete old.audioTracks;
    expect(audioTrackOf(old, 0)).toMatchObject({ stream: 0, name: 'audio', channels: 2, bitrateKbps: 128 });
    expect(() => audioTrackOf(old, 1)).toThrow(/no audio track 1/);
  });
});

describe('tasks and videos.audio_tracks', () => {
  const rich = source({
    audioStreams: [stream(0, { language: 'eng' }), stream(1, { language: 'fra', channels: 1 })],
  });
  const meta = { durationMs: 30_000, demuxer: 'mov,mp4,m4a,3gp,3g2,mj2' };

  it('one audio task per track: the first leased to the planner at rank 0, the others rank 1', () => {
    const audio = tasksOf(planTranscode(rich, opts), meta).filter((t) => t.kind === 'audio');
    expect(audio.map((t) => [t.chunk, t.rank, t.claim])).toEqual([
      [0, 0, true],
      [1, 1, false],
    ]);
    const none = tasksOf(planTranscode(source({ hasAudio: false, audioStreams: [] }), opts), meta);
    expect(none.filter((t) => t.kind === 'audio')).toEqual([]);
  });

  it('audio_tracks lists every track, the first the default; a lone untagged stream leaves it null', () => {
    expect(audioTracksOfVideo(planTranscode(rich, opts).audioTracks!)).toEqual([
      { name: 'audio', language: 'en', label: 'English', channels: 2, default: true },
      { name: 'audio_1', language: 'fr', label: 'Français', channels: 1, default: false },
    ]);
    expect(audioTracksOfVideo(planAudioTracks([stream(0)], 8))).toBeNull();
    expect(audioTracksOfVideo(planAudioTracks([stream(0, { language: 'spa' })], 8))).toEqual([
      { name: 'audio', language: 'es', label: 'Español', channels: 2, default: true },
    ]);
    expect(audioTracksOfVideo([])).toBeNull();
  });

  it('the master lists a later track only once its first segment is out', async () => {
    const tracks = audioTracksOfVideo(planTranscode(rich, opts).audioTracks!)!;
    const started = (names: string[]) =>
      ({ query: async () => names.map((rendition) => ({ rendition })) }) as unknown as Db;
    const video = (status: VideoRow['status']) =>
      ({ id: 'v1', status, audio_tracks: tracks }) as unknown as VideoRow;
    const names = async (db: Db, v: VideoRow) => (await listedAudioTracks(db, v))?.map((t) => t.name);
    expect(await names(started(['240p', 'audio']), video('processing'))).toEqual(['audio']);
    expect(await names(started(['240p', 'audio', 'audio_1']), video('processing'))).toEqual([
      'audio',
      'audio_1',
    ]);
    expect(await names(started(['audio', 'audio_1']), video('ready'))).toEqual(['audio', 'audio_1']);
    // A track that could not be made (left out) is not listed once the video is ready either.
    expect(await names(started(['240p', 'audio']), video('ready'))).toEqual(['audio']);
    expect(await listedAudioTracks(started([]), { ...video('ready'), audio_tracks: null })).toBeUndefined();
  });
});

describe('a later track that cannot be made', () => {
  const live = new AbortController().signal;
  const at = { first: false, published: false, lastAttempt: true, signal: live };
  const noSound = errors.truncatedSource('the audio stream yields no sound');

  it('is left out on its last attempt or when it fails for good; never the first, never half published', () => {
    expect(leavesTrackOut(new Error('ffmpeg exited 1'), at)).toBe(true);
    expect(leavesTrackOut(noSound, { ...at, lastAttempt: false })).toBe(true);
    expect(leavesTrackOut(new Error('ffmpeg exited 1'), { ...at, lastAttempt: false })).toBe(false);
    expect(leavesTrackOut(noSound, { ...at, first: true })).toBe(false);
    expect(leavesTrackOut(noSound, { ...at, published: true })).toBe(false);
  });

  it('is not left out when the attempt itself was cut short (lease, shutdown, full disk)', () => {
    const stopped = new AbortController();
    stopped.abort();
    expect(leavesTrackOut(errors.leaseLost(), at)).toBe(false);
    expect(leavesTrackOut(noSound, { ...at, signal: stopped.signal })).toBe(false);
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(leavesTrackOut(full, at)).toBe(false);
  });
});

describe('ffmpeg arguments of one track', () => {
  it('maps the track’s own stream, keeps mono mono; the default is the first stream in stereo', () => {
    const plan = planTranscode(
      source({ audioStreams: [stream(0), stream(1, { language: 'fra', channels: 1 })] }),
      opts,
    );
    const src = { path: '/in.mp4', demuxer: 'mov,mp4,m4a,3gp,3g2,mj2' };
    const flagValue = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
    const second = buildAudioArgs(plan, src, plan.audioTracks![1]);
    expect([flagValue(second, '-map'), flagValue(second, '-ac'), flagValue(second, '-b:a')]).toEqual([
      '0:a:1',
      '1',
      '64k',
    ]);
    const first = buildAudioArgs(plan, src);
    expect([flagValue(first, '-map'), flagValue(first, '-ac'), flagValue(first, '-b:a')]).toEqual([
      '0:a:0',
      '2',
      '128k',
    ]);
  });

  it('REEL_MAX_AUDIO_TRACKS: 8 by default, 1 to 64', () => {
    expect(loadConfig({}, {}).maxAudioTracks).toBe(8);
    expect(loadConfig({}, { REEL_MAX_AUDIO_TRACKS: '2' }).maxAudioTracks).toBe(2);
    for (const bad of ['0', '65', 'two', '1.5'])
      expect(() => loadConfig({}, { REEL_MAX_AUDIO_TRACKS: bad }), bad).toThrow(/REEL_MAX_AUDIO_TRACKS/);
  });
});

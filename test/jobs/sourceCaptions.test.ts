/** Source subtitle streams → WebVTT: the ffmpeg arguments on a real file (subrip and ass in Matroska). */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStream, extractArgs, sourceCaptionId } from '../../src/jobs/sourceCaptions.js';
import { capture } from '../../src/media/exec.js';
import { parseSubtitles } from '../../src/media/subtitles.js';
import { FFMPEG } from '../fixtures/generate.js';

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-subs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('source captions', () => {
  it('describes a stream: BCP 47 language, its name, closed captions; und when untagged', () => {
    expect(
      describeStream({ index: 0, codec: 'subrip', language: 'fre', hearingImpaired: true, forced: false }),
    ).toEqual({ language: 'fr', name: 'Français', cc: true });
    expect(
      describeStream({
        index: 1,
        codec: 'ass',
        language: 'und',
        title: ' Signs ',
        hearingImpaired: false,
        forced: true,
      }),
    ).toEqual({ language: 'und', name: 'Signs', cc: false });
    expect(describeStream({ index: 2, codec: 'webvtt', hearingImpaired: false, forced: false }).name).toBe(
      'Subtitles',
    );
    expect(sourceCaptionId('vid', 0)).toBe(sourceCaptionId('vid', 0));
    expect(sourceCaptionId('vid', 0)).not.toBe(sourceCaptionId('vid', 1));
    expect(sourceCaptionId('vid', 0)).toMatch(/^s[A-Za-z0-9_-]{15}$/);
  });

  it('extracts subrip and ass streams of a Matroska file as WebVTT in one ffmpeg run', async () => {
    const srt = path.join(dir, 'in.srt');
    fs.writeFileSync(
      srt,
      '1\n00:00:00,500 --> 00:00:01,500\n<i>Hello</i>\n\n2\n00:00:02,000 --> 00:00:03,000\nWorld\n',
    );
    const mkv = path.join(dir, 'in.mkv');
    await run(FFMPEG, [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'color=size=64x64:duration=3', '-i', srt, '-i', srt],
      ...['-map', '0:v', '-map', '1', '-map', '2', '-c:v', 'libx264', '-c:s:0', 'srt', '-c:s:1', 'ass', mkv],
    ]);
    const streams = [
      { index: 0, codec: 'subrip', hearingImpaired: false, forced: false },
      { index: 1, codec: 'ass', hearingImpaired: false, forced: false },
    ];
    const outs = [path.join(dir, 'a.vtt'), path.join(dir, 'b.vtt')];
    const r = await capture(FFMPEG, extractArgs({ path: mkv, demuxer: 'matroska' }, streams, outs));
    expect(r.code, r.stderr).toBe(0);
    for (const out of outs) {
      const cues = parseSubtitles(fs.readFileSync(out, 'utf8')).cues;
      expect(cues.map((c) => [c.start, c.end, c.text.replace(/<\/?i>/g, '')])).toEqual([
        [0.5, 1.5, 'Hello'],
        [2, 3, 'World'],
      ]);
    }
  });
});

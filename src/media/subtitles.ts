/**
 * Subtitle files (WebVTT and SRT) → cues, and cues → normalised WebVTT. Pure.
 *
 * A small strict parser of our own rather than an npm one: the well-kept ones (webvtt-parser, subtitle,
 * srt-parser-2) either recover silently from what is malformed or do not say on which line it is, and
 * the API must refuse a bad file saying where ("line 7: expected a cue timing like …"). What is accepted:
 *
 * - WebVTT: the `WEBVTT` signature (after an optional BOM), header lines, then blocks separated by blank
 *   lines: NOTE, STYLE and REGION blocks (skipped), and cues (an optional identifier line, a timing line
 *   `start --> end [settings]`, then text lines). Timestamps `[hh:]mm:ss.ttt`.
 * - SRT: blocks of an index line (digits), a timing line `hh:mm:ss,ttt --> hh:mm:ss,ttt` (a `.` is
 *   tolerated for the comma, as many tools write it), then text lines.
 *
 * Caps: cue count, cue times within [0, MAX_CUE_TIME_S], end after start, text length per cue.
 */

export interface Cue {
  /** seconds */
  start: number;
  /** seconds */
  end: number;
  text: string;
  /** WebVTT cue settings (e.g. `line:0 align:start`), as written. */
  settings?: string;
}

export interface SubtitleLimits {
  maxCues: number;
  /** The latest a cue may end, in seconds. */
  maxTimeSeconds: number;
}

export const DEFAULT_SUBTITLE_LIMITS: SubtitleLimits = { maxCues: 20_000, maxTimeSeconds: 24 * 3600 };

/** Longest text of one cue, in characters. */
const MAX_CUE_TEXT = 2000;

/** A file that is not valid WebVTT or SRT: `line` is 1-based (0: the file as a whole). */
export class SubtitleSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly expected: string,
  ) {
    super(line > 0 ? `line ${line}: ${expected}` : expected);
    this.name = 'SubtitleSyntaxError';
  }
}

export type SubtitleFormat = 'vtt' | 'srt';

/** WebVTT when the file starts with its signature, SRT when it starts with an index line; else null. */
export function detectFormat(text: string): SubtitleFormat | null {
  const t = text.replace(/^\uFEFF/, '');
  if (/^WEBVTT(?:[ \t]|\r?\n|\r|$)/.test(t)) return 'vtt';
  if (/^\s*\d+[ \t]*(?:\r?\n|\r)/.test(t)) return 'srt';
  return null;
}

const TIMING_HELP = '00:00:01.000 --> 00:00:02.000';

/** Parses a subtitle file of either format (detected from its content). */
export function parseSubtitles(
  text: string,
  limits: SubtitleLimits = DEFAULT_SUBTITLE_LIMITS,
): { format: SubtitleFormat; cues: Cue[] } {
  if (text.includes('\0')) throw new SubtitleSyntaxError(0, 'the file is binary, not text');
  const format = detectFormat(text);
  if (!format)
    throw new SubtitleSyntaxError(
      1,
      'expected "WEBVTT" (a WebVTT file) or a cue number (an SRT file) on the first line',
    );
  const cues = format === 'vtt' ? parseVtt(text, limits) : parseSrt(text, limits);
  return { format, cues };
}

const splitLines = (text: string) => text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);

/** `[hh:]mm:ss.ttt` (WebVTT) or `hh:mm:ss,ttt` (SRT, `sep` = ','); seconds, or null. */
function parseTimestamp(s: string, srt: boolean): number | null {
  const m = srt
    ? /^(\d{1,3}):([0-5]\d):([0-5]\d)[,.](\d{3})$/.exec(s)
    : /^(?:(\d{1,3}):)?([0-5]\d):([0-5]\d)\.(\d{3})$/.exec(s);
  if (!m) return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
}

/** A timing line; throws naming the line when it is not one. */
function parseTiming(
  line: string,
  lineNo: number,
  srt: boolean,
  limits: SubtitleLimits,
): { start: number; end: number; settings: string } {
  const m = /^(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line.trim());
  const help = srt ? TIMING_HELP.replace(/\./g, ',') : TIMING_HELP;
  if (!m) throw new SubtitleSyntaxError(lineNo, `expected a cue timing like ${help}`);
  const start = parseTimestamp(m[1]!, srt);
  const end = parseTimestamp(m[2]!, srt);
  if (start === null)
    throw new SubtitleSyntaxError(lineNo, `expected a start time like ${help.split(' ')[0]}`);
  if (end === null) throw new SubtitleSyntaxError(lineNo, `expected an end time like ${help.split(' ')[2]}`);
  if (end <= start) throw new SubtitleSyntaxError(lineNo, 'expected the end time after the start time');
  if (end > limits.maxTimeSeconds)
    throw new SubtitleSyntaxError(lineNo, `expected times under ${limits.maxTimeSeconds} seconds`);
  if (srt && m[3]?.trim()) throw new SubtitleSyntaxError(lineNo, 'expected nothing after the end time');
  return { start, end, settings: (m[3] ?? '').trim() };
}

function pushCue(cues: Cue[], cue: Cue, lineNo: number, limits: SubtitleLimits) {
  if (cues.length >= limits.maxCues)
    throw new SubtitleSyntaxError(lineNo, `expected at most ${limits.maxCues} cues`);
  if (cue.text.length > MAX_CUE_TEXT)
    throw new SubtitleSyntaxError(lineNo, `expected at most ${MAX_CUE_TEXT} characters of text per cue`);
  cues.push(cue);
}

function parseVtt(text: string, limits: SubtitleLimits): Cue[] {
  const lines = splitLines(text);
  const cues: Cue[] = [];
  let i = 1;
  // The header: everything up to the first blank line.
  while (i < lines.length && lines[i]!.trim() !== '') i++;
  while (i < lines.length) {
    while (i < lines.length && lines[i]!.trim() === '') i++;
    if (i >= lines.length) break;
    const first = lines[i]!;
    if (/^(NOTE|STYLE|REGION)(?:[ \t]|$)/.test(first)) {
      while (i < lines.length && lines[i]!.trim() !== '') i++;
      continue;
    }
    let timingAt = i;
    if (!first.includes('-->')) {
      // A cue identifier, then its timing: when no timing follows, the line itself is the culprit.
      timingAt = i + 1;
      if (timingAt >= lines.length || !lines[timingAt]!.includes('-->'))
        throw new SubtitleSyntaxError(
          i + 1,
          `expected a cue timing like ${TIMING_HELP} (or a cue identifier followed by one)`,
        );
    }
    const timing = parseTiming(lines[timingAt]!, timingAt + 1, false, limits);
    const body: string[] = [];
    i = timingAt + 1;
    while (i < lines.length && lines[i]!.trim() !== '') {
      if (lines[i]!.includes('-->'))
        throw new SubtitleSyntaxError(i + 1, 'expected a blank line before the next cue');
      body.push(lines[i]!);
      i++;
    }
    const cue: Cue = { start: timing.start, end: timing.end, text: body.join('\n') };
    if (timing.settings) cue.settings = timing.settings;
    pushCue(cues, cue, timingAt + 1, limits);
  }
  return cues;
}

/** SRT markup WebVTT has no use for: <font …> tags and ASS override codes ({\\an8}); <i>, <b>, <u> stay. */
const SRT_ONLY_MARKUP = /<\/?font\b[^>]*>|\{\\[^}]*\}/gi;

function parseSrt(text: string, limits: SubtitleLimits): Cue[] {
  const lines = splitLines(text);
  const cues: Cue[] = [];
  let i = 0;
  while (i < lines.length) {
    while (i < lines.length && lines[i]!.trim() === '') i++;
    if (i >= lines.length) break;
    if (!/^\d+$/.test(lines[i]!.trim()))
      throw new SubtitleSyntaxError(i + 1, 'expected a cue number (digits only)');
    i++;
    if (i >= lines.length)
      throw new SubtitleSyntaxError(i + 1, `expected a cue timing like ${TIMING_HELP.replace(/\./g, ',')}`);
    const timingAt = i;
    const timing = parseTiming(lines[i]!, i + 1, true, limits);
    i++;
    const body: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') {
      if (lines[i]!.includes('-->'))
        throw new SubtitleSyntaxError(i + 1, 'expected a blank line before the next cue');
      body.push(lines[i]!);
      i++;
    }
    const text = body.join('\n').replace(SRT_ONLY_MARKUP, '');
    pushCue(cues, { start: timing.start, end: timing.end, text }, timingAt + 1, limits);
  }
  return cues;
}

/** Seconds as a WebVTT timestamp, always with hours: 01:02:03.450. */
export function vttTimestamp(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const hh = String(Math.floor(ms / 3_600_000)).padStart(2, '0');
  const mm = String(Math.floor(ms / 60_000) % 60).padStart(2, '0');
  const ss = String(Math.floor(ms / 1000) % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}.${String(ms % 1000).padStart(3, '0')}`;
}

/** One cue as a WebVTT block. A text line "-->" cannot occur (refused on parse); blank lines are dropped. */
function cueBlock(c: Cue): string {
  const settings = c.settings ? ` ${c.settings}` : '';
  const text = c.text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .join('\n');
  return `${vttTimestamp(c.start)} --> ${vttTimestamp(c.end)}${settings}\n${text}`;
}

/** Cues as a WebVTT file (what the store holds); `header` lines go after the signature. */
export function toWebVtt(cues: readonly Cue[], header: readonly string[] = []): string {
  const head = ['WEBVTT', ...header].join('\n');
  return `${[head, ...cues.map(cueBlock)].join('\n\n')}\n`;
}

/** Cues sorted by start (then end): the order a WebVTT file must have. */
export const sortCues = (cues: readonly Cue[]): Cue[] =>
  [...cues].sort((a, b) => a.start - b.start || a.end - b.end);

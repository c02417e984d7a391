/**
 * Caption tracks, end to end: one rich source (a mov_text English stream) processed by a real Reel, its
 * stream extracted as a track; VTT and SRT uploads (raw body and JSON), list/get/delete; the master's
 * SUBTITLES group and every variant referring to it; the segmented WebVTT playlists holding each cue at its
 * time; and what must be refused (malformed files naming the line, sizes, scopes, other videos, path tricks).
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../src/core/errors.js';
import { type Cue, parseSubtitles } from '../../src/media/subtitles.js';
import { makeRichClip } from '../fixtures/generate.js';
import { parseMasterPlaylist, parseMediaPlaylist, resolveUri } from '../helpers/hls.js';
import { publishFake } from '../helpers/publish.js';
import { startTestReel, type TestReel, waitUntilReady } from '../helpers/reel.js';
import { tusUpload } from '../helpers/upload.js';
import { launchChromium, openPage } from '../web/browser.js';

interface CaptionView {
  id: string;
  videoId: string;
  language: string;
  name: string;
  closedCaptions: boolean;
  origin: 'upload' | 'source';
  sourceStream: number | null;
  bytes: number;
  playlist: string;
  createdAt: string;
}

const FR_SRT = `1
00:00:01,000 --> 00:00:02,500
<i>Bonjour</i>

2
00:00:08,000 --> 00:00:12,000
[musique] À travers deux segments
`;

const DE_VTT = `WEBVTT

intro
00:01.000 --> 00:02.000 align:start line:0
Hallo

00:00:06.000 --> 00:00:07.000
Welt
`;

describe('caption tracks', () => {
  let t: TestReel;
  let id: string;
  let playUrl: string;
  let readKey: string;

  const json = (body: unknown) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const raw = (text: string | Uint8Array, type = 'text/plain'): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': type },
    body: text as BodyInit,
  });
  const answer = async (res: Response) => {
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: res.status, code: body['code'], message: body['message'] as string, body, text };
  };
  const captions = async () =>
    ((await (await t.api(`/v1/videos/${id}/captions`)).json()) as { data: CaptionView[] }).data;

  /** Every cue of a track, as the segments of its playlist (from the master) give them, repeats merged. */
  const playedCues = async (playlistUri: string) => {
    const playlistUrl = resolveUri(playUrl, playlistUri);
    const res = await fetch(playlistUrl);
    expect(res.headers.get('content-type')).toContain('mpegurl');
    const text = await res.text();
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(text).toContain('#EXT-X-ENDLIST');
    const media = parseMediaPlaylist(text);
    const total = media.segments.reduce((s, x) => s + x.duration, 0);
    expect(total).toBeCloseTo(12, 1);
    const seen = new Map<string, Cue>();
    for (const seg of media.segments) {
      const r = await fetch(resolveUri(playlistUrl, seg.uri));
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('text/vtt');
      const vtt = await r.text();
      expect(vtt.split('\n')[1]).toBe('X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000');
      for (const c of parseSubtitles(vtt).cues) seen.set(`${c.start}-${c.end}-${c.text}`, c);
    }
    return [...seen.values()].sort((a, b) => a.start - b.start);
  };

  beforeAll(async () => {
    t = await startTestReel({ ladder: '240' });
    // Below the 240p rung: one small rendition, the cheapest processing that still has every stream.
    const clip = await makeRichClip({ width: 320, height: 180 });
    id = await tusUpload(t, fs.readFileSync(clip), { filename: 'rich.mp4' });
    await waitUntilReady(t, id, 60_000);
    playUrl = ((await (await t.api(`/v1/videos/${id}/playback`)).json()) as { url: string }).url;
    const key = await t.api('/v1/keys', json({ name: 'viewer', scopes: ['read'] }));
    readKey = ((await key.json()) as { key: string }).key;
  }, 90_000);
  afterAll(async () => {
    await t?.close();
    if (t) fs.rmSync(t.dataDir, { recursive: true, force: true });
  });

  it("the source's mov_text stream became an English track with its three cues at their times", async () => {
    const list = await captions();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      language: 'en',
      name: 'English',
      closedCaptions: false,
      origin: 'source',
      sourceStream: 0,
    });
    const cues = await playedCues(list[0]!.playlist);
    expect(cues.map((c) => [c.start, c.end, c.text])).toEqual([
      [0.5, 2, 'First cue'],
      [3, 5, 'Second cue'],
      [10, 11.5, 'Third cue'],
    ]);
  });

  it('uploads SRT as the raw body and VTT as JSON; the master lists both with the spec attributes', async () => {
    const fr = await answer(
      await t.api(
        `/v1/videos/${id}/captions?language=fr-ca&closedCaptions=true`,
        raw(FR_SRT, 'application/x-subrip; charset=utf-8'),
      ),
    );
    expect(fr.status, fr.text).toBe(201);
    expect(fr.body).toMatchObject({ language: 'fr-CA', closedCaptions: true, origin: 'upload' });
    expect(fr.body['name']).toMatch(/^Français/);
    const de = await answer(
      await t.api(
        `/v1/videos/${id}/captions`,
        json({ language: 'de', name: 'Deutsch (Test)', text: DE_VTT }),
      ),
    );
    expect(de.status, de.text).toBe(201);
    expect(de.body).toMatchObject({ language: 'de', name: 'Deutsch (Test)', closedCaptions: false });

    // /docs shows both ways of sending the file.
    const docs = (await (await fetch(`${t.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>>;
    };
    const post = docs.paths['/v1/videos/{id}/captions']?.['post'];
    expect(Object.keys(post?.requestBody?.content ?? {})).toEqual(
      expect.arrayContaining(['application/json', 'text/vtt', 'application/x-subrip']),
    );

    // GET one: JSON, and its stored WebVTT (normalised: SRT became WebVTT).
    const one = await t.api(`/v1/videos/${id}/captions/${fr.body['id']}`);
    expect(await one.json()).toMatchObject({ id: fr.body['id'], language: 'fr-CA' });
    const vtt = await t.api(`/v1/videos/${id}/captions/${fr.body['id']}?format=vtt`);
    expect(vtt.headers.get('content-type')).toContain('text/vtt');
    const vttText = await vtt.text();
    expect(vttText).toMatch(/^WEBVTT\n/);
    expect(vttText).toContain('00:00:08.000 --> 00:00:12.000');
    const accepted = await t.api(`/v1/videos/${id}/captions/${de.body['id']}`, {
      headers: { accept: 'text/vtt' },
    });
    expect(await accepted.text()).toContain('00:00:01.000 --> 00:00:02.000 align:start line:0\nHallo');

    const master = parseMasterPlaylist(await (await fetch(playUrl)).text());
    const subs = master.media.filter((m) => m['TYPE'] === 'SUBTITLES');
    expect(subs.map((s) => [s['NAME'], s['LANGUAGE']])).toEqual([
      ['English', 'en'],
      [fr.body['name'], 'fr-CA'],
      ['Deutsch (Test)', 'de'],
    ]);
    for (const s of subs) {
      expect(s).toMatchObject({ 'GROUP-ID': 'subs', DEFAULT: 'NO', AUTOSELECT: 'YES', FORCED: 'NO' });
      expect(s['URI']).toMatch(/subs\/[A-Za-z0-9_-]+\/index\.m3u8$/);
    }
    expect(subs[1]!['CHARACTERISTICS']).toContain('public.accessibility.transcribes-spoken-dialog');
    expect(subs[0]!['CHARACTERISTICS']).toBeUndefined();
    expect(master.variants.length).toBeGreaterThan(0);
    for (const v of master.variants) expect(v.attributes['SUBTITLES']).toBe('subs');

    // The French track as played: a cue spanning two segments is whole, once.
    const frCues = await playedCues(subs[1]!['URI']!);
    expect(frCues.map((c) => [c.start, c.end, c.text])).toEqual([
      [1, 2.5, '<i>Bonjour</i>'],
      [8, 12, '[musique] À travers deux segments'],
    ]);
    const deCues = await playedCues(subs[2]!['URI']!);
    expect(deCues.map((c) => [c.start, c.settings])).toEqual([
      [1, 'align:start line:0'],
      [6, undefined],
    ]);
  });

  it('a name already taken is refused; a default name gets a number', async () => {
    const taken = await answer(
      await t.api(`/v1/videos/${id}/captions`, json({ language: 'en', name: 'English', text: DE_VTT })),
    );
    expect(taken).toMatchObject({ status: 409, code: errors.captionNameTaken.code });
    const second = await answer(
      await t.api(`/v1/videos/${id}/captions?language=en`, raw(DE_VTT, 'text/vtt')),
    );
    expect(second.status).toBe(201);
    expect(second.body['name']).toBe('English (2)');
    const del = await t.api(`/v1/videos/${id}/captions/${second.body['id']}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
  });

  it('malformed files are refused with 400 naming the line', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'text/vtt',
        'WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\nnot a timing\nstill not\n',
        /line 6: expected a cue timing/,
      ],
      [
        'text/vtt',
        'WEBVTT\n\n00:03.000 --> 00:02.000\nbackwards\n',
        /line 3: expected the end time after the start/,
      ],
      [
        'application/x-subrip',
        '1\n00:00:01,000 --> 00:00:02,000\nok\n\nx\n',
        /line 5: expected a cue number/,
      ],
      [
        'application/x-subrip',
        '1\n00:00:01,000 -> 00:00:02,000\nok\n',
        /line 2: expected a cue timing like 00:00:01,000/,
      ],
      ['text/plain', 'hello\n', /line 1: expected "WEBVTT"/],
      ['text/vtt', 'WEBVTT\n\n99:00:00.000 --> 99:00:01.000\nlate\n', /line 3: expected times under/],
    ];
    for (const [type, text, message] of cases) {
      const r = await answer(await t.api(`/v1/videos/${id}/captions?language=en`, raw(text, type)));
      expect(r, text).toMatchObject({ status: 400, code: errors.invalidSubtitles.code });
      expect(r.message).toMatch(message);
    }
    expect(await captions()).toHaveLength(3);
  });

  it('refuses bad fields, sizes that lie, a read key, unknown videos and tracks, path tricks', async () => {
    const post = (q: string, init: RequestInit) => t.api(`/v1/videos/${id}/captions${q}`, init);
    for (const lang of ['english!', 'e', '', 'x'.repeat(40)]) {
      const r = await answer(await post(`?language=${encodeURIComponent(lang)}`, raw(DE_VTT, 'text/vtt')));
      expect(r.status, lang).toBe(400);
    }
    expect((await answer(await post('', raw(DE_VTT, 'text/vtt')))).status).toBe(400);
    expect((await answer(await post('', json({ language: 'en' })))).status).toBe(400);
    // A double quote would be a space in the master's NAME: two tracks could share one, or be blank.
    const quoted = await answer(await post('', json({ language: 'en', name: 'A"B', text: DE_VTT })));
    expect(quoted.status).toBe(400);
    expect(quoted.message).toMatch(/double quote/);
    expect((await answer(await post('?language=en', raw(DE_VTT, 'image/png')))).status).toBe(415);
    const latin1 = await answer(await post('?language=fr', raw(Buffer.from(FR_SRT, 'latin1'), 'text/plain')));
    expect(latin1).toMatchObject({ status: 400, code: errors.invalidSubtitles.code });
    expect(latin1.message).toMatch(/not UTF-8/);

    // Too large: refused with 413 whether the length is declared or streamed.
    const huge = new Uint8Array(3 * 1024 * 1024).fill(97);
    const big = await answer(await post('?language=en', raw(huge, 'text/vtt')));
    expect(big.status).toBe(413);
    expect(big.code).toBe(errors.captionTooLarge.code);
    const streamed = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(1024 * 1024).fill(97));
        c.close();
      },
    });
    const chunked = await answer(
      await post('?language=en', {
        method: 'POST',
        headers: { 'content-type': 'text/vtt' },
        body: streamed,
        duplex: 'half',
      } as RequestInit),
    );
    expect(chunked.status).toBe(413);

    // A declared length over the limit is refused at once, before the body is sent.
    const declared = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(t.url);
      const req = http.request(
        {
          hostname,
          port,
          method: 'POST',
          path: `/v1/videos/${id}/captions?language=en`,
          headers: { ...t.auth, 'content-type': 'text/vtt', 'content-length': String(50 * 1024 * 1024) },
        },
        (res) => {
          resolve(res.statusCode!);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.write('WEBVTT\n\n');
    });
    expect(declared).toBe(413);

    // A read key reads but does not write.
    const asReader = (path: string, init: RequestInit = {}) =>
      fetch(`${t.url}${path}`, { ...init, headers: { ...init.headers, Authorization: `Bearer ${readKey}` } });
    expect((await asReader(`/v1/videos/${id}/captions`)).status).toBe(200);
    const denied = await answer(
      await asReader(`/v1/videos/${id}/captions?language=en`, raw(DE_VTT, 'text/vtt')),
    );
    expect(denied).toMatchObject({ status: 403, code: errors.scopeDenied.code });
    const [first] = await captions();
    expect((await asReader(`/v1/videos/${id}/captions/${first!.id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await fetch(`${t.url}/v1/videos/${id}/captions`)).status).toBe(401);

    // Unknown video and track; ids that are not ids.
    expect((await answer(await t.api('/v1/videos/nope/captions'))).code).toBe(errors.videoNotFound.code);
    expect(
      (await answer(await t.api('/v1/videos/nope/captions?language=en', raw(DE_VTT, 'text/vtt')))).code,
    ).toBe(errors.videoNotFound.code);
    expect((await answer(await t.api(`/v1/videos/${id}/captions/nope`))).code).toBe(
      errors.captionNotFound.code,
    );
    for (const trick of ['..%2F..%2Fsources', '%2E%2E', 'a.b', 'x'.repeat(65)]) {
      const r = await t.api(`/v1/videos/${id}/captions/${trick}`);
      expect(r.status, trick).toBeGreaterThanOrEqual(400);
      expect(r.status, trick).toBeLessThan(500);
    }
    for (const trick of [
      'subs/..%2Fmaster.m3u8',
      'subs/x%2F..%2F..%2Findex.m3u8',
      'subs/a.b/index.m3u8',
      'subs/nope/index.m3u8',
      `subs/${first!.id}/seg_-1.vtt`,
      `subs/${first!.id}/seg_1.vtt/..%2F..`,
    ]) {
      const r = await fetch(`${playUrl.replace(/master\.m3u8$/, '')}${trick}`);
      expect(r.status, trick).toBeGreaterThanOrEqual(400);
      expect(r.status, trick).toBeLessThan(500);
    }
    const seg = await fetch(resolveUri(playUrl, `subs/${first!.id}/seg_99.vtt`));
    expect(seg.status).toBe(404);
  });

  it("a track of one video is not reachable through another video's id or token", async () => {
    await publishFake(t, 'capOther', 'signed');
    const [track] = await captions();
    // Through the other video's API path: not found.
    expect((await answer(await t.api(`/v1/videos/capOther/captions/${track!.id}`))).code).toBe(
      errors.captionNotFound.code,
    );
    expect((await t.api(`/v1/videos/capOther/captions/${track!.id}`, { method: 'DELETE' })).status).toBe(404);
    // With the other video's token on this video's path: refused.
    const other = ((await (await t.api('/v1/videos/capOther/playback')).json()) as { url: string }).url;
    const token = new URL(other).pathname.split('/')[3]!;
    const res = await fetch(`${t.url}/play/${id}/${token}/subs/${track!.id}/index.m3u8`);
    expect(res.status).toBe(403);
    // Under the other video's own path: not found.
    const res2 = await fetch(other.replace(/master\.m3u8$/, `subs/${track!.id}/index.m3u8`));
    expect(res2.status).toBe(404);
  });

  it('hls.js in Chromium shows "Second cue" at 3.5 s from the English track', async () => {
    const browser = await launchChromium();
    try {
      const { page, problems } = await openPage(await browser.newContext());
      await page.goto(`${t.url}/healthz`);
      await page.addScriptTag({
        type: 'module',
        content: "import Hls from '/assets/vendor/hls.mjs'; window.Hls = Hls;",
      });
      await page.waitForFunction(() => 'Hls' in window);
      const active = await page.evaluate(async (src) => {
        // biome-ignore lint/suspicious/noExplicitAny: hls.js as the page loaded it
        const Hls = (window as any).Hls;
        const video = document.createElement('video');
        video.muted = true;
        document.body.append(video);
        const hls = new Hls({ subtitleDisplay: true });
        await new Promise<void>((resolve, reject) => {
          hls.on(Hls.Events.MANIFEST_PARSED, () => resolve());
          hls.on(Hls.Events.ERROR, (_e: unknown, d: { fatal: boolean; details: string }) => {
            if (d.fatal) reject(new Error(d.details));
          });
          hls.loadSource(src);
          hls.attachMedia(video);
        });
        const tracks = hls.subtitleTracks as { lang: string; name: string }[];
        hls.subtitleTrack = tracks.findIndex((x) => x.lang === 'en');
        video.currentTime = 3.5;
        const until = Date.now() + 10_000;
        for (;;) {
          const track = [...video.textTracks].find((x) => x.mode === 'showing');
          const cues = [...(track?.activeCues ?? [])].map((c) => (c as VTTCue).text);
          if (cues.length > 0 || Date.now() > until)
            return { cues, tracks: tracks.map((x) => `${x.lang}:${x.name}`), time: video.currentTime };
          await new Promise((r) => setTimeout(r, 50));
        }
      }, playUrl);
      expect(active.tracks[0]).toBe('en:English');
      expect(active.cues, problems.join('\n')).toEqual(['Second cue']);
    } finally {
      await browser.close();
    }
  });

  it('DELETE removes the row, the object and the master entry; deleting the video removes the rest', async () => {
    const before = await captions();
    const fr = before.find((c) => c.language === 'fr-CA')!;
    const key = `videos/${id}/captions/${fr.id}.vtt`;
    expect(await t.reel.store.stat(key)).not.toBeNull();
    expect((await t.api(`/v1/videos/${id}/captions/${fr.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.api(`/v1/videos/${id}/captions/${fr.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await t.reel.store.stat(key)).toBeNull();
    expect((await captions()).map((c) => c.id)).not.toContain(fr.id);
    const master = await (await fetch(playUrl)).text();
    expect(master).not.toContain(fr.id);
    expect(master).toContain('TYPE=SUBTITLES');
    expect((await fetch(resolveUri(playUrl, `subs/${fr.id}/index.m3u8`))).status).toBe(404);

    expect((await t.api(`/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await t.reel.store.list(`videos/${id}/captions/`)).toEqual([]);
  });
});

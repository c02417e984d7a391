/**
 * Stop Reel at any moment and start it again: nothing is lost. The server runs as a child process here,
 * so that it can be killed with SIGKILL.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as tus from 'tus-js-client';
import { afterEach, describe, expect, it } from 'vitest';
import { makeClip } from '../fixtures/generate.js';
import { type ReelProcess, spawnReel } from '../helpers/process.js';
import { waitFor } from '../helpers/reel.js';
import { tusFetch, tusHeaders } from '../helpers/tus.js';

const API_KEY = 'reel_test_restart_key_0123456789';

describe('restart safety', () => {
  const procs: ReelProcess[] = [];
  afterEach(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    procs.length = 0;
  });

  async function start(dataDir: string, port: number): Promise<string> {
    const p = spawnReel(['serve'], {
      REEL_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      REEL_API_KEY: API_KEY,
      REEL_X264_PRESET: 'superfast',
      REEL_LEASE_SECONDS: '30',
      REEL_POLL_MS: '100',
    });
    procs.push(p);
    const [, url] = await p.waitForOutput(/URL:\s+(http:\/\/\S+)/);
    return url!;
  }
  /** A port nothing listens on now (the server must come back on the same one after a restart). */
  const freePort = () =>
    new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
  const api = (url: string, p: string, init: RequestInit = {}) =>
    fetch(url + p, { ...init, headers: { Authorization: `Bearer ${API_KEY}`, ...(init.headers as object) } });

  it('a server killed during a transcode finishes the video after a restart', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-restart-'));
    const port = await freePort();
    let url = await start(dataDir, port);
    const clip = await makeClip('restart-720p', { width: 1280, height: 720, seconds: 30 });
    const id = await new Promise<string>((resolve, reject) => {
      const up = new tus.Upload(fs.readFileSync(clip), {
        endpoint: `${url}/v1/uploads`,
        headers: { Authorization: `Bearer ${API_KEY}` },
        metadata: { filename: 'restart.mp4' },
        onError: reject,
        onSuccess: () => resolve(up.url!.split('/').pop()!),
      });
      up.start();
    });
    await waitFor('the transcode to be under way', async () => {
      const v = await (await api(url, `/v1/videos/${id}`)).json();
      return v.status === 'processing' && v.progress > 0.05;
    });
    procs[0]!.child.kill('SIGKILL');
    await procs[0]!.exited;

    url = await start(dataDir, port);
    expect((await (await api(url, `/v1/videos/${id}`)).json()).status).not.toBe('ready');
    const video = await waitFor(
      'the video to be ready after the restart',
      async () => {
        const v = await (await api(url, `/v1/videos/${id}`)).json();
        return v.status === 'ready' || v.status === 'failed' ? v : undefined;
      },
      180_000,
    );
    expect(video.status).toBe('ready');
    const jobs = await (await api(url, `/v1/videos/${id}`)).json();
    expect(jobs.renditions.map((r: { height: number }) => r.height)).toEqual([720, 480, 240]);
    // Outputs are only under task attempts' prefixes; the chunk the kill interrupted was done again.
    const attempts = fs.readdirSync(path.join(dataDir, 'objects', 'videos', id));
    for (const a of attempts) expect(a).toMatch(/^t\d+-a\d+$/);
    expect(
      attempts.some((a) => a.endsWith('-a2')),
      attempts.join(' '),
    ).toBe(true);
    // Every segment of every playlist is there: the video plays to its end.
    const { url: playUrl } = await (await api(url, `/v1/videos/${id}/playback`)).json();
    const master = await fetch(playUrl);
    expect(master.status).toBe(200);
    const text = await master.text();
    const playlists = [
      ...text.split('\n').filter((l) => l && !l.startsWith('#')),
      ...[...text.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!),
    ];
    // Three rungs, their three I-frame playlists, and the audio.
    expect(playlists.length).toBe(7);
    expect(playlists.filter((p) => p.endsWith('/iframes.m3u8'))).toHaveLength(3);
    for (const p of playlists) {
      const media = new URL(p, playUrl);
      const lines = (await (await fetch(media)).text()).split('\n');
      expect(lines).toContain('#EXT-X-ENDLIST');
      for (const seg of ['init.mp4', ...lines.filter((l) => l && !l.startsWith('#'))])
        expect((await fetch(new URL(seg, media), { method: 'HEAD' })).status, `${p} ${seg}`).toBe(200);
    }
  });

  it('a half-finished tus upload resumes after a restart, from its offset', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-restart-'));
    const port = await freePort();
    let url = await start(dataDir, port);
    const data = fs.readFileSync(await makeClip('restart-small', { width: 640, height: 360, seconds: 4 }));
    const half = Math.floor(data.length / 2);
    const created = await api(url, '/v1/uploads', {
      method: 'POST',
      headers: tusHeaders.create(data.length, { filename: 'small.mp4' }),
    });
    const location = created.headers.get('location')!;
    const patch = await tusFetch.patch(location, 0, data.subarray(0, half), {
      Authorization: `Bearer ${API_KEY}`,
    });
    expect(patch.status).toBe(204);
    procs[0]!.child.kill('SIGKILL');
    await procs[0]!.exited;

    url = await start(dataDir, port);
    const head = await tusFetch.head(location, { Authorization: `Bearer ${API_KEY}` });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(half));
    // The real client resumes from the server's offset (and retries the way clients do).
    const progress: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const up = new tus.Upload(data, {
        uploadUrl: location,
        headers: { Authorization: `Bearer ${API_KEY}` },
        retryDelays: [100, 500, 1000],
        onProgress: (sent) => progress.push(sent),
        onError: reject,
        onSuccess: () => resolve(),
      });
      up.start();
    });
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.min(...progress)).toBeGreaterThanOrEqual(half);
    const id = location.split('/').pop()!;
    const v = await waitFor('ready', async () => {
      const v = await (await api(url, `/v1/videos/${id}`)).json();
      return v.status === 'ready' || v.status === 'failed' ? v : undefined;
    });
    expect(v.status).toBe('ready');
    expect(fs.readFileSync(path.join(dataDir, 'objects', 'sources', id, 'original')).equals(data)).toBe(true);
  });

  it('reel upload shows progress, resumes an interrupted upload and prints the video id', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reel-restart-'));
    const url = await start(dataDir, await freePort());
    const file = await makeClip('cli-upload', { width: 1280, height: 720, seconds: 10 });
    const size = fs.statSync(file).size;
    const stateFile = path.join(dataDir, 'cli-state.json');
    // A first run that stops after one chunk (as if the connection dropped or the user pressed Ctrl-C).
    const FileUrlStorage = (tus as unknown as { FileUrlStorage: new (f: string) => tus.UrlStorage })
      .FileUrlStorage;
    const chunk = 256 * 1024;
    await new Promise<void>((resolve, reject) => {
      const up = new tus.Upload(fs.createReadStream(file), {
        endpoint: `${url}/v1/uploads`,
        headers: { Authorization: `Bearer ${API_KEY}` },
        // what `reel upload FILE --title 'From the CLI' --public` sends
        metadata: { filename: path.basename(file), title: 'From the CLI', playback_policy: 'public' },
        chunkSize: chunk,
        urlStorage: new FileUrlStorage(stateFile),
        storeFingerprintForResuming: true,
        onChunkComplete: () => {
          void up.abort(false).then(() => resolve());
        },
        onError: reject,
      });
      up.start();
    });
    const cli = spawnReel(['upload', file, '--title', 'From the CLI', '--public', '--server', url], {
      REEL_API_KEY: API_KEY,
      REEL_UPLOAD_STATE: stateFile,
    });
    procs.push(cli);
    expect(await cli.exited, cli.output()).toBe(0);
    const out = cli.output();
    expect(out).toMatch(/\[#+\] 100%/);
    expect(out).toMatch(new RegExp(`resumed from byte ${chunk}`));
    const id = out.trim().split('\n').pop()!;
    const v = await (await api(url, `/v1/videos/${id}`)).json();
    expect(v).toMatchObject({ id, title: 'From the CLI', playbackPolicy: 'public' });
    expect(fs.statSync(path.join(dataDir, 'objects', 'sources', id, 'original')).size).toBe(size);
  });
});

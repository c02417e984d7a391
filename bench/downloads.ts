/**
 * `npm run bench:downloads`: what MP4 downloads add to the time to ready (issue 13; aim ≤ 5%).
 *
 * One embedded Reel with production settings (preset, default ladder), one worker. A BENCH_SECONDS (60)
 * 720p30 clip with audio is uploaded with `mp4: true`, then the same clip without. For the first, from
 * its job events: the finish task's wall time (claimed → published: fetching the published segments,
 * remuxing every rung and the audio, uploading the MP4s) against the video's processing time (the
 * planning claim → ready). The finish task runs after every other task, so its wall time is what the
 * downloads add to the time to ready; the video without mp4 (no finish task) is the reference.
 */
import fs from 'node:fs';
import { loadConfig } from '../src/config.js';
import { makeClip } from '../test/fixtures/generate.js';
import { startTestReel, type TestReel, waitFor } from '../test/helpers/reel.js';
import { tusUpload } from '../test/helpers/upload.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const defaults = loadConfig({}, {});
const PRODUCTION = { 'x264-preset': defaults.x264Preset, 'lease-seconds': '30', 'log-level': 'info' };

interface EventRow {
  event: string;
  task_id: number | string | null;
  kind: string | null;
  at: Date | string;
}

const ms = (d: Date | string) => new Date(d).getTime();

/** Uploads the clip, waits for ready; the video's processing time and its finish task's wall time (ms). */
async function processed(t: TestReel, clip: Buffer, mp4: boolean) {
  const id = await tusUpload(t, clip, { filename: 'bench.mp4', ...(mp4 ? { mp4: 'true' } : {}) });
  const view = await waitFor(
    'ready',
    async () => {
      const v = (await (await t.api(`/v1/videos/${id}`)).json()) as {
        status: string;
        error: string | null;
        downloads: { name: string; size: number }[];
      };
      if (v.status === 'failed') throw new Error(`the video failed: ${v.error}`);
      return v.status === 'ready' ? v : undefined;
    },
    20 * 60_000,
    100,
  );
  const events = await t.reel.db.query<EventRow>(
    `SELECT e.event, e.task_id, t.kind, e.at FROM job_events e LEFT JOIN tasks t ON t.id = e.task_id
      WHERE e.video_id = $1 ORDER BY e.id`,
    [id],
  );
  const start = events.find((e) => e.event === 'claimed' && e.task_id === null);
  const ready = events.find((e) => e.event === 'ready');
  if (!start || !ready) throw new Error('no planning claim or no ready event');
  const claim = events.find((e) => e.kind === 'finish' && e.event === 'claimed');
  const done = events.find((e) => e.kind === 'finish' && e.event === 'published');
  return {
    processingMs: ms(ready.at) - ms(start.at),
    finishMs: claim && done ? ms(done.at) - ms(claim.at) : 0,
    downloads: view.downloads,
  };
}

const clipPath = await makeClip(`bench-downloads-${seconds}s-720p`, {
  width: 1280,
  height: 720,
  seconds,
  audio: true,
});
const clip = fs.readFileSync(clipPath);
const t = await startTestReel(PRODUCTION);
try {
  const withMp4 = await processed(t, clip, true);
  const without = await processed(t, clip, false);
  const share = withMp4.finishMs / withMp4.processingMs;
  const mb = (b: number) => (b / 1e6).toFixed(1);
  console.log(`clip: ${seconds} s 1280x720p30 with audio; preset ${defaults.x264Preset}; ladder default`);
  console.log(`downloads: ${withMp4.downloads.map((d) => `${d.name} ${mb(d.size)} MB`).join(', ')}`);
  console.log(
    `with mp4:    planning→ready ${(withMp4.processingMs / 1000).toFixed(2)} s, of which the finish task ${(withMp4.finishMs / 1000).toFixed(2)} s`,
  );
  console.log(`without mp4: planning→ready ${(without.processingMs / 1000).toFixed(2)} s (no finish task)`);
  console.log(
    `MP4 downloads add ${(share * 100).toFixed(1)}% to the time to ready (aim ≤ 5%): ${share <= 0.05 ? 'met' : 'NOT met'}`,
  );
} finally {
  await t.close();
  fs.rmSync(t.dataDir, { recursive: true, force: true });
}

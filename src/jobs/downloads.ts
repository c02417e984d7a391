/**
 * MP4 downloads (issue 13): download/{rung}.mp4 and download/audio.m4a, remuxed without re-encoding from
 * a video's published segments, fast start. Each rendition a download needs is fetched from the store once
 * (its init segment, then its segments in order: one fragmented MP4 file), then one ffmpeg per download
 * copies its streams into a plain MP4 with `moov` in front (media/downloadPlan.ts).
 */
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../core/errors.js';
import { renditionObjects } from '../db/downloads.js';
import type { PublishedFile } from '../db/outputs.js';
import type { VideoDownload } from '../db/videos.js';
import { planDownloads, remuxArgs } from '../media/downloadPlan.js';
import { INIT_SEGMENT } from '../media/ffmpegArgs.js';
import { transcodeBudgetSeconds } from '../media/limits.js';
import { runTranscode } from '../media/transcode.js';
import type { FinishContext } from './finishTask.js';

export async function makeDownloads(
  ctx: FinishContext,
): Promise<{ files: (PublishedFile & { file: string })[]; downloads: VideoDownload[] }> {
  const { plan, workDir, signal } = ctx;
  const planned = planDownloads(plan.renditions, plan.audio !== null);
  const inputsDir = path.join(workDir, 'fmp4');
  const outDir = path.join(workDir, 'download');
  await mkdir(inputsDir, { recursive: true });
  await mkdir(outDir, { recursive: true });

  const needed = [...new Set(planned.flatMap((d) => d.inputs))];
  const local = new Map<string, string>();
  await Promise.all(
    needed.map(async (rendition) => {
      const file = path.join(inputsDir, `${rendition}.mp4`);
      await fetchRendition(ctx, rendition, file);
      local.set(rendition, file);
    }),
  );

  const budget = {
    floorSeconds: ctx.deps.config.attemptBudgetSeconds,
    factor: ctx.deps.config.attemptBudgetFactor,
  };
  const durationMs = ctx.task.spec.durationMs;
  const made = await Promise.all(
    planned.map(async (d) => {
      const file = path.join(workDir, d.path);
      await runTranscode({
        ffmpegPath: ctx.deps.config.ffmpegPath,
        args: remuxArgs(
          d.inputs.map((r) => local.get(r)!),
          file,
        ),
        durationMs,
        signal,
        timeLimitMs: transcodeBudgetSeconds(durationMs, budget) * 1000,
        redact: { [workDir]: 'work' },
      });
      const bytes = (await stat(file)).size;
      return { d, file, bytes };
    }),
  );
  ctx.log.info(
    { downloads: made.map((m) => ({ name: m.d.name, bytes: m.bytes })) },
    'downloads remuxed from the published segments',
  );
  return {
    files: made.map(({ d, file, bytes }) => ({
      path: d.path,
      key: ctx.prefix + d.path,
      rendition: null,
      seq: null,
      duration: null,
      bytes,
      file,
    })),
    downloads: made.map(({ d, bytes }) => ({ name: d.name, width: d.width, height: d.height, size: bytes })),
  };
}

/** Writes a published rendition (init segment, then every segment in order) into one local file. */
async function fetchRendition(ctx: FinishContext, rendition: string, file: string): Promise<void> {
  const objects = await renditionObjects(ctx.deps.db, ctx.task.videoId, rendition);
  const init = objects[0];
  if (!init?.path.endsWith(`/${INIT_SEGMENT}`) || objects.length < 2)
    throw errors.transcodeFailed(`the ${rendition} rendition is not published whole`);
  const out = await open(file, 'w');
  try {
    for (const o of objects) {
      ctx.signal.throwIfAborted();
      for await (const chunk of await ctx.deps.store.get(o.key)) await out.write(chunk as Buffer);
    }
  } finally {
    await out.close();
  }
}

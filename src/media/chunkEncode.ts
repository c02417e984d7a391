// STUB (replaced by the c11-media branch)

import type { ChunkSpec } from './chunkPlan.js';
import type { SourceFile } from './ffmpegArgs.js';
import type { MediaPlan } from './ladder.js';
export interface ChunkOutput {
  path: string;
  file: string;
  rendition: string | null;
  seq: number | null;
  duration: number | null;
  bytes: number;
}
export async function encodeVideoChunk(_opts: {
  source: SourceFile;
  plan: MediaPlan;
  chunk: ChunkSpec;
  outDir: string;
  ffmpegPath: string;
  signal?: AbortSignal;
  timeLimitMs?: number;
  onProgress?: (fraction: number) => void;
}): Promise<{ outputs: ChunkOutput[]; codecs: Record<string, string>; frames: number; warnings: string[] }> {
  throw new Error('stub');
}
export async function encodeAudio(_opts: {
  source: SourceFile;
  plan: MediaPlan;
  outDir: string;
  ffmpegPath: string;
  signal?: AbortSignal;
  timeLimitMs?: number;
  onOutput: (out: ChunkOutput) => Promise<void>;
}): Promise<{ segments: number; codecs: string }> {
  throw new Error('stub');
}

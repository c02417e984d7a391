// STUB (replaced by the c11-media branch)
import type { TranscodePlan } from '../core/types.js';
export const FIRST_CHUNK_SECONDS = 2;
export const CHUNK_SECONDS = 12;
export interface ChunkSpec {
  index: number;
  startFrame: number;
  frames: number | null;
  firstSeq: number;
  fast: boolean;
  poster: boolean;
}
export function planChunks(
  _plan: Pick<TranscodePlan, 'fps' | 'keyframeSeconds' | 'segmentSeconds'>,
  _durationMs: number,
  _opts?: { firstChunkSeconds?: number; chunkSeconds?: number },
): ChunkSpec[] {
  throw new Error('stub');
}

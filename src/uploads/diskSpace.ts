/** Free space on the disk that holds a directory, as an unprivileged process may use it. */
import fsp from 'node:fs/promises';

export async function freeBytes(dir: string): Promise<number> {
  const s = await fsp.statfs(dir);
  return s.bavail * s.bsize;
}

/** Whether an error is the filesystem saying it is full. */
export const isDiskFull = (err: unknown): boolean =>
  typeof err === 'object' &&
  err !== null &&
  ['ENOSPC', 'EDQUOT'].includes((err as { code?: string }).code ?? '');

import { execFileSync } from 'node:child_process';

/** Fails fast with a clear message when the tools the tests drive are missing. */
export default async function setup(): Promise<void> {
  for (const bin of ['ffmpeg', 'ffprobe']) {
    try {
      execFileSync(bin, ['-version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${bin} is not installed: run the README's test command (it installs ffmpeg).`);
    }
  }
}

/**
 * Child processes that die with their parent. A worker killed with SIGKILL cannot kill its ffmpeg, which
 * would otherwise run on to the end of its transcode, burning CPU another worker now needs. On Linux,
 * `setpriv --pdeathsig KILL` (util-linux, in every Debian) asks the kernel to kill the child when its
 * parent dies. Elsewhere, or when setpriv or the binary cannot be found, the command runs as it is.
 */
import fs from 'node:fs';
import path from 'node:path';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = process.platform === 'linux' && fs.existsSync(SETPRIV);

function resolvable(bin: string): boolean {
  if (bin.includes('/')) return fs.existsSync(bin);
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir && fs.existsSync(path.join(dir, bin)));
}

/** The command and arguments to spawn so that `bin` is killed if this process dies. */
export function tiedToParent(bin: string, args: readonly string[]): [string, string[]] {
  // A missing binary is left to spawn, which reports ENOENT (turned into "install ffmpeg").
  if (!hasSetpriv || !resolvable(bin)) return [bin, [...args]];
  return [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...args]];
}

/**
 * How the local provider starts and signals processes: the wrapper shell that records an exit
 * code, handing bwrap its options, and process-group signals.
 */
import path from 'node:path';
import type { Writable } from 'node:stream';

import { SandboxError } from '../errors.js';
import { readContained, type HostLocation } from './fs.js';

/**
 * Runs inside the sandbox (or on the host with isolation `none`) as the process group leader's
 * child: `sh -c WRAPPER sh <keep-pwd|-> <exitCodePath> <argv...>`. Paths and argv only ever
 * travel as positional parameters.
 * - `trap : TERM`: a graceful kill() reaches the command, and this shell survives to record
 *   the command's exit code (a handled signal, unlike an ignored one, is not inherited).
 * - fd 3 is bwrap's `--args` pipe; do not leak it to the agent.
 * - dash exports PWD even when it was not in the environment; drop it unless it was given.
 * - The exit code goes to a temp name first so a reader never sees a partial file.
 */
export const WRAPPER = [
  'trap : TERM',
  'exec 3<&-',
  '[ "$1" = keep-pwd ] || unset PWD OLDPWD',
  'code=$2',
  'shift 2',
  '"$@"',
  'rc=$?',
  'echo "$rc" > "$code.tmp" && mv -f -- "$code.tmp" "$code"',
].join('\n');

export function parentOf(loc: HostLocation): HostLocation {
  return { hostPath: path.dirname(loc.hostPath), areaRoot: loc.areaRoot };
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Sends bwrap its options, NUL-separated, on the `--args` fd. */
export async function writeArgs(stream: Writable, args: string[]): Promise<void> {
  const data = Buffer.from(args.map((a) => `${a}\0`).join(''));
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(data, resolve);
    });
  } catch (err) {
    // bwrap died before reading its options; its stderr file says why.
    throw new SandboxError(`bubblewrap did not accept its options: ${(err as Error).message}`, { cause: err });
  } finally {
    stream.destroy();
  }
}

export async function readExitCode(loc: HostLocation): Promise<number | null | undefined> {
  const buf = await readContained(loc);
  if (buf === undefined) return undefined;
  const text = buf.toString('utf8').trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

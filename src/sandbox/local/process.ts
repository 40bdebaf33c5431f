/**
 * How the local provider starts and signals processes: the wrapper shell that records an exit
 * code, handing bwrap its options, and process-group signals.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';

import { SandboxError } from '../errors.js';
import { readContained, type HostLocation } from './fs.js';
import { RELAY_PRELUDE } from './network.js';

/**
 * Runs inside the sandbox (or on the host with isolation `none`) as the process group leader's
 * child: `sh -c WRAPPER sh <keep-pwd|-> <exitCodePath> <argv...>`. Paths and argv only ever
 * travel as positional parameters.
 * - `trap : TERM`: a graceful kill() reaches the command, and this shell survives to record
 *   the command's exit code (a handled signal, unlike an ignored one, is not inherited).
 * - fd 3 is bwrap's `--args` pipe; do not leak it to the agent.
 * - dash exports PWD even when it was not in the environment; drop it unless it was given.
 * - The relay (network.ts) starts first when the jail's network needs one.
 * - The exit code goes to a temp name first so a reader never sees a partial file. That file
 *   is for people; in a jail ccflow trusts only bwrap's status file (the agent can write the
 *   other), which carries this shell's own exit status: hence `exit "$rc"`.
 */
export const WRAPPER = [
  'trap : TERM',
  'exec 3<&-',
  RELAY_PRELUDE,
  '[ "$1" = keep-pwd ] || unset PWD OLDPWD',
  'code=$2',
  'shift 2',
  '"$@"',
  'rc=$?',
  'echo "$rc" > "$code.tmp" && mv -f -- "$code.tmp" "$code"',
  'exit "$rc"',
].join('\n');

/** Where bwrap's status for a jail goes (`--json-status-fd`): a file in `procs/`, out of the jail's reach. */
export const STATUS_FD = 4;

/**
 * The exit code bwrap recorded for a jail: undefined while it has recorded none (running, or
 * killed with its monitor), the code once it has.
 */
export async function readJailExitCode(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  // A stream of JSON documents; the last one of an ended jail is `{ "exit-code": N }`.
  const m = /"exit-code"\s*:\s*(\d+)/.exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

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

/**
 * The shell command the E2B provider hands to `commands.run` to start a detached process.
 *
 * envd starts `/bin/bash -l -c <command>` as a plain child of itself, pipes its output to
 * whichever client is subscribed (and drops it when none is), and kills just that pid when a
 * deadline passes. So the command:
 * - becomes the leader of its own session and process group (`setsid`), so `kill -- -pid`
 *   reaches the agent and everything it started;
 * - restores exactly the environment the caller asked for: login shells reset PATH, and envd
 *   adds its own variables. The values travel as `CCFLOW_ENV_<NAME>` request envs, never in
 *   argv or in a file;
 * - sends stdout/stderr to files and, when the process ends, writes its exit code to a file
 *   (temp file + rename), so nothing depends on a client being connected.
 */
import { SandboxInputError } from '../errors.js';
import type { ExecDetachedOpts } from '../types.js';
import { SANDBOX_WORKDIR } from '../layout.js';

/** Prefix of the request envs that carry the process environment. */
export const ENV_PREFIX = 'CCFLOW_ENV_';
/** argv[0] of the wrapper shell; how the provider recognises its processes in envd's list. */
export const WRAPPER_NAME = 'ccflow-detached';

/** Quotes one word for a POSIX shell. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface DetachedCommand {
  /** For `commands.run(cmd, ...)`: run by envd as `/bin/bash -l -c cmd`. */
  cmd: string;
  /** For `commands.run(..., { envs })`. */
  envs: Record<string, string>;
}

/** Builds the wrapper for `argv` with its files and environment. */
export function detachedCommand(argv: string[], opts: ExecDetachedOpts): DetachedCommand {
  if (argv.length === 0) throw new SandboxInputError('execDetached needs a command');
  const envs: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (!NAME.test(name)) throw new SandboxInputError(`environment variable name ${JSON.stringify(name)} is not valid`);
    envs[`${ENV_PREFIX}${name}`] = value;
  }
  const q = shellQuote;
  const out = q(opts.stdoutPath);
  const err = q(opts.stderrPath);
  const exit = q(opts.exitCodePath);
  const dirs = [...new Set([opts.stdoutPath, opts.stderrPath, opts.exitCodePath].map(dirname))].map(q).join(' ');
  const redirect = opts.stdoutPath === opts.stderrPath ? `exec >${out} 2>&1` : `exec >${out} 2>${err}`;
  const inner = [
    // A signal for the group may arrive before the process exists: remember it.
    "trap '__ccflow_sig=1' TERM INT HUP",
    `command -p mkdir -p -- ${dirs}`,
    redirect,
    `cd -- ${q(opts.cwd ?? SANDBOX_WORKDIR)} || { printf '127\\n' >${exit}; exit 127; }`,
    // After cd, which would export OLDPWD again.
    'declare -A __ccflow_env=()',
    `for __n in $(compgen -e); do case $__n in ${ENV_PREFIX}*) __ccflow_env[\${__n#${ENV_PREFIX}}]=\${!__n};; esac; done`,
    'for __n in $(compgen -e); do unset "$__n" 2>/dev/null; done',
    'for __n in "${!__ccflow_env[@]}"; do export "$__n=${__ccflow_env[$__n]}"; done',
    'unset __n __ccflow_env',
    // In the background so that a trapped signal interrupts `wait` instead of waiting for the
    // process; the wrapper outlives TERM/INT/HUP to record the exit code. (Background jobs of
    // a non-interactive shell ignore SIGINT; ccflow stops agents with TERM or KILL.)
    // (The subshell would otherwise export a SHLVL of its own.)
    '__ccflow_shlvl=${SHLVL-unset}',
    `( if [[ $__ccflow_shlvl == unset ]]; then unset SHLVL; else export SHLVL=$__ccflow_shlvl; fi; exec "$@" ) <${q(opts.stdinPath ?? '/dev/null')} &`,
    '__ccflow_child=$!',
    '[[ -n ${__ccflow_sig-} ]] && kill -s TERM "$__ccflow_child" 2>/dev/null',
    'wait "$__ccflow_child"; __rc=$?',
    'while kill -0 "$__ccflow_child" 2>/dev/null; do wait "$__ccflow_child"; __rc=$?; done',
    `printf '%s\\n' "$__rc" >${q(`${opts.exitCodePath}.tmp`)} && command -p mv -f -- ${q(`${opts.exitCodePath}.tmp`)} ${exit}`,
    'exit "$__rc"',
  ].join('\n');
  // `exec setsid`: envd's child is not a process group leader, so setsid turns this very pid
  // into the session leader (-w only matters if it ever were one: then setsid forks and waits).
  const cmd = ['exec', 'setsid', '-w', '/bin/bash', '-c', inner, WRAPPER_NAME, ...argv].map((w, i) => (i < 4 ? w : q(w))).join(' ');
  return { cmd, envs };
}

function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** The command that signals a detached process's whole group, quietly if it is gone. */
export function killCommand(pid: number, signal: 'SIGTERM' | 'SIGKILL'): string {
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new SandboxInputError(`not a process id: ${pid}`);
  const sig = signal === 'SIGKILL' ? 'KILL' : 'TERM';
  return `kill -s ${sig} -- -${pid} 2>/dev/null || kill -s ${sig} ${pid} 2>/dev/null; true`;
}

// @ts-check
/**
 * The in-sandbox half of the E2B test double's envd: runs inside the sandbox's bubblewrap jail
 * (as the sandbox user, in the sandbox's own pid namespace) and starts, signals and watches
 * processes for the host-side server. Like envd it starts a command as a plain child (no new
 * process group), signals only the pid it was asked to, and pipes stdout/stderr back.
 *
 * Protocol: JSON lines. In on stdin: {op:'start', req, cmd, args, env, cwd, stdin} and
 * {op:'signal', req, pid, signal}. Out on stdout: {ev:'ready'}, {ev:'started', req, pid},
 * {ev:'failed', req, message}, {ev:'data', pid, stream, b64}, {ev:'end', pid, exitCode,
 * signal}, {ev:'signaled', req, ok, message?}. When stdin closes, the agent exits, and with it
 * (as the jail's only child) every process in the sandbox.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** @type {Map<number, import('node:child_process').ChildProcess>} */
const running = new Map();

/** @param {Record<string, unknown>} msg */
function emit(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** @param {any} msg */
function start(msg) {
  try {
    if (!statSync(msg.cwd).isDirectory()) throw new Error('not a directory');
  } catch {
    emit({ ev: 'failed', req: msg.req, message: `cwd '${msg.cwd}' does not exist` });
    return;
  }
  const child = spawn(msg.cmd, msg.args, {
    cwd: msg.cwd,
    env: msg.env,
    stdio: [msg.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  child.once('error', (err) => {
    if (child.pid === undefined) emit({ ev: 'failed', req: msg.req, message: `error starting process '${msg.cmd}': ${err.message}` });
  });
  if (child.pid === undefined) return;
  const pid = child.pid;
  running.set(pid, child);
  emit({ ev: 'started', req: msg.req, pid });
  for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
    child[stream]?.on('data', (/** @type {Buffer} */ chunk) => emit({ ev: 'data', pid, stream, b64: chunk.toString('base64') }));
  }
  child.once('exit', (code, signal) => {
    // Like envd: the end follows the process, not whoever else still holds its pipes.
    const finish = () => {
      if (!running.has(pid)) return;
      running.delete(pid);
      child.stdout?.destroy();
      child.stderr?.destroy();
      emit({ ev: 'end', pid, exitCode: code ?? -1, signal: signal ?? undefined });
    };
    const grace = setTimeout(finish, 200);
    child.once('close', () => {
      clearTimeout(grace);
      finish();
    });
  });
}

/** @param {any} msg */
function signal(msg) {
  if (!running.has(msg.pid)) {
    emit({ ev: 'signaled', req: msg.req, ok: false, message: `process with pid ${msg.pid} not found` });
    return;
  }
  try {
    process.kill(msg.pid, msg.signal);
    emit({ ev: 'signaled', req: msg.req, ok: true });
  } catch (err) {
    emit({ ev: 'signaled', req: msg.req, ok: false, message: err instanceof Error ? err.message : String(err) });
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (msg.op === 'start') start(msg);
  else if (msg.op === 'signal') signal(msg);
});
lines.on('close', () => process.exit(0));
emit({ ev: 'ready' });

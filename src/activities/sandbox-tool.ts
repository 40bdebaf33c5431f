import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { WorkspaceRunner } from '../git/index.js';
import { SANDBOX_HOME } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';

/** The environment of ccflow's helper processes in a sandbox (tar, rm, git): nothing of the worker's. */
export const TOOL_ENV: Readonly<Record<string, string>> = { PATH: '/usr/bin:/bin', HOME: SANDBOX_HOME, LANG: 'C.UTF-8' };

export interface ToolOpts {
  /** The helper's files go in a new directory `<prefix>-<random>`. */
  prefix: string;
  /** The longest wait between two looks at whether it ended. */
  pollMs: number;
  /** @default TOOL_ENV */
  env?: Record<string, string>;
  /** Called at every look (an activity heartbeats). */
  heartbeat?: () => void;
  /** @default a plain timer (an activity passes its cancellable sleep) */
  sleep?: (ms: number) => Promise<void>;
}

/** The first look comes after this; each later one waits twice as long, up to pollMs. */
const FIRST_POLL_MS = 5;

/**
 * Runs a short helper command in the sandbox and waits for it. Its output goes to files, like
 * an agent's, so a provider never has to keep a stream open. Helpers mostly end within
 * milliseconds, so the looks start quick and back off: a capture after every turn should not
 * wait a whole poll interval for a process that ended long ago.
 */
export async function runInSandbox(sandbox: Sandbox, argv: string[], o: ToolOpts): Promise<{ exitCode: number; stderr: string }> {
  // A directory of its own: an exit code left by an earlier run would read as "already done".
  const dir = `${o.prefix}-${randomUUID().slice(0, 8)}`;
  const files = { stdout: `${dir}/stdout`, stderr: `${dir}/stderr`, exitCode: `${dir}/exit-code` };
  await sandbox.writeFile(files.stdout, '');
  const { pid } = await sandbox.execDetached(argv, {
    cwd: SANDBOX_HOME,
    env: o.env ?? { ...TOOL_ENV },
    stdoutPath: files.stdout,
    stderrPath: files.stderr,
    exitCodePath: files.exitCode,
  });
  const wait = o.sleep ?? ((ms: number) => sleep(ms));
  const exit = sandbox.exited?.(pid);
  for (let delay = Math.min(FIRST_POLL_MS, o.pollMs); ; delay = Math.min(delay * 2, o.pollMs)) {
    // The exit itself wakes us where the provider can tell; the backing-off looks otherwise.
    await (exit ? Promise.race([wait(delay), exit]) : wait(delay));
    const state = await sandbox.processState(pid, files.exitCode);
    if (state.state === 'exited') {
      // Bounded: a helper's stderr is read into the worker's memory.
      const stderr = (await sandbox.readFileFrom(files.stderr, 0, 64 * 1024)).toString('utf8');
      return { exitCode: state.exitCode ?? -1, stderr };
    }
    o.heartbeat?.();
  }
}

/** runInSandbox from an activity: heartbeating, and cancelled with it. */
export function runTool(
  sandbox: Sandbox,
  argv: string[],
  o: Omit<ToolOpts, 'heartbeat' | 'sleep'>,
): Promise<{ exitCode: number; stderr: string }> {
  const ctx = Context.current();
  return runInSandbox(sandbox, argv, { ...o, heartbeat: () => ctx.heartbeat(), sleep: (ms) => ctx.sleep(ms) });
}

/** The git module's view of a sandbox: where its in-sandbox scripts run. */
export function sandboxRunner(sandbox: Sandbox, o: Omit<ToolOpts, 'env'>): WorkspaceRunner {
  return {
    run: (argv, env) => runInSandbox(sandbox, argv, { ...o, env }),
    readFile: (p) => sandbox.readFile(p),
    writeFile: (p, content) => sandbox.writeFile(p, content),
  };
}

import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { WorkspaceRunner } from '../git/index.js';
import { SANDBOX_HOME } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';

/** The environment of ccflow's helper processes in a sandbox (tar, rm, git): nothing of the worker's. */
export const TOOL_ENV: Readonly<Record<string, string>> = { PATH: '/usr/bin:/bin', HOME: SANDBOX_HOME, LANG: 'C.UTF-8' };

/**
 * Runs a short helper command in the sandbox and waits for it, heartbeating. Its output goes
 * to files, like an agent's, so a provider never has to keep a stream open.
 */
export async function runTool(
  sandbox: Sandbox,
  argv: string[],
  o: { prefix: string; pollMs: number; env?: Record<string, string> },
): Promise<{ exitCode: number; stderr: string }> {
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
  const ctx = Context.current();
  for (;;) {
    const state = await sandbox.processState(pid, files.exitCode);
    if (state.state === 'exited') {
      const stderr = (await sandbox.readFile(files.stderr))?.toString('utf8') ?? '';
      return { exitCode: state.exitCode ?? -1, stderr };
    }
    ctx.heartbeat();
    await ctx.sleep(o.pollMs);
  }
}

/** The git module's view of a sandbox: where its in-sandbox scripts run. */
export function sandboxRunner(sandbox: Sandbox, o: { prefix: string; pollMs: number }): WorkspaceRunner {
  return {
    run: (argv, env) => runTool(sandbox, argv, { ...o, env }),
    readFile: (p) => sandbox.readFile(p),
    writeFile: (p, content) => sandbox.writeFile(p, content),
  };
}

import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../artifacts/types.js';
import { runFiles } from '../claude/runner.js';
import { SANDBOX_OWNER } from '../domain/constants.js';
import { SANDBOX_FILES } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';
import type { CreateSandboxInput, CreatedSandbox, DestroySandboxInput, DestroyedSandbox } from '../schemas/activities.js';
import type { ActivityDeps } from './deps.js';
import { translated } from './failures.js';
import type { SandboxAccess } from './sandboxes.js';

/** How many attempt directories of one run are looked at (a run retried more often is unheard of). */
export const MAX_ATTEMPT_DIRS = 20;

/** Stands in for the task of an activity run outside a workflow (only tests do that). */
const UNKNOWN_TASK = { workflowId: 'unknown', runId: 'unknown' };

/** Creating a task's sandbox, and saving its transcripts before destroying it. */
export const createLifecycleActivities = (deps: ActivityDeps, sandboxes: SandboxAccess) => ({
  async createSandbox(input: CreateSandboxInput): Promise<CreatedSandbox> {
    const ctx = Context.current();
    const name = input.provider ?? deps.defaultProvider;
    const { workflowId, runId } = ctx.info.workflowExecution ?? UNKNOWN_TASK;
    const sandbox = await translated(() =>
      sandboxes.provider(name).create({
        metadata: { owner: SANDBOX_OWNER, workflowId, runId },
        files: input.files,
        timeoutSeconds: input.timeoutSeconds,
      }),
    );
    ctx.log.info('sandbox created', { sandboxId: sandbox.sandboxId, provider: name });
    // A bubblewrap sandbox lives on this host only: later activities must come back here. Any
    // other goes back to the queue this activity came from, which is the task's own.
    return { sandboxId: sandbox.sandboxId, provider: name, taskQueue: name === 'local' ? deps.hostTaskQueue : ctx.info.taskQueue };
  },

  /** Saves every run's transcript and stderr to the artifact store, then destroys the sandbox. */
  async destroySandbox(input: DestroySandboxInput): Promise<DestroyedSandbox> {
    const ctx = Context.current();
    const workflowId = (ctx.info.workflowExecution ?? UNKNOWN_TASK).workflowId;
    const provider = sandboxes.provider(input.provider);
    let saved = 0;
    const sandbox = await provider.connect(input.sandboxId).catch(() => undefined);
    if (sandbox) saved = await archiveRuns(sandbox, deps.artifacts, workflowId, input.runNames);
    await translated(() => provider.destroy(input.sandboxId));
    ctx.log.info('sandbox destroyed', { sandboxId: input.sandboxId, artifactsSaved: saved });
    return { artifactsDir: deps.artifacts.location(workflowId), artifactsSaved: saved };
  },
});

async function archiveRuns(sandbox: Sandbox, store: ArtifactStore, taskId: string, runNames: readonly string[]): Promise<number> {
  let saved = 0;
  const save = async (from: string, to: string) => {
    const content = await sandbox.readFile(from).catch(() => undefined);
    if (content === undefined) return;
    await store.put(taskId, to, content);
    saved += 1;
  };
  for (const runName of runNames) {
    for (let a = 1; a <= MAX_ATTEMPT_DIRS; a++) {
      const f = runFiles(`${SANDBOX_FILES.runs}/${runName}/a${a}`);
      if ((await sandbox.readFile(f.pid).catch(() => undefined)) === undefined) continue;
      const prefix = `runs/${runName}/a${a}`;
      await save(f.prompt, `${prefix}/prompt.txt`);
      await save(f.stdout, `${prefix}/transcript.jsonl`);
      await save(f.stderr, `${prefix}/stderr.log`);
      await save(f.exitCode, `${prefix}/exit-code`);
      await save(f.approvalLog, `${prefix}/approval-hook.jsonl`);
    }
  }
  await save(SANDBOX_FILES.result, 'result.json');
  await save(SANDBOX_FILES.attempts, 'result-attempts.jsonl');
  return saved;
}

import { Context } from '@temporalio/activity';
import type { ArtifactStore, TaskRef } from '../artifacts/types.js';
import { runFiles } from '../claude/runner.js';
import { SANDBOX_OWNER } from '../domain/constants.js';
import { readHead } from '../sandbox/bounded.js';
import { SANDBOX_FILES } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';
import type { CreateSandboxInput, CreatedSandbox, DestroySandboxInput, DestroyedSandbox } from '../schemas/activities.js';
import type { ActivityDeps } from './deps.js';
import { translated } from './failures.js';
import { resolveSandboxRequest } from './policy.js';
import type { SandboxAccess } from './sandboxes.js';
import { currentTask } from './task.js';

/** How many attempt directories of one run are looked at (a run retried more often is unheard of). */
export const MAX_ATTEMPT_DIRS = 20;

/** Stands in for the task of an activity run outside a workflow (only tests do that). */
const UNKNOWN_TASK = { workflowId: 'unknown', runId: 'unknown' };
/** The most of one agent-written file (transcript, stderr) kept as an artifact. */
export const MAX_ARCHIVED_FILE_BYTES = 64 * 1024 * 1024;

/** Creating a task's sandbox, and saving its transcripts before destroying it. */
export const createLifecycleActivities = (deps: ActivityDeps, sandboxes: SandboxAccess) => ({
  async createSandbox(input: CreateSandboxInput): Promise<CreatedSandbox> {
    const ctx = Context.current();
    const name = input.provider ?? deps.defaultProvider;
    const { workflowId, runId } = ctx.info.workflowExecution ?? UNKNOWN_TASK;
    const request = resolveSandboxRequest(input, deps.sandboxPolicy);
    const sandbox = await translated(() =>
      sandboxes.provider(name).create({
        metadata: { owner: SANDBOX_OWNER, workflowId, runId },
        files: input.files,
        timeoutSeconds: input.timeoutSeconds,
        network: request.network,
        limits: request.limits,
        task: { workflowId, namespace: ctx.info.workflowNamespace ?? 'default' },
      }),
    );
    const modelKeyInSandbox = deps.model.keyInSandbox(name);
    ctx.log.info('sandbox created', { sandboxId: sandbox.sandboxId, provider: name, ...(modelKeyInSandbox ? { modelKeyInSandbox } : {}) });
    // A bubblewrap sandbox lives on this host only: later activities must come back here. Any
    // other goes back to the queue this activity came from, which is the task's own.
    return {
      sandboxId: sandbox.sandboxId,
      provider: name,
      taskQueue: name === 'local' ? deps.hostTaskQueue : ctx.info.taskQueue,
      ...(modelKeyInSandbox ? { modelKeyInSandbox } : {}),
    };
  },

  /** Saves every run's transcript and stderr to the artifact store, then destroys the sandbox. */
  async destroySandbox(input: DestroySandboxInput): Promise<DestroyedSandbox> {
    const ctx = Context.current();
    const task = currentTask();
    const provider = sandboxes.provider(input.provider);
    let saved = 0;
    const sandbox = await provider.connect(input.sandboxId).catch(() => undefined);
    if (sandbox) saved = await archiveRuns(sandbox, deps.artifacts, task, input.runNames);
    // Its tokens die with it: whatever still holds one (a process that outlived the kill, a
    // copy the agent made) is refused from now on.
    await deps.model.revoke(input.sandboxId);
    await translated(() => provider.destroy(input.sandboxId));
    ctx.log.info('sandbox destroyed', { sandboxId: input.sandboxId, artifactsSaved: saved });
    return { artifactsDir: deps.artifacts.location(task), artifactsSaved: saved };
  },
});

async function archiveRuns(sandbox: Sandbox, store: ArtifactStore, task: TaskRef, runNames: readonly string[]): Promise<number> {
  let saved = 0;
  // Every one of these files is the agent's to write: keep at most a bounded head of each.
  const save = async (from: string, to: string) => {
    const head = await readHead(sandbox, from, MAX_ARCHIVED_FILE_BYTES).catch(() => undefined);
    if (head === undefined) return;
    await store.put(task, to, head.data);
    if (head.truncated) await store.put(task, `${to}.truncated`, `only the first ${MAX_ARCHIVED_FILE_BYTES} bytes were kept\n`);
    saved += 1;
  };
  for (const runName of runNames) {
    for (let a = 1; a <= MAX_ATTEMPT_DIRS; a++) {
      const f = runFiles(`${SANDBOX_FILES.runs}/${runName}/a${a}`);
      if ((await sandbox.fileSize(f.pid).catch(() => undefined)) === undefined) continue;
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

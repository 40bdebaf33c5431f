import { Context } from '@temporalio/activity';
import type { ArtifactStore, TaskRef } from '../artifacts/types.js';
import { runFiles } from '../claude/runner.js';
import { DEFAULT_HOST_START_TIMEOUT_SECONDS, SANDBOX_OWNER } from '../domain/constants.js';
import { readHead } from '../sandbox/bounded.js';
import { SANDBOX_FILES } from '../sandbox/layout.js';
import { sandboxFileStream } from '../sandbox/stream.js';
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
    // A bubblewrap sandbox lives on this host only: later activities must come back here, and
    // when nobody takes them from the host's queue within the host's bound, the host is gone.
    // Any other sandbox goes back to the queue this activity came from, the task's own.
    const marked = modelKeyInSandbox ? { modelKeyInSandbox } : {};
    if (name !== 'local') return { sandboxId: sandbox.sandboxId, provider: name, taskQueue: ctx.info.taskQueue, ...marked };
    return {
      sandboxId: sandbox.sandboxId,
      provider: name,
      taskQueue: deps.hostTaskQueue,
      hostStartSeconds: deps.hostStartTimeoutSeconds ?? DEFAULT_HOST_START_TIMEOUT_SECONDS,
      ...marked,
    };
  },

  /** Saves every run's transcript and stderr to the artifact store, then destroys the sandbox. */
  async destroySandbox(input: DestroySandboxInput): Promise<DestroyedSandbox> {
    const ctx = Context.current();
    const task = currentTask();
    const provider = sandboxes.provider(input.provider);
    let saved = 0;
    const sandbox = await provider.connect(input.sandboxId).catch(() => undefined);
    if (sandbox) saved = await translated(() => archiveRuns(sandbox, deps.artifacts, task, input.runNames));
    // Its tokens die with it: whatever still holds one (a process that outlived the kill, a
    // copy the agent made) is refused from now on.
    await deps.model.revoke(input.sandboxId);
    await translated(() => provider.destroy(input.sandboxId));
    ctx.log.info('sandbox destroyed', { sandboxId: input.sandboxId, artifactsSaved: saved });
    return { artifactsDir: deps.artifacts.location(task), artifactsSaved: saved };
  },
});

/** Saves every attempt of the given runs (prompt, transcript, stderr, exit code) and the result files. */
export async function archiveRuns(
  sandbox: Sandbox,
  store: ArtifactStore,
  task: TaskRef,
  runNames: readonly string[],
  o: { results?: boolean } = {},
): Promise<number> {
  let saved = 0;
  // Every one of these files is the agent's to write: keep at most a bounded head of each.
  const save = async (from: string, to: string) => {
    const head = await readHead(sandbox, from, MAX_ARCHIVED_FILE_BYTES).catch(() => undefined);
    if (head === undefined) return;
    await store.put(task, to, head.data);
    if (head.truncated) await store.put(task, `${to}.truncated`, `only the first ${MAX_ARCHIVED_FILE_BYTES} bytes were kept\n`);
    saved += 1;
  };
  // Transcripts and stderr can be large: streamed from the sandbox to the store, bounded too.
  const stream = async (from: string, to: string) => {
    const size = await sandbox.fileSize(from).catch(() => undefined);
    if (size === undefined) return;
    await store.putStream(task, to, sandboxFileStream(sandbox, from, undefined, MAX_ARCHIVED_FILE_BYTES));
    if (size > MAX_ARCHIVED_FILE_BYTES)
      await store.put(task, `${to}.truncated`, `only the first ${MAX_ARCHIVED_FILE_BYTES} bytes were kept\n`);
    saved += 1;
  };
  for (const runName of runNames) {
    for (let a = 1; a <= MAX_ATTEMPT_DIRS; a++) {
      const f = runFiles(`${SANDBOX_FILES.runs}/${runName}/a${a}`);
      if ((await sandbox.fileSize(f.pid).catch(() => undefined)) === undefined) continue;
      const prefix = `runs/${runName}/a${a}`;
      await save(f.prompt, `${prefix}/prompt.txt`);
      await stream(f.stdout, `${prefix}/transcript.jsonl`);
      await stream(f.stderr, `${prefix}/stderr.log`);
      await save(f.exitCode, `${prefix}/exit-code`);
      await save(f.approvalLog, `${prefix}/approval-hook.jsonl`);
    }
  }
  if (o.results !== false) {
    await save(SANDBOX_FILES.result, 'result.json');
    await save(SANDBOX_FILES.attempts, 'result-attempts.jsonl');
  }
  return saved;
}

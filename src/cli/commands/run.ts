import { CcflowClient, TaskSpec, type TaskSpecInput } from '../../client/index.js';
import { describeZodError } from '../../schemas/describe-error.js';
import { waitForFirstTurn } from '../../client/follow-up.js';
import type { ProviderName } from '../../domain/constants.js';
import { UsageError } from '../errors.js';
import { readSchemaFile, readWorkspaceFiles, repoLocation } from '../input.js';
import { defaultIo, formatResult, interruptSignal, type Io } from '../output.js';
import { followTask } from './tasks.js';

export interface RunOptions {
  schema?: string;
  files?: string;
  model?: string;
  maxTurns?: number;
  maxBudgetUsd?: number;
  provider?: ProviderName;
  id?: string;
  wait: boolean;
  json?: boolean;
  quiet?: boolean;
  keepAlive?: number;
  /** Approval rules (`--ask`, repeatable): calls matching one wait for `ccflow approve`. */
  ask?: string[];
  askTimeout?: number;
  repo?: string;
  ref?: string;
  depth?: number;
  push?: string;
}

/** The TaskSpec a `ccflow run` asks for, read from local files first: nothing connects before it is valid. */
export async function specFromOptions(prompt: string, o: RunOptions): Promise<TaskSpecInput> {
  const spec: TaskSpecInput = { prompt };
  if (o.schema) spec.resultSchema = await readSchemaFile(o.schema);
  if (o.files) spec.files = await readWorkspaceFiles(o.files);
  if (o.model) spec.model = o.model;
  if (o.maxTurns !== undefined) spec.maxTurns = o.maxTurns;
  if (o.maxBudgetUsd !== undefined) spec.maxBudgetUsd = o.maxBudgetUsd;
  if (o.provider) spec.sandbox = { provider: o.provider };
  if (o.keepAlive !== undefined) spec.keepAliveSeconds = o.keepAlive;
  if (o.ask?.length) spec.approval = { tools: o.ask, ...(o.askTimeout !== undefined ? { timeoutSeconds: o.askTimeout } : {}) };
  else if (o.askTimeout !== undefined) throw new UsageError('--ask-timeout needs at least one --ask rule');
  if (o.repo) {
    spec.repo = { url: await repoLocation(o.repo), ...(o.ref ? { ref: o.ref } : {}), ...(o.depth !== undefined ? { depth: o.depth } : {}) };
    if (o.push) spec.push = { branch: o.push };
  } else if (o.ref || o.depth !== undefined || o.push) {
    throw new UsageError('--ref, --depth and --push need --repo');
  }
  // Checked here, so a bad --ask rule or --ref is reported before anything connects.
  const checked = TaskSpec.safeParse(spec);
  if (!checked.success) throw new UsageError(`invalid task: ${describeZodError(checked.error)}`);
  return spec;
}

/** `ccflow run`: starts a task, follows it, prints its result (or, with a keep-alive, its first). */
export async function runCommand(prompt: string, o: RunOptions, io: Io = defaultIo): Promise<number> {
  const spec = await specFromOptions(prompt, o);
  const client = await CcflowClient.connect();
  try {
    const handle = await client.start(spec, { workflowId: o.id });
    io.stderr.write(`started ${handle.workflowId}\n`);
    if (!o.wait) {
      io.stdout.write(`${handle.workflowId}\n`);
      return 0;
    }
    if (spec.keepAliveSeconds) {
      // The task stays open: print its first result and leave it to follow-ups.
      const first = await waitForFirstTurn(client.temporal, handle.workflowId);
      io.stdout.write(o.json ? `${JSON.stringify(first, null, 2)}\n` : `${formatResult(first)}\n`);
      io.stderr.write(`${handle.workflowId} stays open for ${spec.keepAliveSeconds} s: ccflow followup ${handle.workflowId} "..."\n`);
      return 0;
    }
    return await followTask(client, handle.workflowId, { json: o.json ?? false, quiet: o.quiet ?? false, signal: interruptSignal() }, io);
  } finally {
    await client.disconnect();
  }
}

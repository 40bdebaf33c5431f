/**
 * NATS sessions as ccflow tasks, through the client library only. A session is an agentTask
 * started without a prompt and kept open (its sandbox is made at spawn; each prompt is a
 * follow-up in the same Claude session; stop closes it). Its settings ride in the task's memo and
 * its controller in the `CcflowOrigin` search attribute, so a restarted front end finds its open
 * sessions in Temporal. Turn output streams from the worker's live events, relayed per turn.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  InvalidInputError,
  TaskClosedError,
  TaskNotFoundError,
  describeFailure,
  readWorkspaceFiles,
  type CcflowClient,
  type ListedTask,
  type PendingApproval,
  type TaskSpecInput,
} from '../../client/index.js';
import { MAX_ATTACHMENT_BYTES } from '../../domain/prompts.js';
import type {
  PermissionDecision,
  PermissionRequest,
  SessionBackend,
  SessionInfo,
  SessionSettings,
  TurnEvent,
  TurnInput,
  TurnOutcome,
} from './backend.js';
import { SEED_PERMISSION_MODES } from './controller-requests.js';
import { LiveRelay } from './live-relay.js';
import { sessionPermissions } from './permission-rules.js';
import { AgentError } from './reply.js';
import type { AgentIdentity } from './subjects.js';

/** The longest a task stays open without a prompt (the TaskSpec's keep-alive limit). */
const MAX_KEEP_ALIVE_S = 7 * 24 * 3600;
/** A turn in flight when a session's lifetime ends may finish; the task's deadline allows it this long. */
const LIFETIME_GRACE_S = 3600;
/** A session without a lifetime limit still has a task deadline; a year stands for "none". */
const UNLIMITED_TASK_S = 365 * 24 * 3600;

/** What the task's memo keeps of a session: enough to register it again after a restart. */
const SessionMemo = z.object({
  sessionId: z.string(),
  cwd: z.string(),
  model: z.string(),
  allowedTools: z.array(z.string()),
  permissionMode: z.enum(SEED_PERMISSION_MODES),
  maxTurns: z.number(),
  maxLifetimeS: z.number(),
  askTools: z.array(z.string()).optional(),
  createdAt: z.string(),
});
type SessionMemo = z.infer<typeof SessionMemo>;
const MEMO_KEY = 'natsSession';
const CLOSING_PHASES = new Set(['closing', 'destroying-sandbox', 'done', 'failed']);

export interface CcflowBackendOpts {
  client: CcflowClient;
  /** The connection live events arrive on (the front end's own). */
  nc: NatsConnection;
  /** The controller this backend serves; its sessions are tasks with this origin. */
  identity: AgentIdentity;
  /** TaskSpec fields every session gets (sandbox provider, timeouts, ...); spawn settings win. */
  taskDefaults?: Partial<TaskSpecInput>;
  /** @default 'ccflow.live' */
  liveSubjectPrefix?: string;
  /**
   * How often a turn in flight looks for a call held for approval (a status query). Answers
   * come at a person's pace; the one query a second is all a waiting turn costs.
   * @default 1000
   */
  approvalPollMs?: number;
}

export class CcflowSessionBackend implements SessionBackend {
  /** Attachments ride in the follow-up (so in history: at most 512 KB) and are staged in the sandbox. */
  readonly attachments = true;
  readonly #client: CcflowClient;
  readonly #relay: LiveRelay;
  readonly #origin: string;
  readonly #prefix: string;

  constructor(private readonly opts: CcflowBackendOpts) {
    this.#client = opts.client;
    this.#relay = new LiveRelay(opts.nc, opts.liveSubjectPrefix);
    const { agent, owner, name } = opts.identity;
    this.#origin = `nats:${agent}.${owner}.${name}`;
    this.#prefix = `nats.${agent}.${owner}.${name}.`;
  }

  /** The task of a session: readable in Web UI, unique per controller and session id. */
  taskId(sessionId: string): string {
    return `${this.#prefix}${sessionId}`;
  }

  async spawn(s: SessionSettings): Promise<SessionInfo> {
    const workflowId = this.taskId(s.sessionId);
    const existing = await this.#client.describe(workflowId).catch((err: unknown) => {
      if (err instanceof TaskNotFoundError) return undefined;
      throw err;
    });
    if (existing?.status === 'running') throw new AgentError(409, 'session already exists');
    let files: Record<string, string>;
    try {
      files = await readWorkspaceFiles(s.cwd);
    } catch (err) {
      if (err instanceof InvalidInputError) throw new AgentError(400, `cwd cannot seed the session: ${err.message}`);
      throw err;
    }
    const createdAt = new Date();
    const lifetime = s.maxLifetimeS > 0 ? Math.ceil(s.maxLifetimeS) : undefined;
    const defaults = this.opts.taskDefaults ?? {};
    const permissions = sessionPermissions(s);
    const spec: TaskSpecInput = {
      ...defaults,
      resultMode: 'text',
      ...(Object.keys(files).length > 0 ? { files } : {}),
      model: s.model,
      allowedTools: permissions.allowedTools,
      permissionMode: s.permissionMode,
      // Calls the seed's host would ask about wait in the task, for as long as the session may
      // live (then the agent is told nobody answered); without a lifetime, until answered.
      ...(permissions.rules.length > 0
        ? {
            approval: {
              tools: permissions.rules,
              onTimeout: 'deny' as const,
              ...(lifetime !== undefined ? { timeoutSeconds: lifetime } : {}),
            },
          }
        : {}),
      maxTurns: s.maxTurns,
      // The front end closes the session when its lifetime ends; the keep-alive window and the
      // deadline end it too when no front end is running then.
      keepAliveSeconds: Math.min(lifetime ?? MAX_KEEP_ALIVE_S, MAX_KEEP_ALIVE_S),
      timeouts: { ...defaults.timeouts, taskSeconds: lifetime !== undefined ? lifetime + LIFETIME_GRACE_S : UNLIMITED_TASK_S },
    };
    const memo: SessionMemo = { ...s, createdAt: createdAt.toISOString() };
    try {
      await this.#client.start(spec, { workflowId, origin: this.#origin, memo: { [MEMO_KEY]: memo } });
    } catch (err) {
      if (err instanceof InvalidInputError) throw new AgentError(400, err.message);
      throw new AgentError(400, `failed to register session agent: ${describeFailure(err)}`);
    }
    return { ...s, createdAt, lastActivity: createdAt, totalCostUsd: 0, turnCount: 0, taskId: workflowId };
  }

  async prompt(sessionId: string, input: TurnInput, onEvent: (event: TurnEvent) => void): Promise<TurnOutcome> {
    const bytes = input.attachments.reduce((n, a) => n + a.content.length, 0);
    if (bytes > MAX_ATTACHMENT_BYTES) {
      throw new AgentError(400, `failed to stage attachments: more than ${MAX_ATTACHMENT_BYTES / 1024} KB in all`);
    }
    const workflowId = this.taskId(sessionId);
    // The Update's id names this turn's live events: listen before sending, so none is missed.
    const updateId = randomUUID();
    const tap = await this.#relay.tap(workflowId, updateId, onEvent);
    const held = this.#watchApprovals(workflowId, onEvent);
    try {
      const attachments = input.attachments.map((a) => ({ filename: a.filename, contentBase64: a.content.toString('base64') }));
      const out = await this.#client.followUp(
        workflowId,
        { prompt: input.prompt, ...(attachments.length > 0 ? { attachments } : {}) },
        { updateId, continueClosed: false },
      );
      if (out.kind !== 'update') throw new AgentError(503, 'session stopped');
      await tap.drain();
      const text = out.result.result['text'];
      return {
        turnCostUsd: out.result.costUsd,
        totalCostUsd: out.result.totalCostUsd,
        ...(tap.textSeen ? {} : { unstreamedText: typeof text === 'string' ? text : JSON.stringify(out.result.result) }),
      };
    } catch (err) {
      if (err instanceof AgentError) throw err;
      if (err instanceof TaskClosedError || err instanceof TaskNotFoundError) throw new AgentError(503, 'session stopped');
      throw new AgentError(500, describeFailure(err));
    } finally {
      held.stop();
      tap.close();
    }
  }

  /**
   * For the length of one turn: each call the task holds for approval becomes a permission
   * request, once. Its answer is the task's `approve` Update; it settles when the task no longer
   * holds it (answered here, through `ccflow approve`, or timed out) or the turn ends. A call
   * held before this turn began (its caller gone, the front end restarted since) is asked about
   * too: this turn waits behind it.
   */
  #watchApprovals(workflowId: string, onEvent: (event: TurnEvent) => void): { stop(): void } {
    const pollMs = this.opts.approvalPollMs ?? 1000;
    const seen = new Set<string>();
    const open = new Map<string, () => void>();
    let stopped = false;
    const settle = (requestId: string): void => {
      open.get(requestId)?.();
      open.delete(requestId);
    };
    void (async () => {
      while (!stopped) {
        const pending = await this.#client.approvals({ target: workflowId }).catch(() => undefined);
        if (stopped) break;
        if (pending) {
          const waiting = new Set(pending.map((p) => p.requestId));
          for (const id of [...open.keys()]) if (!waiting.has(id)) settle(id);
          for (const p of pending) {
            if (seen.has(p.requestId)) continue;
            seen.add(p.requestId);
            let done!: () => void;
            const settled = new Promise<void>((resolve) => (done = resolve));
            open.set(p.requestId, done);
            onEvent({ type: 'permission', request: this.#permissionRequest(p, settled) });
          }
        }
        await sleep(pollMs);
      }
    })();
    return {
      stop: () => {
        stopped = true;
        for (const id of [...open.keys()]) settle(id);
      },
    };
  }

  #permissionRequest(p: PendingApproval, settled: Promise<void>): PermissionRequest {
    let input: unknown = p.input;
    try {
      input = JSON.parse(p.input);
    } catch {
      // Cut for history (over 2,000 characters): shown as the text it is.
    }
    return {
      id: p.toolUseId,
      toolName: p.toolName,
      input,
      settled,
      answer: async (d: PermissionDecision) => {
        await this.#client.approve(p.id, d.allow ? { decision: 'allow' } : { decision: 'deny', reason: d.reason });
      },
    };
  }

  async stop(sessionId: string): Promise<void> {
    const workflowId = this.taskId(sessionId);
    try {
      const held = await this.#client.approvals({ target: workflowId }).catch(() => []);
      await this.#client.close(workflowId);
      // As in seed 002, stopping a session denies the call it waits on: the turn then ends, and the task with it.
      for (const p of held) {
        await this.#client.approve(p.id, { decision: 'deny', reason: 'session stopped' }).catch(() => undefined);
      }
    } catch (err) {
      if (err instanceof TaskNotFoundError) throw new AgentError(404, `no such session: ${sessionId}`);
      throw err;
    }
  }

  async list(): Promise<SessionInfo[]> {
    const open = await this.#client.list({ origin: this.#origin, status: 'running', limit: 10_000 });
    const infos = await Promise.all(open.map((t) => this.#info(t)));
    return infos.filter((i): i is SessionInfo => i !== undefined);
  }

  async get(sessionId: string): Promise<SessionInfo | undefined> {
    const task = await this.#client.describe(this.taskId(sessionId)).catch((err: unknown) => {
      if (err instanceof TaskNotFoundError) return undefined;
      throw err;
    });
    return task?.status === 'running' ? this.#info(task) : undefined;
  }

  /** A session from its task: settings from the memo, turns and cost from the task's status. */
  async #info(task: ListedTask): Promise<SessionInfo | undefined> {
    const memo = SessionMemo.safeParse(task.memo?.[MEMO_KEY]);
    if (!memo.success) return undefined;
    const status = await this.#client.taskStatus(task.workflowId).catch(() => undefined);
    // A task that is closing has been stopped (or expired): it takes no more prompts.
    if (status && CLOSING_PHASES.has(status.phase)) return undefined;
    const { createdAt, ...settings } = memo.data;
    const turns = status?.turns ?? [];
    const lastDone = turns.filter((t) => t.result !== undefined || t.error !== undefined).length;
    return {
      ...settings,
      createdAt: new Date(createdAt),
      lastActivity: new Date(createdAt),
      totalCostUsd: status?.totalCostUsd ?? task.costUsd ?? 0,
      turnCount: lastDone,
      ...(status?.sessionId ? { claudeSessionId: status.sessionId } : {}),
      taskId: task.workflowId,
    };
  }
}

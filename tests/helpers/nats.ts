/**
 * NATS test helpers: a fake session backend whose turns a test scripts, and a caller that reads a
 * prompt's whole reply stream from its own inbox (error frames and the terminator included).
 */
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import {
  AgentError,
  type PermissionDecision,
  type PermissionRequest,
  type SessionBackend,
  type SessionInfo,
  type SessionSettings,
  type TurnEvent,
  type TurnInput,
  type TurnOutcome,
} from '../../src/frontends/nats/index.js';

export interface FakeTurn {
  sessionId: string;
  input: TurnInput;
  emit: (event: TurnEvent) => void;
  /** Asks for permission and waits for the answer (from a NATS reply or `answerElsewhere`). */
  ask: (toolUseId: string, toolName: string, input: unknown) => Promise<PermissionDecision>;
}

/** The default turn: three text deltas, one tool call and its result. */
export async function echoTurn(t: FakeTurn): Promise<Omit<TurnOutcome, 'totalCostUsd'>> {
  for (const piece of ['You said: ', t.input.prompt.slice(0, 40), '.']) t.emit({ type: 'text', text: piece });
  t.emit({ type: 'tool_use', id: 'toolu_fake1', name: 'Bash', input: { command: 'ls' } });
  t.emit({ type: 'tool_result', toolUseId: 'toolu_fake1', content: [{ type: 'text', text: 'a.txt' }], isError: false });
  return { turnCostUsd: 0.0125 };
}

interface PendingPermission {
  request: PermissionRequest;
  decision: Promise<PermissionDecision>;
  resolve: (d: PermissionDecision) => void;
}

export class FakeBackend implements SessionBackend {
  readonly sessions = new Map<string, SessionInfo>();
  readonly prompts: { sessionId: string; input: TurnInput }[] = [];
  readonly pending = new Map<string, PendingPermission>();
  readonly decisions: { id: string; decision: PermissionDecision; by: 'nats' | 'elsewhere' }[] = [];
  stopped: string[] = [];
  turn: (t: FakeTurn) => Promise<Omit<TurnOutcome, 'totalCostUsd'>> = echoTurn;

  async spawn(s: SessionSettings): Promise<SessionInfo> {
    if (this.sessions.has(s.sessionId)) throw new AgentError(409, 'session already exists');
    const now = new Date();
    const info: SessionInfo = { ...s, createdAt: now, lastActivity: now, totalCostUsd: 0, turnCount: 0, taskId: `nats-${s.sessionId}` };
    this.sessions.set(s.sessionId, info);
    return info;
  }

  async prompt(sessionId: string, input: TurnInput, onEvent: (e: TurnEvent) => void): Promise<TurnOutcome> {
    const info = this.sessions.get(sessionId);
    if (!info) throw new AgentError(503, 'session stopped');
    this.prompts.push({ sessionId, input });
    const outcome = await this.turn({
      sessionId,
      input,
      emit: onEvent,
      ask: (id, name, toolInput) => this.#ask(onEvent, id, name, toolInput),
    });
    const totalCostUsd = info.totalCostUsd + outcome.turnCostUsd;
    this.sessions.set(sessionId, { ...info, totalCostUsd, turnCount: info.turnCount + 1, lastActivity: new Date() });
    return { ...outcome, totalCostUsd };
  }

  #ask(onEvent: (e: TurnEvent) => void, id: string, toolName: string, input: unknown): Promise<PermissionDecision> {
    let resolve!: (d: PermissionDecision) => void;
    const decision = new Promise<PermissionDecision>((r) => (resolve = r));
    const record = (d: PermissionDecision, by: 'nats' | 'elsewhere'): void => {
      if (!this.pending.delete(id)) throw new AgentError(409, `permission request ${id} was already answered`);
      this.decisions.push({ id, decision: d, by });
      resolve(d);
    };
    const request: PermissionRequest = {
      id,
      toolName,
      input,
      answer: async (d) => record(d, 'nats'),
      settled: decision.then(() => undefined),
    };
    this.pending.set(id, { request, decision, resolve: (d) => record(d, 'elsewhere') });
    onEvent({ type: 'permission', request });
    return decision;
  }

  /** Answers a waiting request the way `ccflow approve` would, bypassing NATS. */
  answerElsewhere(id: string, decision: PermissionDecision): void {
    const p = this.pending.get(id);
    if (!p) throw new Error(`no pending permission request ${id}`);
    p.resolve(decision);
  }

  async stop(sessionId: string): Promise<void> {
    if (!this.sessions.delete(sessionId)) throw new AgentError(404, `no such session: ${sessionId}`);
    this.stopped.push(sessionId);
  }

  async list(): Promise<SessionInfo[]> {
    return [...this.sessions.values()];
  }

  async get(sessionId: string): Promise<SessionInfo | undefined> {
    return this.sessions.get(sessionId);
  }
}

export interface StreamReply {
  /** Parsed `{type,data}` chunks, in arrival order. */
  chunks: { type: string; data: unknown }[];
  /** `code description` of the error frame, if one came. */
  error?: { code: number; description: string };
  terminators: number;
  /** Messages after the terminator (must stay 0). */
  extra: number;
}

/**
 * Sends a prompt from a plain inbox and reads until the terminator: an empty body without
 * headers. Error frames (empty body with headers) are recorded, not taken for the end. With a
 * `barrier` subject on the same host, it then makes one request there: replies from one
 * connection arrive in order, so anything the host sent after the terminator has arrived by then
 * and is counted in `extra`.
 */
export async function promptStream(
  nc: NatsConnection,
  subject: string,
  payload: string | Uint8Array,
  opts: { barrier?: string; onChunk?: (chunk: { type: string; data: unknown }) => void } = {},
): Promise<StreamReply> {
  const inbox = createInbox();
  const reply: StreamReply = { chunks: [], terminators: 0, extra: 0 };
  let ended!: () => void;
  let failed!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    ended = resolve;
    failed = reject;
  });
  const sub = nc.subscribe(inbox, {
    callback: (err, m) => {
      if (err) return failed(err);
      if (reply.terminators > 0) {
        reply.extra += 1;
        return;
      }
      const code = m.headers?.get('Nats-Service-Error-Code');
      if (code) {
        reply.error = { code: Number(code), description: m.headers?.get('Nats-Service-Error') ?? '' };
        return;
      }
      if (m.data.length === 0) {
        reply.terminators += 1;
        return ended();
      }
      try {
        const chunk = JSON.parse(m.string()) as { type: string; data: unknown };
        reply.chunks.push(chunk);
        opts.onChunk?.(chunk);
      } catch (e) {
        failed(e);
      }
    },
  });
  await nc.flush();
  nc.publish(subject, payload, { reply: inbox });
  await done;
  if (opts.barrier) await nc.request(opts.barrier, '', { timeout: 10_000 });
  sub.unsubscribe();
  return reply;
}

/** One request, one reply; the error frame as `{code, description}` when it is one. */
export async function requestJson(
  nc: NatsConnection,
  subject: string,
  body: string,
): Promise<{ json?: unknown; error?: { code: number; description: string } }> {
  const m = await nc.request(subject, body, { timeout: 10_000 });
  const code = m.headers?.get('Nats-Service-Error-Code');
  if (code) return { error: { code: Number(code), description: m.headers?.get('Nats-Service-Error') ?? '' } };
  return { json: JSON.parse(m.string()) };
}

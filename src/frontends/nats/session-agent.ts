/**
 * One session as a protocol agent: its own micro-service instance with `prompt` and `status`,
 * a FIFO of prompts run one at a time, and the translation of a turn's events into chunks.
 */
import { createInbox, type Msg, type Subscription } from '@nats-io/transport-node';
import type { HostContext } from './host-context.js';
import type { PermissionRequest, SessionInfo, TurnEvent, TurnOutcome } from './backend.js';
import { costChunk, queryChunk, responseChunk, toolResultChunk, toolUseChunk } from './chunks.js';
import { parsePromptPayload, type PromptEnvelope } from './envelope.js';
import { heartbeat, type Heartbeat } from './heartbeat.js';
import type { MicroService } from './micro.js';
import { normalizeReply, queryPrompt } from './permission.js';
import { AgentError, ReplyStream } from './reply.js';
import { AGENT_QUEUE, PROTOCOL_VERSION, SERVICE_NAME, SERVICE_VERSION, subjectFor } from './subjects.js';

interface Pending {
  stream: ReplyStream;
  envelope: PromptEnvelope;
  arrivedAt: number;
  keepAlive: NodeJS.Timeout;
  done: () => void;
}

export class SessionAgent {
  readonly service: MicroService;
  #info: SessionInfo;
  readonly #queue: Pending[] = [];
  #active: Pending | undefined;
  #disposed: AgentError | undefined;
  readonly #queries = new Set<Subscription>();

  constructor(
    private readonly ctx: HostContext,
    info: SessionInfo,
  ) {
    this.#info = info;
    const id = this.identity;
    const metadata: Record<string, string> = {
      agent: ctx.agent,
      owner: ctx.owner,
      protocol_version: PROTOCOL_VERSION,
      role: 'session',
      cwd: info.cwd,
      model: info.model,
      permission_mode: info.permissionMode,
      allowed_tools: info.allowedTools.join(','),
      max_turns: String(info.maxTurns),
      max_lifetime_s: String(info.maxLifetimeS),
      ...(info.taskId !== undefined ? { ccflow_task: info.taskId } : {}),
      session: info.sessionId,
    };
    this.service = ctx.registry.add({
      name: SERVICE_NAME,
      version: SERVICE_VERSION,
      description: `ccflow session ${info.sessionId} (${info.cwd})`,
      metadata,
      endpoints: [
        {
          name: 'prompt',
          subject: subjectFor('prompt', id),
          queueGroup: AGENT_QUEUE,
          metadata: { max_payload: ctx.maxPayload, attachments_ok: String(ctx.backend.attachments ?? true) },
          handler: (msg) => this.#onPrompt(msg),
        },
        {
          name: 'status',
          subject: subjectFor('status', id),
          queueGroup: AGENT_QUEUE,
          handler: async (msg) => {
            msg.respond(JSON.stringify(this.heartbeat()));
          },
        },
      ],
    });
  }

  get sessionId(): string {
    return this.#info.sessionId;
  }

  get identity() {
    return { agent: this.ctx.agent, owner: this.ctx.owner, name: this.#info.sessionId };
  }

  get info(): SessionInfo {
    return this.#info;
  }

  heartbeat(): Heartbeat {
    return heartbeat(this.ctx.agent, this.ctx.owner, this.service.id, this.#info.sessionId);
  }

  /** Seconds left before the session expires; undefined when it has no limit. */
  remainingLifetimeS(now = Date.now()): number | undefined {
    if (this.#info.maxLifetimeS <= 0) return undefined;
    return Math.max(0, Math.floor(this.#info.maxLifetimeS - (now - this.#info.createdAt.getTime()) / 1000));
  }

  get expired(): boolean {
    return this.remainingLifetimeS() === 0;
  }

  /** The session's settings as the spawn and list replies both carry them. */
  #settings(): Record<string, unknown> {
    const i = this.#info;
    return {
      cwd: i.cwd,
      model: i.model,
      allowed_tools: i.allowedTools,
      permission_mode: i.permissionMode,
      max_turns: i.maxTurns,
      max_lifetime_s: i.maxLifetimeS,
      ...(i.askTools ? { ask_tools: i.askTools } : {}),
    };
  }

  /** The spawn reply. */
  descriptor(): Record<string, unknown> {
    const i = this.#info;
    return {
      ...this.#subjects(),
      ...this.#settings(),
      created_at: i.createdAt.toISOString(),
      instance_id: this.service.id,
      total_cost_usd: i.totalCostUsd,
      turn_count: i.turnCount,
    };
  }

  /** One entry of the `list` reply. */
  summary(): Record<string, unknown> {
    const i = this.#info;
    return {
      ...this.#subjects(),
      ...this.#settings(),
      remaining_lifetime_s: this.remainingLifetimeS() ?? 0,
      active_request: this.#active !== undefined,
      queued_requests: this.#queue.length,
      created_at: i.createdAt.toISOString(),
      last_activity: i.lastActivity.toISOString(),
      ...(i.claudeSessionId !== undefined ? { sdk_session_id: i.claudeSessionId } : {}),
      total_cost_usd: i.totalCostUsd,
      turn_count: i.turnCount,
    };
  }

  #subjects() {
    const id = this.identity;
    return {
      session_id: id.name,
      subject: subjectFor('prompt', id),
      heartbeat_subject: subjectFor('hb', id),
      status_subject: subjectFor('status', id),
    };
  }

  /**
   * Takes the backend's facts, unless they are older than what this agent saw itself: listings
   * can lag a turn that just ended here.
   */
  refresh(info: SessionInfo): void {
    const local = this.#info;
    const stale = info.turnCount < local.turnCount;
    this.#info = {
      ...local,
      ...info,
      createdAt: local.createdAt,
      ...(stale ? { turnCount: local.turnCount, totalCostUsd: local.totalCostUsd } : {}),
      lastActivity: info.lastActivity > local.lastActivity ? info.lastActivity : local.lastActivity,
    };
  }

  /**
   * Leaves discovery and ends every waiting stream with `reason` (503 when stopped, 410 when
   * expired). The running turn's stream ends too: its caller hears now, not when the task ends.
   */
  dispose(reason: AgentError): void {
    if (this.#disposed) return;
    this.#disposed = reason;
    this.service.stop();
    for (const sub of this.#queries) sub.unsubscribe();
    this.#queries.clear();
    const all = [...(this.#active ? [this.#active] : []), ...this.#queue.splice(0)];
    for (const p of all) {
      p.stream.fail(reason);
      p.done();
    }
  }

  async #onPrompt(msg: Msg): Promise<string | void> {
    const stream = new ReplyStream(msg);
    let envelope: PromptEnvelope;
    try {
      if (this.#disposed) throw new AgentError(503, 'session stopped');
      if (this.expired) throw new AgentError(410, 'session expired');
      envelope = parsePromptPayload(msg.data);
    } catch (err) {
      stream.fail(err);
      return stream.error;
    }
    // Ack on arrival, not when the turn starts: a prompt queued behind a long turn (or one
    // waiting hours for an approval) must not look dead to the caller's inactivity timer.
    stream.ack();
    await new Promise<void>((resolve) => {
      const pending: Pending = {
        stream,
        envelope,
        arrivedAt: Date.now(),
        keepAlive: setInterval(() => this.#tick(pending), this.ctx.timing.keepAliveAckMs),
        done: () => {
          clearInterval(pending.keepAlive);
          resolve();
        },
      };
      this.#queue.push(pending);
      this.#next();
    });
    return stream.error;
  }

  /** Keep-alive ack; and a request that waited too long in the queue is dropped with 408. */
  #tick(p: Pending): void {
    const queued = this.#queue.indexOf(p);
    if (queued >= 0 && Date.now() - p.arrivedAt > this.ctx.timing.queueTimeoutMs) {
      this.#queue.splice(queued, 1);
      p.stream.fail(new AgentError(408, 'request timed out in queue'));
      p.done();
      return;
    }
    p.stream.ack();
  }

  #next(): void {
    if (this.#active || this.#disposed) return;
    const p = this.#queue.shift();
    if (!p) return;
    this.#active = p;
    void this.#run(p).finally(() => {
      if (this.#active === p) this.#active = undefined;
      p.done();
      this.#next();
    });
  }

  async #run(p: Pending): Promise<void> {
    const { stream } = p;
    // Events are handled one after another (a query needs a flush before its chunk goes out),
    // and the terminator waits for the last of them.
    let chain = Promise.resolve();
    const onEvent = (event: TurnEvent): void => {
      chain = chain.then(() => this.#emit(stream, event)).catch((err: unknown) => this.ctx.log.warn('nats: event not relayed', err));
    };
    try {
      const outcome: TurnOutcome = await this.ctx.backend.prompt(this.sessionId, p.envelope, onEvent);
      await chain;
      if (outcome.unstreamedText) stream.send(responseChunk(outcome.unstreamedText));
      stream.send(costChunk(outcome.turnCostUsd, outcome.totalCostUsd));
      this.#info = {
        ...this.#info,
        totalCostUsd: outcome.totalCostUsd,
        turnCount: this.#info.turnCount + 1,
        lastActivity: new Date(),
      };
      stream.end();
    } catch (err) {
      await chain;
      this.#info = { ...this.#info, lastActivity: new Date() };
      stream.fail(err);
    }
  }

  async #emit(stream: ReplyStream, event: TurnEvent): Promise<void> {
    switch (event.type) {
      case 'text':
        if (event.text.length > 0) stream.send(responseChunk(event.text));
        return;
      case 'tool_use':
        stream.send(toolUseChunk(event.id, event.name, event.input));
        return;
      case 'tool_result':
        stream.send(toolResultChunk(event.toolUseId, event.content, event.isError));
        return;
      case 'permission':
        await this.#ask(stream, event.request);
        return;
    }
  }

  /**
   * A §7 query: a fresh inbox waits for the caller's one reply. It waits as long as the request
   * does, not a fixed two minutes: a reply that comes after the caller's own request timed out
   * still answers it. Without a reply subject nobody on NATS can answer; the request then waits
   * for an answer given another way (`ccflow approve`).
   */
  async #ask(stream: ReplyStream, req: PermissionRequest): Promise<void> {
    if (!stream.replySubject || this.#disposed) return;
    const inbox = createInbox();
    const sub = this.ctx.nc.subscribe(inbox, {
      max: 1,
      callback: (err, reply) => {
        if (err) return this.ctx.log.warn('nats: query reply failed', err);
        req.answer(normalizeReply(reply.data)).catch((e: unknown) => this.ctx.log.info('nats: query already answered', e));
      },
    });
    this.#queries.add(sub);
    const forget = (): void => {
      sub.unsubscribe();
      this.#queries.delete(sub);
    };
    // The request may be answered elsewhere (`ccflow approve`); then this inbox has nothing to do.
    req.settled.then(forget, forget);
    sub.closed.then(forget, forget);
    await this.ctx.nc.flush();
    stream.send(queryChunk(req.id, inbox, queryPrompt(req)));
  }
}

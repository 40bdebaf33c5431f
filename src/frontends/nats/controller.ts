/**
 * The controller agent: `prompt` (help text) and `status` as the protocol requires, plus seed
 * 002's extension endpoints `spawn`, `stop` and `list`. Those three are single request, single
 * reply: a JSON body or an error frame, never a terminator.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Msg } from '@nats-io/transport-node';
import type { SessionSettings } from './backend.js';
import type { HostContext } from './host-context.js';
import { ACK, encodeChunk, responseChunk } from './chunks.js';
import { parseSpawnRequest, parseStopRequest, type SpawnDefaults } from './controller-requests.js';
import { heartbeat, type Heartbeat } from './heartbeat.js';
import type { MicroService } from './micro.js';
import { AgentError, asAgentError, sendError } from './reply.js';
import type { SessionAgent } from './session-agent.js';
import { AGENT_QUEUE, DEFAULT_QUEUE, PROTOCOL_VERSION, SERVICE_NAME, SERVICE_VERSION, subjectFor, type AgentIdentity } from './subjects.js';

/** What the controller needs from the host that owns the session agents. */
export interface SessionDirectory {
  get(sessionId: string): SessionAgent | undefined;
  /**
   * Starts a session in the backend and registers its agent; resolves once the agent is
   * discoverable and has sent its first beat (callers look it up by `instance_id` at once).
   */
  spawn(settings: SessionSettings): Promise<SessionAgent>;
  remove(sessionId: string, reason: AgentError): void;
  /** Every open session, the backend's view merged with local state. */
  all(): Promise<SessionAgent[]>;
  readonly shuttingDown: boolean;
}

export class Controller {
  readonly service: MicroService;
  readonly #reserved = new Set<string>();

  constructor(
    private readonly ctx: HostContext,
    readonly identity: AgentIdentity,
    private readonly sessions: SessionDirectory,
    private readonly defaults: SpawnDefaults,
    /** Relative spawn `cwd`s are resolved against this directory. */
    private readonly baseDir: string,
  ) {
    const single = (fn: (msg: Msg) => Promise<unknown>) => async (msg: Msg) => {
      try {
        msg.respond(JSON.stringify(await fn(msg)));
      } catch (err) {
        const e = asAgentError(err);
        if (e.code >= 500) ctx.log.warn(`nats: ${msg.subject} failed`, err);
        return sendError(msg, e.code, e.message);
      }
    };
    this.service = ctx.registry.add({
      name: SERVICE_NAME,
      version: SERVICE_VERSION,
      description: `ccflow NATS controller (${identity.owner}/${identity.name})`,
      metadata: { agent: identity.agent, owner: identity.owner, protocol_version: PROTOCOL_VERSION, role: 'controller' },
      endpoints: [
        {
          name: 'prompt',
          subject: subjectFor('prompt', identity),
          queueGroup: AGENT_QUEUE,
          metadata: { max_payload: ctx.maxPayload, attachments_ok: 'false' },
          handler: async (msg) => {
            msg.respond(encodeChunk(ACK));
            msg.respond(encodeChunk(responseChunk(this.helpText())));
            msg.respond(new Uint8Array(0));
          },
        },
        {
          name: 'status',
          subject: subjectFor('status', identity),
          queueGroup: AGENT_QUEUE,
          handler: single(async () => this.heartbeat()),
        },
        { name: 'spawn', subject: subjectFor('spawn', identity), queueGroup: DEFAULT_QUEUE, handler: single((m) => this.#spawn(m)) },
        { name: 'stop', subject: subjectFor('stop', identity), queueGroup: DEFAULT_QUEUE, handler: single((m) => this.#stop(m)) },
        { name: 'list', subject: subjectFor('list', identity), queueGroup: DEFAULT_QUEUE, handler: single(() => this.#list()) },
      ],
    });
  }

  heartbeat(): Heartbeat {
    return heartbeat(this.identity.agent, this.identity.owner, this.service.id);
  }

  async #spawn(msg: Msg): Promise<Record<string, unknown>> {
    if (this.sessions.shuttingDown) throw new AgentError(400, 'shutting down');
    const spec = parseSpawnRequest(msg.data, this.defaults);
    const cwd = path.resolve(this.baseDir, spec.cwd);
    const st = await stat(cwd).catch(() => undefined);
    if (!st?.isDirectory()) throw new AgentError(400, `cwd not found or not a directory: ${cwd}`);
    const sessionId = spec.sessionId ?? this.#newSessionId();
    if (this.#reserved.has(sessionId) || this.sessions.get(sessionId)) throw new AgentError(409, 'session already exists');
    this.#reserved.add(sessionId);
    try {
      const agent = await this.sessions.spawn({ ...spec, cwd, sessionId });
      return agent.descriptor();
    } finally {
      this.#reserved.delete(sessionId);
    }
  }

  #newSessionId(): string {
    for (;;) {
      const id = `sess-${randomBytes(4).toString('hex')}`;
      if (!this.#reserved.has(id) && !this.sessions.get(id)) return id;
    }
  }

  async #stop(msg: Msg): Promise<Record<string, unknown>> {
    const sessionId = parseStopRequest(msg.data);
    const local = this.sessions.get(sessionId);
    // Not registered here: stop only what the backend still holds open (a session stopped a
    // moment ago may still be closing there, and is gone all the same).
    if (!local && !(await this.ctx.backend.get(sessionId))) throw new AgentError(404, `no such session: ${sessionId}`);
    try {
      await this.ctx.backend.stop(sessionId);
    } catch (err) {
      // Gone in the backend already (closed elsewhere) but still registered here: stopping it
      // is what the caller asked, so only an id nobody knows is a 404.
      if (!(local && err instanceof AgentError && err.code === 404)) {
        if (err instanceof AgentError && err.code === 404) throw new AgentError(404, `no such session: ${sessionId}`);
        throw err;
      }
    }
    this.sessions.remove(sessionId, new AgentError(503, 'session stopped'));
    return { ok: true, session_id: sessionId };
  }

  async #list(): Promise<Record<string, unknown>> {
    const all = await this.sessions.all();
    return { sessions: all.map((a) => a.summary()) };
  }

  helpText(): string {
    const id = this.identity;
    const s = (verb: 'spawn' | 'stop' | 'list') => subjectFor(verb, id);
    return [
      `ccflow NATS controller @ ${subjectFor('prompt', id)}`,
      '',
      'This agent manages sessions; it does not run prompts itself. Each spawned session is a',
      `durable ccflow task and registers as its own agent at ${subjectFor('prompt', { ...id, name: '<session_id>' })},`,
      `speaking the Synadia Agent Protocol v${PROTOCOL_VERSION}; find them with $SRV.INFO.${SERVICE_NAME}.`,
      '',
      `spawn  ${s('spawn')}`,
      '  request: {"cwd": "/abs/path", "session_id"?, "model"?, "allowed_tools"?: [...],',
      '            "permission_mode"?: "default|acceptEdits|bypassPermissions|plan|dontAsk|auto",',
      '            "max_turns"?, "max_lifetime_s"?, "ask_tools"?: ["Bash(git push:*)", ...]}',
      '  modes other than dontAsk and bypassPermissions, and ask_tools rules, hold calls in the task',
      '  and ask the prompting caller with a query chunk; unanswered, a call waits (max_lifetime_s at most).',
      '  reply:   {"session_id", "subject", "heartbeat_subject", "status_subject", "cwd", "instance_id", ...}',
      `stop   ${s('stop')}`,
      '  request: {"session_id": "..."}',
      '  reply:   {"ok": true, "session_id": "..."}',
      `list   ${s('list')}`,
      '  request: (empty)',
      '  reply:   {"sessions": [{"session_id", "cwd", "remaining_lifetime_s", ...}]}',
    ].join('\n');
  }
}

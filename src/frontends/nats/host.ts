/**
 * The NATS front end: one connection, one controller agent, one agent per open session. Sessions
 * belong to the backend, not to this process: on start the host registers every session the
 * backend holds open for this controller, and on stop it leaves them running.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { SessionBackend, SessionInfo, SessionSettings } from './backend.js';
import { Controller, type SessionDirectory } from './controller.js';
import { SEED_SPAWN_DEFAULTS, type SpawnDefaults } from './controller-requests.js';
import { DEFAULT_HOST_TIMING, type FrontendLogger, type HostContext, type HostTiming } from './host-context.js';
import { MicroRegistry } from './micro.js';
import { AgentError } from './reply.js';
import { SessionAgent } from './session-agent.js';
import {
  DEFAULT_AGENT_TOKEN,
  DEFAULT_CONTROLLER_NAME,
  HEARTBEAT_INTERVAL_S,
  SERVICE_NAME,
  formatMaxPayload,
  isValidToken,
  subjectFor,
  type AgentIdentity,
} from './subjects.js';

export interface NatsHostOptions {
  nc: NatsConnection;
  /** The sessions' backend, or a function that makes it once the controller's identity is known. */
  backend: SessionBackend | ((identity: AgentIdentity) => SessionBackend);
  /** Subject token 4. */
  owner: string;
  /** Subject token 3. @default 'cc-headless' */
  agent?: string;
  /**
   * The controller's name (token 5). When absent, `control`, or `control-2`, `-3`, ... if another
   * controller already answers under it. A name given explicitly is never changed: this host's
   * sessions are found again under it after a restart.
   */
  name?: string;
  defaults?: Partial<SpawnDefaults>;
  timing?: Partial<HostTiming>;
  log?: FrontendLogger;
  /** Relative spawn `cwd`s resolve against this. @default process.cwd() */
  baseDir?: string;
}

const LIFETIME_SWEEP_MS = 2_000;
const MAX_NAME_ATTEMPTS = 100;

export class NatsHost implements SessionDirectory {
  readonly controller: Controller;
  readonly #agents = new Map<string, SessionAgent>();
  readonly #timers: NodeJS.Timeout[] = [];
  #shuttingDown = false;

  private constructor(
    private readonly ctx: HostContext,
    identity: AgentIdentity,
    defaults: SpawnDefaults,
    baseDir: string,
  ) {
    this.controller = new Controller(ctx, identity, this, defaults, baseDir);
  }

  static async start(opts: NatsHostOptions): Promise<NatsHost> {
    const agent = opts.agent ?? DEFAULT_AGENT_TOKEN;
    for (const [what, value] of [
      ['agent token', agent],
      ['owner', opts.owner],
      ...(opts.name !== undefined ? [['name', opts.name]] : []),
    ] as const) {
      if (!isValidToken(value)) throw new Error(`nats: ${what} "${value}" must match [a-z0-9_-]{1,63}`);
    }
    const log = opts.log ?? { info: () => undefined, warn: (m, d) => console.error(m, d) };
    const name = await pickControllerName(opts.nc, agent, opts.owner, opts.name);
    const identity: AgentIdentity = { agent, owner: opts.owner, name };
    const backend = typeof opts.backend === 'function' ? opts.backend(identity) : opts.backend;
    const registry = new MicroRegistry(opts.nc, SERVICE_NAME, (err) => log.warn('nats: subscription error', err));
    const ctx: HostContext = {
      nc: opts.nc,
      registry,
      backend,
      agent,
      owner: opts.owner,
      maxPayload: formatMaxPayload(opts.nc.info?.max_payload),
      timing: { ...DEFAULT_HOST_TIMING, ...opts.timing },
      log,
    };
    registry.start();
    const host = new NatsHost(ctx, identity, { ...SEED_SPAWN_DEFAULTS, ...opts.defaults }, opts.baseDir ?? process.cwd());
    for (const info of await backend.list()) host.#adopt(info);
    await opts.nc.flush();
    host.#beatAll();
    host.#timers.push(
      setInterval(() => host.#beatAll(), HEARTBEAT_INTERVAL_S * 1000),
      setInterval(() => host.#sweepLifetimes(), LIFETIME_SWEEP_MS),
      setInterval(() => void host.reconcile().catch((err: unknown) => log.warn('nats: reconcile failed', err)), ctx.timing.reconcileMs),
    );
    log.info(`nats: controller listening on ${subjectFor('prompt', identity)} (${host.#agents.size} open session(s) registered)`);
    return host;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  get(sessionId: string): SessionAgent | undefined {
    return this.#agents.get(sessionId);
  }

  async spawn(settings: SessionSettings): Promise<SessionAgent> {
    const info = await this.ctx.backend.spawn(settings);
    const agent = this.#adopt(info);
    await this.ctx.nc.flush();
    this.#beat(agent.identity, agent.heartbeat());
    return agent;
  }

  remove(sessionId: string, reason: AgentError): void {
    this.#agents.get(sessionId)?.dispose(reason);
    this.#agents.delete(sessionId);
  }

  async all(): Promise<SessionAgent[]> {
    await this.reconcile();
    return [...this.#agents.values()];
  }

  /**
   * Brings the registered agents in line with the backend: sessions it holds open that are not
   * registered here get an agent; agents whose session closed elsewhere leave discovery.
   */
  async reconcile(): Promise<void> {
    if (this.#shuttingDown) return;
    const open = await this.ctx.backend.list();
    const ids = new Set(open.map((i) => i.sessionId));
    for (const info of open) this.#adopt(info);
    for (const [id, agent] of this.#agents) {
      // A session spawned a moment ago may not be listed yet; ask for it directly before dropping it.
      if (ids.has(id) || (await this.ctx.backend.get(id))) continue;
      this.remove(id, new AgentError(agent.expired ? 410 : 503, agent.expired ? 'session expired' : 'session stopped'));
    }
  }

  /**
   * Leaves NATS: the controller and every session agent stop answering, streams in flight end
   * with 503. The sessions themselves stay open in the backend for the next start.
   */
  async stop(): Promise<void> {
    this.#shuttingDown = true;
    for (const t of this.#timers) clearInterval(t);
    this.controller.service.stop();
    for (const agent of this.#agents.values()) agent.dispose(new AgentError(503, 'front end shutting down; the session stays open'));
    this.#agents.clear();
    this.ctx.registry.stop();
    await this.ctx.nc.flush().catch(() => undefined);
  }

  /** The agent of a session, registered once however many paths (spawn, reconcile) find it. */
  #adopt(info: SessionInfo): SessionAgent {
    const known = this.#agents.get(info.sessionId);
    if (known) {
      known.refresh(info);
      return known;
    }
    const agent = new SessionAgent(this.ctx, info);
    this.#agents.set(info.sessionId, agent);
    return agent;
  }

  #beat(identity: AgentIdentity, payload: object): void {
    this.ctx.nc.publish(subjectFor('hb', identity), JSON.stringify(payload));
  }

  #beatAll(): void {
    this.#beat(this.controller.identity, this.controller.heartbeat());
    for (const agent of this.#agents.values()) this.#beat(agent.identity, agent.heartbeat());
  }

  /** Expired sessions end as seed 002 ends them: closed in the backend, gone from discovery. */
  #sweepLifetimes(): void {
    for (const [id, agent] of this.#agents) {
      if (!agent.expired) continue;
      this.remove(id, new AgentError(503, 'session expired'));
      this.ctx.backend.stop(id).catch((err: unknown) => this.ctx.log.warn(`nats: closing expired session ${id} failed`, err));
    }
  }
}

/**
 * Seed 002's controller-name rule: take the first of `control`, `control-2`, ... that no live
 * controller answers for. Not atomic, as in the seed; an explicit name is used as given.
 */
async function pickControllerName(nc: NatsConnection, agent: string, owner: string, explicit: string | undefined): Promise<string> {
  const taken = await takenNames(nc, agent, owner);
  if (explicit !== undefined) {
    if (taken.has(explicit))
      throw new Error(`nats: another agent already answers as ${agent}.${owner}.${explicit}; stop it or pick another --name`);
    return explicit;
  }
  for (let n = 1; n <= MAX_NAME_ATTEMPTS; n++) {
    const candidate = n === 1 ? DEFAULT_CONTROLLER_NAME : `${DEFAULT_CONTROLLER_NAME}-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new Error(`nats: no free controller name after ${MAX_NAME_ATTEMPTS} attempts`);
}

async function takenNames(nc: NatsConnection, agent: string, owner: string): Promise<Set<string>> {
  const prefix = `${SERVICE_NAME}.prompt.${agent}.${owner}.`;
  const names = new Set<string>();
  try {
    const replies = await nc.requestMany(`$SRV.INFO.${SERVICE_NAME}`, '', {
      strategy: 'stall',
      maxWait: 1_000,
      stall: 200,
      maxMessages: 1_000,
    });
    for await (const msg of replies) {
      const info = parseInfo(msg.string());
      for (const ep of info) if (ep.startsWith(prefix)) names.add(ep.slice(prefix.length));
    }
  } catch {
    // No responders (or a timeout) means nothing is taken.
  }
  return names;
}

function parseInfo(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    const endpoints = (value as { endpoints?: unknown }).endpoints;
    if (!Array.isArray(endpoints)) return [];
    return endpoints.flatMap((e: unknown) => {
      const subject = (e as { subject?: unknown } | null)?.subject;
      return typeof subject === 'string' ? [subject] : [];
    });
  } catch {
    return [];
  }
}

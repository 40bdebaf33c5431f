/**
 * The NATS micro-service protocol (discovery through `$SRV.PING|INFO|STATS`), written on the
 * plain connection instead of `@nats-io/services`. That package is served only as a 3.0.0
 * prerelease that pins an older nats-core, so using it at run time would need an npm override
 * that never reaches users who install ccflow as a dependency. The protocol is small: endpoint
 * subscriptions in their queue groups, and a few control subjects that every instance answers.
 * The conformance tests drive this layer with `@nats-io/services`' own client, which keeps it
 * honest against an independent implementation.
 *
 * One registry serves every instance on a connection (the controller and one per session), so
 * a hundred sessions cost five control subscriptions, not nine hundred.
 */
import { nuid, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

const VERBS = ['PING', 'INFO', 'STATS'] as const;
type ControlVerb = (typeof VERBS)[number];

export interface EndpointDef {
  name: string;
  subject: string;
  /** The protocol puts `prompt` and `status` in `agents`; `q` is the framework's default. */
  queueGroup: string;
  /** String values only: the micro protocol types metadata as `map[string]string`. */
  metadata?: Record<string, string>;
  /**
   * Answers one request. The promise settles when the last reply has been sent, which is what
   * `processing_time` measures; it resolves to an error text when the request failed (counted in
   * `num_errors`), and must not reject.
   */
  handler: (msg: Msg) => Promise<string | void>;
}

export interface ServiceDef {
  name: string;
  version: string;
  description: string;
  metadata: Record<string, string>;
  endpoints: EndpointDef[];
}

interface EndpointStats {
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
}

/** One registered instance; `id` is what `$SRV.*.<name>.<id>` and heartbeats name. */
export class MicroService {
  readonly id = nuid.next();
  readonly started = new Date().toISOString();
  readonly #stats = new Map<string, EndpointStats>();
  #subs: Subscription[] = [];

  constructor(
    readonly def: ServiceDef,
    private readonly onStop: (svc: MicroService) => void,
  ) {
    for (const ep of def.endpoints) this.#stats.set(ep.name, { num_requests: 0, num_errors: 0, last_error: '', processing_time: 0 });
  }

  /** Subscribes every endpoint; called once by the registry. */
  listen(nc: NatsConnection, onError: (err: unknown) => void): void {
    this.#subs = this.def.endpoints.map((ep) =>
      nc.subscribe(ep.subject, {
        queue: ep.queueGroup,
        callback: (err, msg) => {
          if (err) return onError(err);
          void this.#serve(ep, msg).catch(onError);
        },
      }),
    );
  }

  async #serve(ep: EndpointDef, msg: Msg): Promise<void> {
    const stats = this.#stats.get(ep.name);
    if (!stats) return;
    stats.num_requests += 1;
    const t0 = process.hrtime.bigint();
    const error = await ep.handler(msg);
    stats.processing_time += Number(process.hrtime.bigint() - t0);
    if (typeof error === 'string') {
      stats.num_errors += 1;
      stats.last_error = error;
    }
  }

  /** Unsubscribes its endpoints (replies in flight still go out) and leaves discovery. */
  stop(): void {
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs = [];
    this.onStop(this);
  }

  reply(verb: ControlVerb): Record<string, unknown> {
    const { name, version, metadata, description, endpoints } = this.def;
    const identity = { name, id: this.id, version, metadata };
    switch (verb) {
      case 'PING':
        return { type: 'io.nats.micro.v1.ping_response', ...identity };
      case 'INFO':
        return {
          type: 'io.nats.micro.v1.info_response',
          ...identity,
          description,
          // An endpoint without metadata has no `metadata` key at all, as the reference sends it.
          endpoints: endpoints.map((ep) => ({
            name: ep.name,
            subject: ep.subject,
            queue_group: ep.queueGroup,
            ...(ep.metadata ? { metadata: ep.metadata } : {}),
          })),
        };
      case 'STATS':
        return {
          type: 'io.nats.micro.v1.stats_response',
          ...identity,
          started: this.started,
          endpoints: endpoints.map((ep) => {
            const s = this.#stats.get(ep.name) ?? { num_requests: 0, num_errors: 0, last_error: '', processing_time: 0 };
            return {
              name: ep.name,
              subject: ep.subject,
              queue_group: ep.queueGroup,
              ...s,
              // Nanoseconds, as the protocol's Go reference reports them.
              average_processing_time: s.num_requests > 0 ? Math.round(s.processing_time / s.num_requests) : 0,
            };
          }),
        };
    }
  }
}

/**
 * Answers `$SRV.<VERB>`, `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>` for every instance it
 * holds. Control subjects have no queue group: each instance must answer, one message each.
 */
export class MicroRegistry {
  readonly #services = new Map<string, MicroService>();
  #subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly serviceName: string,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Subscribes the control subjects; call before adding services, then `flush`. */
  start(): void {
    const name = this.serviceName;
    const subjects = [...VERBS.map((v) => `$SRV.${v}`), `$SRV.*.${name}`, `$SRV.*.${name}.*`];
    this.#subs = subjects.map((subject) =>
      this.nc.subscribe(subject, { callback: (err, msg) => (err ? this.onError(err) : this.#control(msg)) }),
    );
  }

  /** Registers an instance. Its endpoints and discovery replies are live once `flush` resolves. */
  add(def: ServiceDef): MicroService {
    if (def.name !== this.serviceName) throw new Error(`this registry serves "${this.serviceName}", not "${def.name}"`);
    const svc = new MicroService(def, (s) => this.#services.delete(s.id));
    this.#services.set(svc.id, svc);
    svc.listen(this.nc, this.onError);
    return svc;
  }

  get services(): MicroService[] {
    return [...this.#services.values()];
  }

  /** Stops every instance and the control subscriptions. */
  stop(): void {
    for (const svc of this.services) svc.stop();
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs = [];
  }

  #control(msg: Msg): void {
    // $SRV.<VERB>[.<name>[.<id>]]
    const [, verb, name, id, extra] = msg.subject.split('.');
    if (!isVerb(verb) || extra !== undefined) return;
    if (name !== undefined && name !== this.serviceName) return;
    for (const svc of this.#services.values()) {
      if (id !== undefined && id !== svc.id) continue;
      msg.respond(JSON.stringify(svc.reply(verb)));
    }
  }
}

function isVerb(v: string | undefined): v is ControlVerb {
  return v === 'PING' || v === 'INFO' || v === 'STATS';
}

/**
 * The worker's live-event sink on NATS: events of a task go to `<prefix>.<task token>` for front
 * ends to relay. The connection is made in the background and kept up by the client's own
 * reconnects; a worker without a reachable broker runs its agents exactly as before.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectionOptions, type NatsConnectFlags } from '../frontends/nats/connection.js';
import { DEFAULT_LIVE_SUBJECT_PREFIX, liveSubject, type LiveEvent, type LiveSink } from '../schemas/live-events.js';

export interface NatsLiveSinkOpts {
  /** Server and credentials, as the `nats` CLI's flags name them. */
  connection: NatsConnectFlags;
  /** Overrides of the client's connection options (tests: no reconnects). */
  connectOverrides?: { maxReconnectAttempts?: number; waitOnFirstConnect?: boolean };
  /** @default 'ccflow.live' */
  subjectPrefix?: string;
  /**
   * Longest a run waits for its events to reach the broker before it reports its end.
   * @default 2_000 // 2 seconds
   */
  flushTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

export class NatsLiveSink implements LiveSink {
  #nc: NatsConnection | undefined;
  readonly #connecting: Promise<void>;
  readonly #prefix: string;
  readonly #flushTimeoutMs: number;

  constructor(private readonly opts: NatsLiveSinkOpts) {
    this.#prefix = opts.subjectPrefix ?? DEFAULT_LIVE_SUBJECT_PREFIX;
    this.#flushTimeoutMs = opts.flushTimeoutMs ?? 2_000;
    this.#connecting = connectionOptions(opts.connection, 'ccflow-worker-live')
      .then((o) => connect({ ...o, maxReconnectAttempts: -1, waitOnFirstConnect: true, ...opts.connectOverrides }))
      .then(
        (nc) => {
          this.#nc = nc;
        },
        (err: unknown) => opts.onError?.(err),
      );
  }

  /** Resolves once the first connection attempt settled (for tests and orderly start-up). */
  ready(): Promise<void> {
    return this.#connecting;
  }

  publish(event: LiveEvent): void {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return; // nobody can be listening through a broker we cannot reach
    try {
      nc.publish(liveSubject(this.#prefix, event.taskId), JSON.stringify(event));
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  async flush(): Promise<void> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      nc.flush().catch((err: unknown) => this.opts.onError?.(err)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#flushTimeoutMs))),
    ]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.#connecting;
    await this.#nc?.drain().catch(() => undefined);
  }
}

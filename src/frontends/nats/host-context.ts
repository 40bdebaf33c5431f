/** What the controller and the session agents share: the connection, the backend, identity, timing. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { SessionBackend } from './backend.js';
import type { MicroRegistry } from './micro.js';

export interface FrontendLogger {
  info(message: string, detail?: unknown): void;
  warn(message: string, detail?: unknown): void;
}

export interface HostTiming {
  /**
   * How often a waiting prompt gets another `ack`, so a caller's inactivity timer (60 s in the
   * reference SDK) never fires while a turn is queued, runs a long tool or waits for an approval.
   * @default 30_000 // 30 seconds
   */
  keepAliveAckMs: number;
  /**
   * A prompt queued (not running) this long is answered 408, as seed 002 does.
   * @default 1_800_000 // 30 minutes
   */
  queueTimeoutMs: number;
  /**
   * How often open sessions are compared with the backend: sessions that closed elsewhere (keep-
   * alive ran out, `ccflow close`) leave discovery, sessions missing here are registered.
   * @default 15_000 // 15 seconds
   */
  reconcileMs: number;
}

export const DEFAULT_HOST_TIMING: HostTiming = { keepAliveAckMs: 30_000, queueTimeoutMs: 30 * 60_000, reconcileMs: 15_000 };

export interface HostContext {
  nc: NatsConnection;
  registry: MicroRegistry;
  backend: SessionBackend;
  agent: string;
  owner: string;
  /** The broker's max_payload as endpoint metadata writes it (`1MB`). */
  maxPayload: string;
  timing: HostTiming;
  log: FrontendLogger;
}

/** The NATS front end: seed 002's agent host, with sessions kept by a backend (ccflow tasks). */
export { NatsHost, type NatsHostOptions } from './host.js';
export type {
  PermissionDecision,
  PermissionRequest,
  SessionBackend,
  SessionInfo,
  SessionSettings,
  TurnEvent,
  TurnInput,
  TurnOutcome,
} from './backend.js';
export { AgentError } from './reply.js';
export { CcflowSessionBackend, type CcflowBackendOpts } from './ccflow-backend.js';
export { connectionOptions, describeTarget, resolveNatsFlags, type NatsConnectFlags } from './connection.js';
export type { AgentIdentity } from './subjects.js';
export { SEED_SPAWN_DEFAULTS, SEED_PERMISSION_MODES, type SpawnDefaults, type SeedPermissionMode } from './controller-requests.js';
export { DEFAULT_HOST_TIMING, type HostTiming, type FrontendLogger } from './host-context.js';
export { DEFAULT_AGENT_TOKEN, DEFAULT_CONTROLLER_NAME, PROTOCOL_VERSION, sanitizeToken, isValidToken } from './subjects.js';

/**
 * Subjects and tokens of the Synadia Agent Protocol for NATS (v0.3) as seed 002's Claude Code
 * host lays them out: verb first, `agents.<verb>.<agent>.<owner>.<name>`, so a tracer can
 * subscribe to `agents.<verb>.>` and read identity by position. Callers derive the controller's
 * spawn/stop/list subjects from its prompt subject by swapping token 2, so every subject here
 * must keep exactly five tokens.
 */

/** The micro-service name every agent registers under; discovery asks `$SRV.INFO.agents`. */
export const SERVICE_NAME = 'agents';
/** Protocol version announced in service metadata; callers check the major.minor. */
export const PROTOCOL_VERSION = '0.3';
/**
 * The version string seed 002's host registers with (its own constant, not its package
 * version). Kept so `$SRV.INFO` and `nats micro list` read the same for existing tooling.
 */
export const SERVICE_VERSION = '0.4.0';
/** Seed 002's agent token; the default keeps its callers working unchanged. */
export const DEFAULT_AGENT_TOKEN = 'cc-headless';
export const DEFAULT_CONTROLLER_NAME = 'control';
/** Heartbeat period of the controller and of every session (seed 002 since 0.5.3). */
export const HEARTBEAT_INTERVAL_S = 5;
/** Queue group the protocol requires for `prompt` and `status`. */
export const AGENT_QUEUE = 'agents';
/**
 * Queue group of the controller's extension endpoints. Seed 002 registers them without a queue,
 * so they land in the micro framework's default group `q`; `$SRV.INFO` shows it.
 */
export const DEFAULT_QUEUE = 'q';

export type Verb = 'prompt' | 'status' | 'hb' | 'spawn' | 'stop' | 'list';

export interface AgentIdentity {
  /** Token 3: `cc-headless` unless configured otherwise. */
  agent: string;
  /** Token 4. */
  owner: string;
  /** Token 5: the controller's name, or a session id. */
  name: string;
}

export function subjectFor(verb: Verb, id: AgentIdentity): string {
  return `${SERVICE_NAME}.${verb}.${id.agent}.${id.owner}.${id.name}`;
}

const TOKEN_MAX = 63;

/**
 * The protocol's token rule `[a-z0-9_-]{1,63}`, applied the way seed 002 applies it: lower-case,
 * runs of anything else become one `-`, no leading or trailing `-`, at most 63 characters.
 * A value is valid when sanitising leaves it unchanged.
 */
export function sanitizeToken(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, TOKEN_MAX);
}

export function isValidToken(raw: string): boolean {
  return raw.length > 0 && sanitizeToken(raw) === raw;
}

/**
 * A broker's max_payload as the size string endpoint metadata carries (`1MB`, `64KB`, `1000B`):
 * base 1024, the largest unit that divides it exactly, which is how callers parse it back.
 */
export function formatMaxPayload(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isInteger(bytes) || bytes <= 0) return '1MB';
  for (const [unit, size] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/**
 * What the NATS front end needs from whatever runs the sessions. The protocol layer (subjects,
 * micro registration, envelopes, chunks, queries) is written against this interface only; ccflow's
 * implementation maps it onto tasks through the client library, and tests use a fake.
 */
import type { Attachment } from './envelope.js';
import type { SeedPermissionMode } from './controller-requests.js';

/** A session's settings, as spawn fixed them. */
export interface SessionSettings {
  sessionId: string;
  /** Absolute. */
  cwd: string;
  model: string;
  allowedTools: string[];
  permissionMode: SeedPermissionMode;
  maxTurns: number;
  /** 0: no limit. */
  maxLifetimeS: number;
  /** Rules whose calls wait for a person on top of what the permission mode asks (ccflow's `ask_tools`). */
  askTools?: string[];
}

export interface SessionInfo extends SessionSettings {
  createdAt: Date;
  lastActivity: Date;
  totalCostUsd: number;
  turnCount: number;
  /** The Claude Code session id, once a turn has reported one. */
  claudeSessionId?: string;
  /** Where the session lives in the backend (a ccflow task id), announced in service metadata. */
  taskId?: string;
}

export type PermissionDecision = { allow: true } | { allow: false; reason: string };

/** A tool call waiting for a person's yes or no. */
export interface PermissionRequest {
  /** The tool_use id, so callers can match the query with the `tool_use:` chunk before it. */
  id: string;
  toolName: string;
  input: unknown;
  /** Claude Code's own wording, when it gives one. */
  title?: string;
  description?: string;
  /** Records the answer. Rejects when the request was already answered (by anyone) or is gone. */
  answer(decision: PermissionDecision): Promise<void>;
  /** Settles once the request no longer waits: answered by anyone, timed out, or the turn ended. */
  settled: Promise<void>;
}

/** What a turn reports while it runs, in order. */
export type TurnEvent =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; toolUseId: string; content: unknown; isError: boolean }
  | { type: 'permission'; request: PermissionRequest };

export interface TurnInput {
  prompt: string;
  attachments: Attachment[];
}

export interface TurnOutcome {
  turnCostUsd: number;
  totalCostUsd: number;
  /**
   * The turn's final text when it was not streamed as `text` events (no live stream reached the
   * front end); sent as one `response` chunk so the caller still reads the answer.
   */
  unstreamedText?: string;
}

export interface SessionBackend {
  /**
   * Whether prompts may carry attachments; sessions announce it as `attachments_ok`.
   * @default true
   */
  readonly attachments?: boolean;
  /**
   * Starts a session. Rejects with `AgentError(409)` when the id is taken, `AgentError(400)` when
   * the settings cannot be honoured.
   */
  spawn(settings: SessionSettings): Promise<SessionInfo>;
  /**
   * Runs one turn, reporting events as they happen; resolves when the turn is complete. Rejects
   * with an `AgentError` (500 when the agent failed, 503 when the session is gone).
   */
  prompt(sessionId: string, input: TurnInput, onEvent: (event: TurnEvent) => void): Promise<TurnOutcome>;
  /** Ends a session. Rejects with `AgentError(404)` when there is no such open session. */
  stop(sessionId: string): Promise<void>;
  /** The open sessions this front end owns. */
  list(): Promise<SessionInfo[]>;
  /** One session, or undefined when it is not open (closed, expired, never existed). */
  get(sessionId: string): Promise<SessionInfo | undefined>;
}

import type { ProviderName } from '../sandbox/types.js';

/**
 * Inputs and outputs of the activities: what crosses workflow history. Small by design: no
 * transcript, tool output or secret ever appears here.
 */

export interface CreateSandboxInput {
  provider?: ProviderName;
  timeoutSeconds?: number;
  files?: Record<string, string>;
}

export interface CreatedSandbox {
  sandboxId: string;
  provider: ProviderName;
  /** Task queue for every later activity on this sandbox (a host queue for local sandboxes). */
  taskQueue: string;
}

export interface RunClaudeInput {
  sandboxId: string;
  provider: ProviderName;
  /** Names this run's directory in the sandbox (`run-1`, `run-2`, ...). */
  runName: string;
  prompt: string;
  resultSchema: Record<string, unknown>;
  permissionMode: string;
  allowedTools?: string[];
  model?: string;
  maxTurns?: number;
  maxBudgetUsd?: number;
  appendSystemPrompt?: string;
  resumeSessionId?: string;
  newSessionId?: string;
  /** Watchdog: no stream output for this long while no tool runs means a stall. */
  stallSeconds?: number;
}

/** Tokens one agent process used, from its `result` line. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
}

export interface RunClaudeOutput {
  sessionId: string;
  numTurns: number;
  costUsd: number;
  usage?: TokenUsage;
  subtype: string;
  resultText?: string;
  durationMs: number;
  reattached: boolean;
  garbageLines: number;
  runDir: string;
}

export interface FetchResultInput {
  sandboxId: string;
  provider: ProviderName;
  resultSchema: Record<string, unknown>;
}

export type FetchedResult =
  | { status: 'valid'; result: Record<string, unknown> }
  | { status: 'missing'; lastAttempt?: unknown }
  | { status: 'invalid'; errors: string[]; lastAttempt?: unknown };

export interface DestroySandboxInput {
  sandboxId: string;
  provider: ProviderName;
  runNames: string[];
}

export interface DestroyedSandbox {
  artifactsDir: string;
  artifactsSaved: number;
}

/**
 * Builds the argv and environment of one headless `claude` run. Pure functions: what the
 * CLI is told lives here, in one place, and is unit-tested.
 */

import { DEFAULT_ALLOWED_TOOLS } from '../domain/constants.js';
import { RESULT_SERVER_NAME, SUBMIT_RESULT_TOOL } from '../domain/prompts.js';
import { settingsArgs, type ClaudeSettings } from './approval-settings.js';

export { RESULT_SERVER_NAME, SUBMIT_RESULT_TOOL };

export interface ClaudeRunOptions {
  claudeBin: string;
  /**
   * Path (inside the sandbox) of the `--mcp-config` JSON file with the result server; absent for
   * a run whose final message is its result (no MCP server, no result tool).
   */
  mcpConfigPath?: string;
  /** Token deltas as `stream_event` lines, for live relays (`--include-partial-messages`). */
  includePartialMessages?: boolean;
  permissionMode: string;
  allowedTools?: readonly string[];
  model?: string;
  maxTurns?: number;
  maxBudgetUsd?: number;
  appendSystemPrompt?: string;
  /** Continue this session (`--resume`). */
  resumeSessionId?: string;
  /** Start a new session under this id (`--session-id`), so the id is known before the run. */
  newSessionId?: string;
  /** ccflow's own settings (the approval hooks), passed inline; no settings file is ever read. */
  settings?: ClaudeSettings;
}

/** Built-in tools a task may use when it lists none (defined with the other names ccflow agrees on). */
export { DEFAULT_ALLOWED_TOOLS };

/**
 * argv for `claude -p`. The prompt is NOT here: it goes to a file fed on stdin, so it never
 * hits argv limits or shows up in `ps`.
 */
export function buildClaudeArgs(o: ClaudeRunOptions): string[] {
  if (o.resumeSessionId && o.newSessionId) {
    throw new Error('a run either resumes a session or starts a new one, not both');
  }
  const tools = [...(o.allowedTools ?? DEFAULT_ALLOWED_TOOLS)];
  if (o.mcpConfigPath !== undefined && !tools.includes(SUBMIT_RESULT_TOOL)) tools.push(SUBMIT_RESULT_TOOL);

  // Variadic options (--allowedTools, --mcp-config) take one comma-joined value each and are
  // always followed by another option, so the CLI never swallows a later argument.
  const args = [
    o.claudeBin,
    '-p',
    '--output-format',
    'stream-json',
    '--verbose',
    // Only ccflow's own servers, never ones configured in the sandbox's home or workspace.
    ...(o.mcpConfigPath !== undefined ? ['--mcp-config', o.mcpConfigPath] : []),
    '--strict-mcp-config',
    '--allowedTools',
    tools.join(','),
    '--permission-mode',
    o.permissionMode,
  ];
  if (o.includePartialMessages) args.push('--include-partial-messages');
  if (o.model) args.push('--model', o.model);
  if (o.maxTurns !== undefined) args.push('--max-turns', String(o.maxTurns));
  if (o.maxBudgetUsd !== undefined) args.push('--max-budget-usd', String(o.maxBudgetUsd));
  if (o.appendSystemPrompt) args.push('--append-system-prompt', o.appendSystemPrompt);
  if (o.resumeSessionId) args.push('--resume', o.resumeSessionId);
  if (o.newSessionId) args.push('--session-id', o.newSessionId);
  // No settings files at all (settingsArgs): HOME and the workspace are the agent's to write,
  // and their .claude/settings*.json would otherwise add hooks and widen permissions (checked).
  args.push(...settingsArgs(o.settings));
  return args;
}

export interface ResultServerConfig {
  nodeBin: string;
  serverPath: string;
  schemaFile: string;
  resultFile: string;
  attemptsFile: string;
}

/**
 * The `--mcp-config` document that starts the result server over stdio. `alwaysLoad` makes
 * the CLI offer its tools in every request: claude 2.1.330 otherwise defers MCP tools behind
 * `ToolSearch`, and a model that is not told to search never sees `submit_result`. Every
 * server ccflow itself adds needs the same flag.
 */
export function buildMcpConfig(c: ResultServerConfig): { mcpServers: Record<string, unknown> } {
  return {
    mcpServers: {
      [RESULT_SERVER_NAME]: {
        type: 'stdio',
        alwaysLoad: true,
        command: c.nodeBin,
        args: [c.serverPath],
        env: {
          CCFLOW_RESULT_SCHEMA_FILE: c.schemaFile,
          CCFLOW_RESULT_FILE: c.resultFile,
          CCFLOW_RESULT_ATTEMPTS_FILE: c.attemptsFile,
        },
      },
    },
  };
}

/** A model endpoint and key given directly (raw runs in benchmarks; ccflow's runs get a proxy token). */
export interface ModelEndpoint {
  baseUrl?: string;
  apiKey: string;
}

/** The environment variables of a directly given endpoint. */
export function endpointEnv(e: ModelEndpoint): Record<string, string> {
  return { ANTHROPIC_API_KEY: e.apiKey, ...(e.baseUrl ? { ANTHROPIC_BASE_URL: e.baseUrl } : {}) };
}

/** claude's MCP server start timeout in ccflow's runs (MCP_TIMEOUT, ms). */
export const MCP_START_TIMEOUT_MS = 120_000;

/**
 * The whole environment of the claude process: an explicit allow-list, never the worker's
 * own environment. `model` says how to reach the model (for ccflow's runs: the proxy's
 * endpoint, a token for this run, and the egress proxy when the policy has one).
 */
export function buildClaudeEnv(o: { home: string; path: string; model: Record<string, string> }): Record<string, string> {
  return {
    HOME: o.home,
    PATH: o.path,
    LANG: 'C.UTF-8',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_TELEMETRY: '1',
    // How long claude waits for the result server to start (its default is 30 s). On a host
    // busy with many agents (niced below the worker) a start can take longer; a slow start is
    // better than a task failed with ResultServerUnavailable.
    MCP_TIMEOUT: String(MCP_START_TIMEOUT_MS),
    ...o.model,
  };
}

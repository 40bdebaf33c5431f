/**
 * How every sandbox is laid out, whatever its provider: the paths the agent, the result server
 * and ccflow's own files have *inside* a sandbox. The local provider mounts its files there,
 * the E2B template (sandbox-template/template.ts) installs them there, and activities read and
 * write them there. Defined once; nothing else spells these paths.
 */

/** HOME of the agent. */
export const SANDBOX_HOME = '/home/user';
/** The agent's working tree. */
export const SANDBOX_WORKDIR = '/home/user/workspace';
/** The unprivileged user the agent runs as (uid and gid 1000). */
export const SANDBOX_USER = 'user';
/** Where ccflow keeps its own files inside a sandbox (prompts, run output, result file). */
export const SANDBOX_CCFLOW_DIR = '/home/user/.ccflow';
/** Read-only tools ccflow brings along. */
export const SANDBOX_OPT_DIR = '/opt/ccflow';
export const SANDBOX_BIN_DIR = `${SANDBOX_OPT_DIR}/bin`;
/** Where the pinned `claude` binary is reachable inside every sandbox. */
export const SANDBOX_CLAUDE_BIN = `${SANDBOX_BIN_DIR}/claude`;
/** The node binary that runs the result MCP server inside every sandbox. */
export const SANDBOX_NODE_BIN = `${SANDBOX_BIN_DIR}/node`;
/** The result MCP server's directory and entry point. */
export const SANDBOX_RESULT_SERVER_DIR = `${SANDBOX_OPT_DIR}/result-server`;
export const SANDBOX_RESULT_SERVER = `${SANDBOX_RESULT_SERVER_DIR}/server.mjs`;
/** The approval hook (PreToolUse), beside the result server: plain JS on node built-ins. */
export const SANDBOX_APPROVAL_HOOK = `${SANDBOX_RESULT_SERVER_DIR}/approval-hook.mjs`;
/** node_modules the result server imports from (fastmcp), for providers that mount it. */
export const SANDBOX_NODE_MODULES_DIR = `${SANDBOX_OPT_DIR}/node_modules`;
/** PATH of processes ccflow starts in a sandbox. */
export const SANDBOX_PATH = `${SANDBOX_BIN_DIR}:/usr/local/bin:/usr/bin:/bin`;

/** `claude` keeps sessions under `$HOME/.claude/projects/<cwd, every "/" and "." a "-">/`. */
export const CLAUDE_PROJECT_DIR = `${SANDBOX_HOME}/.claude/projects/${SANDBOX_WORKDIR.replace(/[^A-Za-z0-9]/g, '-')}`;

/** ccflow's files inside a sandbox. */
export const SANDBOX_FILES = {
  /** The task's result JSON Schema, read by the result server. */
  resultSchema: `${SANDBOX_CCFLOW_DIR}/result-schema.json`,
  /** The accepted submission, written by the result server. */
  result: `${SANDBOX_CCFLOW_DIR}/result.json`,
  /** Every submission, accepted or refused, one JSON line each. */
  attempts: `${SANDBOX_CCFLOW_DIR}/result-attempts.jsonl`,
  mcpConfig: `${SANDBOX_CCFLOW_DIR}/mcp.json`,
  /** Per-run directories (`runs/<runName>/a<attempt>`). */
  runs: `${SANDBOX_CCFLOW_DIR}/runs`,
  /** Scratch space of session save and restore. */
  session: `${SANDBOX_CCFLOW_DIR}/session`,
} as const;

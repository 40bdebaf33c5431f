/** Scripted Anthropic Messages API server for offline runs of the `claude` CLI. */
export {
  ModelScriptSchema,
  ScriptConversationSchema,
  ScriptError,
  ScriptFailureSchema,
  ScriptStepSchema,
  ScriptToolUseSchema,
  ScriptUsageSchema,
  loadScript,
  parseScript,
} from './script.js';
export type {
  ModelScript,
  ModelScriptInput,
  ScriptConversation,
  ScriptFailure,
  ScriptStep,
  ScriptToolUse,
  ScriptUsage,
} from './script.js';
export {
  NO_MATCH_TEXT,
  SCRIPT_FINISHED_TEXT,
  SIDE_TEXT,
  firstUserText,
  isSideRequest,
  serveModelCommand,
  sessionIdOf,
  startModelServer,
  stepIndexOf,
} from './server.js';
export type { ModelServer, ModelServerOptions, RecordedRequest } from './server.js';
export { DEFAULT_SCRIPT_FILE, defaultScript } from './default-script.js';

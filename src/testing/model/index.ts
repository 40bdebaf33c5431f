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
export type { ModelScript, ModelScriptInput, ScriptConversation, ScriptFailure, ScriptStep, ScriptToolUse, ScriptUsage } from './script.js';
export { NO_MATCH_TEXT, SCRIPT_FINISHED_TEXT, SIDE_TEXT, startModelServer } from './server.js';
export { firstUserText, isSideRequest, offeredTools, sessionIdOf, stepIndexOf } from './request.js';
export { serveModelCommand } from './serve-command.js';
export type { ModelServer, ModelServerOptions, RecordedRequest, ToolRefusal } from './server.js';
export { DEFAULT_SCRIPT_FILE, defaultScript } from './default-script.js';

/**
 * ccflow's testing helpers (the package entry `ccflow/testing`): the scripted
 * Anthropic-compatible model server, the Temporal dev server, and a whole dev environment,
 * for tests that run real tasks offline.
 */
export { startDevEnvironment, type DevEnvironment, type DevEnvironmentOpts } from './dev-environment.js';
export { freePort, startDevServer, temporalBinary, type DevServer, type DevServerOpts } from './dev-server.js';
export {
  defaultScript,
  loadScript,
  parseScript,
  startModelServer,
  type ModelScript,
  type ModelScriptInput,
  type ModelServer,
  type ModelServerOptions,
  type RecordedRequest,
} from './model/index.js';

/** The local provider: bubblewrap-jailed sandboxes in directories on this host. */
export { LocalSandboxProvider, type LocalSandboxProviderOpts } from './provider.js';
export { LocalSandbox, type LocalIsolation, type LocalSandboxMounts } from './sandbox.js';
export { bwrapAvailable, checkBubblewrap } from './bwrap.js';

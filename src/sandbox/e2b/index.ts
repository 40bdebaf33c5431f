/** The E2B provider: sandboxes in E2B microVMs built from ccflow's template. */
export { E2BSandboxProvider, type E2BProviderOpts } from './provider.js';

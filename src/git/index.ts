/**
 * ccflow's git: fetch a repository on the worker host with the worker's credentials, move
 * it into a sandbox and a change out of it as bundles, record each turn's change as a commit
 * inside the sandbox, and give it back (patch, checkout, 3-way apply, push). No Temporal
 * here: activities wrap these functions.
 */
export * from './apply.js';
export * from './bundle.js';
export * from './changes.js';
export * from './errors.js';
export * from './fetch.js';
export * from './host.js';
export * from './materialize.js';
export * from './push.js';
export * from './remote.js';
export * from './workspace.js';

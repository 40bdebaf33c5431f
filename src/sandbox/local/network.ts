/**
 * The network of a local sandbox. An isolated jail has its own network namespace, so loopback
 * is the only interface and nothing on the host (Temporal, metrics, other sandboxes, any
 * loopback port) is reachable. The worker's proxies come in as Unix sockets bound read-only
 * at JAIL_SOCKETS_DIR.
 *
 * The pinned CLI speaks to the model over a Unix socket itself (ANTHROPIC_UNIX_SOCKET, with an
 * http:// base URL), so the model needs nothing more. Tools that honour HTTPS_PROXY speak TCP,
 * so for the egress proxy a relay inside the jail serves its socket on a loopback port. (The
 * relay can carry the model too, for a CLI without ANTHROPIC_UNIX_SOCKET: `model: 'relay'`.)
 */
import path from 'node:path';

import type { EgressPolicy } from '../../domain/network.js';
import { SANDBOX_NODE_BIN, SANDBOX_RELAY } from '../layout.js';

/** Inside the jail: the directory holding the worker's sockets. */
export const JAIL_SOCKETS_DIR = '/run/ccflow';
/** Socket file names, the same on the host (in the sandbox's sockets dir) and inside. */
export const MODEL_SOCKET = 'model.sock';
export const EGRESS_SOCKET = 'egress.sock';
/**
 * Loopback ports the relay listens on inside the jail. Any free port would do: the network
 * namespace is the jail's own, so these never clash with the host or another sandbox.
 */
export const MODEL_PROXY_PORT = 41_100;
export const EGRESS_PROXY_PORT = 41_101;
export { SANDBOX_RELAY };

export type JailNetwork =
  /** Shares the host's network (isolation `none`, and jails made before isolation existed). */
  | { mode: 'host' }
  /**
   * Own network namespace. `socketsDir` is the host directory bound at JAIL_SOCKETS_DIR;
   * `model` says how the CLI reaches the model proxy (`false`: it does not, the `none` policy);
   * `egress` whether the egress proxy is relayed (allow-list and open).
   */
  | { mode: 'isolated'; socketsDir: string; model: 'socket' | 'relay' | false; egress: boolean };

/** bwrap options for the network (before `--`). */
export function jailNetworkArgs(net: JailNetwork): string[] {
  if (net.mode === 'host') return [];
  return ['--unshare-net', '--ro-bind', net.socketsDir, JAIL_SOCKETS_DIR];
}

/** `<port>=<socket>` pairs for the relay; empty when there is nothing to relay. */
export function relayPairs(net: JailNetwork): string[] {
  if (net.mode === 'host') return [];
  const pairs: string[] = [];
  if (net.model === 'relay') pairs.push(`${MODEL_PROXY_PORT}=${path.posix.join(JAIL_SOCKETS_DIR, MODEL_SOCKET)}`);
  if (net.egress) pairs.push(`${EGRESS_PROXY_PORT}=${path.posix.join(JAIL_SOCKETS_DIR, EGRESS_SOCKET)}`);
  return pairs;
}

/** The environment variable through which the jail's wrapper learns what to relay. */
export const RELAY_ENV = 'CCFLOW_RELAY';

/**
 * Shell for the jail's wrapper (run before the command): starts the relay when RELAY_ENV names
 * pairs, waits until it listens, and removes the variable so the command never sees it.
 * Pairs are plain words (fixed ports and paths).
 */
export const RELAY_PRELUDE = [
  `if [ -n "\${${RELAY_ENV}-}" ]; then`,
  // Word splitting of the pairs is intended; the relay keeps the wrapper's stderr.
  `  ready=$(${SANDBOX_NODE_BIN} ${SANDBOX_RELAY} $${RELAY_ENV} </dev/null &)`,
  `  [ "$ready" = ok ] || { echo "ccflow: the sandbox's network relay did not start" >&2; exit 125; }`,
  'fi',
  `unset ${RELAY_ENV}`,
].join('\n');

/** The agent's environment for this network: model endpoint and, with egress, the proxy. */
export function agentNetworkEnv(net: JailNetwork): Record<string, string> {
  if (net.mode === 'host') return {};
  const env: Record<string, string> = {};
  if (net.model === 'relay') env['ANTHROPIC_BASE_URL'] = `http://127.0.0.1:${MODEL_PROXY_PORT}`;
  if (net.model === 'socket') {
    env['ANTHROPIC_UNIX_SOCKET'] = path.posix.join(JAIL_SOCKETS_DIR, MODEL_SOCKET);
    // The host part is not dialled; the scheme must be http (no TLS on the socket).
    env['ANTHROPIC_BASE_URL'] = 'http://localhost';
  }
  if (net.egress) {
    const proxy = `http://127.0.0.1:${EGRESS_PROXY_PORT}`;
    // Both spellings: curl reads only the lower-case http_proxy, others only upper case.
    for (const k of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy']) env[k] = proxy;
    for (const k of ['NO_PROXY', 'no_proxy']) env[k] = '127.0.0.1,localhost';
  }
  return env;
}

/**
 * What the worker does for a local sandbox's network: serve its sockets (the model proxy, and
 * the egress proxy for allow-list and open policies) in `socketsDir`, and stop when it goes.
 * Implemented by the worker with its proxies; the provider calls it on create, on connect
 * (a restarted worker listens again), and on destroy.
 */
export interface LocalNetworkHooks {
  attach(o: {
    sandboxId: string;
    socketsDir: string;
    policy: EgressPolicy;
    task: { workflowId: string; namespace: string };
  }): Promise<void>;
  /** Stops serving the sandbox and revokes its model tokens. */
  detach(sandboxId: string): Promise<void>;
}

/** The jail network of a sandbox with `policy` (sockets in `socketsDir` on the host). */
export function jailNetworkFor(policy: EgressPolicy, socketsDir: string): JailNetwork {
  const kind = typeof policy === 'string' ? policy : 'allow';
  // `none` keeps the model socket: the proxy refuses the CLI at once instead of the CLI
  // retrying a missing endpoint for minutes.
  return { mode: 'isolated', socketsDir, model: 'socket', egress: kind === 'allow' || kind === 'open' };
}

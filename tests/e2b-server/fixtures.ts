/** Test fixtures around the E2B test double. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { E2BSandboxProvider, type E2BProviderOpts } from '../../src/sandbox/e2b/index.js';
import type { ProviderFactory } from '../helpers/harness.js';
import { startE2BTestServer, type E2BTestServer, type E2BTestServerOpts } from './server.js';

export interface DoubleFixture {
  server: E2BTestServer;
  /** A provider against the double; `opts` override or add provider options. */
  provider(opts?: Partial<E2BProviderOpts>): E2BSandboxProvider;
  close(): Promise<void>;
}

/** Starts the double under a fresh temp dir (or `rootDir`). */
export async function startDouble(opts: Partial<E2BTestServerOpts> = {}): Promise<DoubleFixture> {
  const own = opts.rootDir === undefined ? await mkdtemp(path.join(os.tmpdir(), 'ccflow-e2b-')) : undefined;
  const server = await startE2BTestServer({ rootDir: opts.rootDir ?? own!, ...opts });
  return {
    server,
    provider: (o = {}) => new E2BSandboxProvider({ apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl, ...o }),
    async close() {
      await server.close();
      if (own) await rm(own, { recursive: true, force: true });
    },
  };
}

/** A harness ProviderFactory: the E2B provider against a double started for the harness. */
export function e2bProviderFactory(
  serverOpts: Partial<E2BTestServerOpts> = {},
  providerOpts: Partial<E2BProviderOpts> = {},
): ProviderFactory {
  return async (tmp) => {
    const d = await startDouble({ rootDir: path.join(tmp, 'e2b'), ...serverOpts });
    return { provider: d.provider(providerOpts), close: () => d.close() };
  };
}

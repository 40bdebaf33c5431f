import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../home.js';
import { EXIT } from '../errors.js';

export interface McpOptions {
  /** Serve Streamable HTTP on this port (0: a free one) instead of stdio. */
  http?: number;
  host: string;
}

/**
 * `ccflow mcp`: serves ccflow's tools to an MCP client until it goes away (stdio) or the
 * process is stopped (HTTP). stdout is the protocol on stdio, so everything else goes to stderr.
 */
export async function mcpCommand(o: McpOptions): Promise<number> {
  const { serveMcp } = await import('../../frontends/mcp/index.js');
  const pkg = JSON.parse(await readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string };
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  await serveMcp({
    ...(o.http !== undefined ? { http: { port: o.http, host: o.host } } : {}),
    version: pkg.version ?? '0.0.0',
    log: (line) => process.stderr.write(`ccflow mcp: ${line}\n`),
    signal: stop.signal,
  });
  return EXIT.ok;
}

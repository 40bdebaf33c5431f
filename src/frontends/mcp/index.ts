/**
 * `ccflow mcp`: ccflow as an MCP server, so an interactive Claude Code session (or any MCP
 * client) hands durable background tasks to ccflow. Built on the client library only.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { ConnectOpts } from '../../client/index.js';
import { ClientGateway } from './gateway.js';
import { isLoopback, serveHttp } from './http.js';
import { createMcpServer } from './server.js';

export { createMcpServer, INSTRUCTIONS } from './server.js';
export { refuseRequest } from './http.js';

export interface ServeMcpOpts {
  /** Serve Streamable HTTP on this port instead of stdio. */
  http?: { port: number; host: string };
  connect?: ConnectOpts;
  version: string;
  /** Where log lines go: never stdout, which is the protocol on stdio. */
  log: (line: string) => void;
  /** Ends the server (HTTP; stdio also ends when stdin closes). */
  signal?: AbortSignal;
}

/** Serves until the client goes away (stdio) or `signal` aborts. */
export async function serveMcp(o: ServeMcpOpts): Promise<void> {
  const gateway = new ClientGateway(o.connect);
  const makeServer = () => createMcpServer(gateway, { version: o.version });
  try {
    if (o.http) {
      const server = await serveHttp({ ...o.http, makeServer, log: o.log });
      o.log(`serving MCP at ${server.url} (tasks go to ${gateway.where})`);
      if (!isLoopback(o.http.host)) {
        o.log(`warning: ${o.http.host} is not a loopback address; anyone who can reach it can start agents (there is no authentication)`);
      }
      await untilAborted(o.signal);
      await server.close();
      return;
    }
    const server = makeServer();
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = resolve;
      // The SDK's stdio transport does not notice the end of stdin: the client went away.
      process.stdin.once('end', resolve);
      process.stdin.once('close', resolve);
      o.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.connect(transport);
    o.log(`serving MCP on stdio (tasks go to ${gateway.where})`);
    await closed;
    await server.close().catch(() => undefined);
  } finally {
    await gateway.close();
  }
}

function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return; // forever: the process is ended from outside
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

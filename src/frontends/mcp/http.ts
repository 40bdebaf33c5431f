import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

/**
 * MCP over Streamable HTTP (`POST/GET/DELETE /mcp`), one MCP server per session. The listener
 * is for this machine: every request must name this server in `Host` and, when a browser sent
 * it, come from this server's own origin. Without that check a web page could reach it through
 * DNS rebinding (a name that resolves to 127.0.0.1) and start agents.
 */

export const MCP_PATH = '/mcp';
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** A session nobody used for this long (and with no request in flight) is closed. */
const SESSION_IDLE_MS = 30 * 60_000;

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

/** `::1` → `[::1]`: how a host appears in a Host header or an origin. */
function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Why a request must be refused, or undefined when it may pass: its Host must be this server
 * (the address it listens on, or a loopback name when it listens on one) at its port, and an
 * Origin, when there is one, must be this server's own.
 */
export function refuseRequest(
  headers: { host?: string | undefined; origin?: string | undefined },
  bound: { host: string; port: number },
): string | undefined {
  const names = new Set([hostForUrl(bound.host), ...(isLoopback(bound.host) ? LOOPBACK_NAMES : [])]);
  const allowed = new Set([...names].flatMap((n) => [`${n}:${bound.port}`, ...(bound.port === 80 ? [n] : [])]));
  const host = headers.host?.toLowerCase();
  if (!host || !allowed.has(host)) return `Host "${headers.host ?? ''}" is not this server (expected one of ${[...allowed].join(', ')})`;
  if (headers.origin !== undefined) {
    let origin: URL;
    try {
      origin = new URL(headers.origin);
    } catch {
      return `Origin "${headers.origin}" is not a URL`;
    }
    if (!['http:', 'https:'].includes(origin.protocol) || !allowed.has(origin.host.toLowerCase())) {
      return `Origin "${headers.origin}" is not this server's`;
    }
  }
  return undefined;
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastUsed: number;
  inFlight: number;
}

export interface McpHttpServer {
  /** The MCP endpoint, e.g. `http://127.0.0.1:7777/mcp`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves MCP over Streamable HTTP on `host:port` (port 0: a free one) until closed. */
export async function serveHttp(o: {
  host: string;
  port: number;
  makeServer: () => McpServer;
  log: (line: string) => void;
}): Promise<McpHttpServer> {
  const sessions = new Map<string, Session>();
  let bound = { host: o.host, port: o.port };

  const closeSession = async (id: string, s: Session) => {
    sessions.delete(id);
    await s.transport.close().catch(() => undefined);
    await s.server.close().catch(() => undefined);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = refuseRequest({ host: req.headers.host, origin: req.headers.origin }, bound);
    if (refusal) {
      o.log(`refused a request: ${refusal}`);
      return sendJsonRpcError(res, 403, -32000, `Forbidden: ${refusal}`);
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== MCP_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`ccflow serves MCP at ${MCP_PATH}\n`);
      return;
    }
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    let session = sessionId !== undefined ? sessions.get(sessionId) : undefined;
    if (sessionId !== undefined && !session) return sendJsonRpcError(res, 404, -32001, 'Session not found');

    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = await readJson(req);
      } catch (err) {
        return sendJsonRpcError(res, 400, -32700, `Parse error: ${(err as Error).message}`);
      }
      if (!session) {
        if (!isInitializeRequest(body))
          return sendJsonRpcError(res, 400, -32000, 'Bad Request: no valid session id (start with initialize)');
        const server = o.makeServer();
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          onsessioninitialized: (id) => {
            sessions.set(id, fresh);
          },
          onsessionclosed: (id) => {
            sessions.delete(id);
          },
        });
        // The callbacks above run during handleRequest, after this is set.
        const fresh: Session = { server, transport, lastUsed: Date.now(), inFlight: 0 };
        await server.connect(transport);
        session = fresh;
      }
    } else if (req.method !== 'GET' && req.method !== 'DELETE') {
      res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
      return;
    } else if (!session) {
      return sendJsonRpcError(res, 400, -32000, 'Bad Request: no valid session id');
    }

    const current = session;
    current.inFlight += 1;
    current.lastUsed = Date.now();
    res.once('close', () => {
      current.inFlight -= 1;
      current.lastUsed = Date.now();
    });
    await current.transport.handleRequest(req, res, body);
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log(`request failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendJsonRpcError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port, o.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  bound = { host: o.host, port: (http.address() as AddressInfo).port };

  const reaper = setInterval(() => {
    for (const [id, s] of sessions) {
      if (s.inFlight === 0 && Date.now() - s.lastUsed > SESSION_IDLE_MS) void closeSession(id, s);
    }
  }, 60_000);
  reaper.unref();

  return {
    url: `http://${hostForUrl(bound.host)}:${bound.port}${MCP_PATH}`,
    port: bound.port,
    async close() {
      clearInterval(reaper);
      await Promise.all([...sessions].map(([id, s]) => closeSession(id, s)));
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}

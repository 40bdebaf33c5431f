import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import type { Harness } from './harness.js';

/**
 * `ccflow mcp` from the sources, as a command and arguments (tests run TypeScript through tsx,
 * named by its resolved location: an MCP client starts the server in its own directory).
 */
export const CCFLOW_MCP = {
  command: process.execPath,
  args: ['--import', import.meta.resolve('tsx'), path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'mcp'],
};

/** The environment `ccflow mcp` needs to reach a harness: its server, queue and artifact store. */
export function mcpEnv(h: Harness, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TEMPORAL_ADDRESS: h.server.address,
    CCFLOW_TASK_QUEUE: h.taskQueue,
    CCFLOW_ARTIFACT_DIR: path.join(h.tmp, 'artifacts'),
    ...overrides,
  };
}

export interface McpSession {
  client: Client;
  /** Everything `ccflow mcp` wrote on stderr. */
  stderr(): string;
  close(): Promise<void>;
}

/** The official SDK client on `ccflow mcp` over stdio. */
export async function connectStdio(env: Record<string, string>): Promise<McpSession> {
  const transport = new StdioClientTransport({ ...CCFLOW_MCP, env, cwd: PACKAGE_ROOT, stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const client = new Client({ name: 'ccflow-test', version: '0.0.0' });
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

/** `ccflow mcp --http 0` as a child process; resolves with the URL it printed. */
export async function startHttpServer(
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess; stderr(): string; stop(): Promise<void> }> {
  const child = spawn(CCFLOW_MCP.command, [...CCFLOW_MCP.args, '--http', '0'], {
    env,
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString('utf8');
      const m = /serving MCP at (http:\/\/\S+\/mcp)/.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`ccflow mcp --http exited with ${code}: ${err}`)));
  });
  return {
    url,
    child,
    stderr: () => err + (out ? `\n(stdout: ${out})` : ''),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The official SDK client on a Streamable HTTP endpoint. */
export async function connectHttp(url: string): Promise<McpSession> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'ccflow-test', version: '0.0.0' });
  await client.connect(transport);
  return {
    client,
    stderr: () => '',
    async close() {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/** The text of a tool result. */
export function resultText(r: unknown): string {
  const content = (r as CallToolResult).content;
  return content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

/** A tool's JSON answer; fails with the tool's error text when it answered with an error. */
export function resultJson<T = Record<string, unknown>>(r: unknown): T {
  if ((r as CallToolResult).isError) throw new Error(`tool error: ${resultText(r)}`);
  return JSON.parse(resultText(r)) as T;
}

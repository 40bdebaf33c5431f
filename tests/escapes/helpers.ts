/**
 * Helpers for the escape suite: scripted agents that try to get out of their sandbox with
 * plain Bash, and ways to see what they saw (the tool results the CLI sent back to the model).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { WorkflowFailedError } from '@temporalio/client';

import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { TaskResult, TaskSpecInput } from '../../src/schemas/task-spec.js';
import { firstUserText } from '../../src/testing/model/index.js';
import type { Harness } from '../helpers/harness.js';

export const submit = (summary: string) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary } }] });
export const bash = (command: string) => ({ toolUse: [{ name: 'Bash', input: { command, timeout: 120_000 } }] });

/** A conversation: run each command with Bash (one turn each), then submit, then end. */
export function attempt(tag: string, commands: string[], extra: Array<Record<string, unknown>> = []): Record<string, unknown> {
  return {
    name: tag,
    match: `\\[${tag}\\]`,
    steps: [...commands.map(bash), submit(`tried ${tag}`), { text: 'Done.' }, ...extra],
  };
}

/**
 * Everything the agent saw of its tools in conversation `tag`: the text of every tool_result
 * the CLI sent back to the model. This is the attacker's view.
 */
export function seenBy(h: Harness, tag: string): string {
  const out: string[] = [];
  for (const r of h.model.requests) {
    if (r.side || !firstUserText(r.body).includes(`[${tag}]`)) continue;
    const messages = (r.body as { messages?: Array<{ role: string; content: unknown }> }).messages ?? [];
    for (const m of messages) {
      if (m.role !== 'user' || !Array.isArray(m.content)) continue;
      for (const block of m.content as Array<Record<string, unknown>>) {
        if (block['type'] !== 'tool_result') continue;
        const c = block['content'];
        if (typeof c === 'string') out.push(c);
        else if (Array.isArray(c))
          for (const inner of c as Array<Record<string, unknown>>) if (typeof inner['text'] === 'string') out.push(inner['text']);
      }
    }
  }
  // Each request repeats the conversation so far: keep each output once.
  return [...new Set(out)].join('\n');
}

const quick = { heartbeatSeconds: 5 };

/** Runs a task to its end on the harness's queue. */
export async function runTask(h: Harness, id: string, spec: TaskSpecInput): Promise<TaskResult> {
  const handle = await h.client.workflow.start('agentTask', {
    taskQueue: h.taskQueue,
    workflowId: id,
    args: [{ timeouts: quick, ...spec }],
  });
  return (await handle.result()) as TaskResult;
}

/** Runs a task that must fail; its failure type and the messages down its cause chain. */
export async function failingTask(h: Harness, id: string, spec: TaskSpecInput): Promise<{ type: string | undefined; message: string }> {
  try {
    await runTask(h, id, spec);
  } catch (err) {
    let e: unknown = err;
    const messages: string[] = [];
    for (let i = 0; i < 5 && e !== undefined; i++) {
      messages.push(String((e as Error).message ?? ''));
      e = (e as { cause?: unknown }).cause;
    }
    return { type: failureTypeOf(err), message: messages.join(' | ') };
  }
  throw new Error(`task ${id} was expected to fail`);
}

/** The failure type of a workflow that failed (`WorkflowFailedError → ActivityFailure → ApplicationFailure`). */
export function failureTypeOf(err: unknown): string | undefined {
  let e: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  for (let i = 0; i < 5 && e !== undefined; i++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** An HTTP server on the host (standing in for a metrics port, or any service), on every address. */
export async function hostService(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('host service: you should not see this'));
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A node one-liner (run by the sandbox's node) that tries TCP connections and prints one `host:port → outcome` line each. */
export function tcpProbe(targets: Array<[string, number]>): string {
  const js = `
const net = require('net');
const targets = ${JSON.stringify(targets)};
(async () => {
  for (const [host, port] of targets) {
    const outcome = await new Promise((resolve) => {
      const s = net.connect({ host, port, timeout: 3000 });
      s.once('connect', () => { s.destroy(); resolve('CONNECTED'); });
      s.once('timeout', () => { s.destroy(); resolve('timeout'); });
      s.once('error', (e) => resolve(e.code));
    });
    console.log(host + ':' + port + ' -> ' + outcome);
  }
})();`;
  return `/opt/ccflow/bin/node -e ${shellQuote(js)}`;
}

/** A node one-liner that asks the egress proxy (HTTPS_PROXY) for CONNECT tunnels; prints `authority -> status`. */
export function connectProbe(authorities: string[]): string {
  const js = `
const http = require('http');
const u = new URL(process.env.HTTPS_PROXY || 'http://127.0.0.1:1');
(async () => {
  for (const a of ${JSON.stringify(authorities)}) {
    const outcome = await new Promise((resolve) => {
      const r = http.request({ host: u.hostname, port: u.port, method: 'CONNECT', path: a });
      r.on('connect', (res, sock) => { sock.destroy(); resolve(res.statusCode); });
      r.on('error', (e) => resolve(e.code));
      r.end();
    });
    console.log(a + ' -> ' + outcome);
  }
})();`;
  return `/opt/ccflow/bin/node -e ${shellQuote(js)}`;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

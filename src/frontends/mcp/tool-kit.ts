import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { toolErrorText } from './errors.js';

/** What the SDK hands a tool besides its arguments: the request's signal, its _meta, notifications. */
export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A tool's answer: JSON, pretty-printed, which models read as well as programs do. */
export function jsonResult(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] };
}

export function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Claude Code (2.1.x) defers MCP tools behind its tool search unless the server entry says
 * `"alwaysLoad": true`; this marks each tool so, so the one-line `claude mcp add` setup offers
 * them to the model directly. An explicit `"alwaysLoad": false` in the entry still wins.
 */
const ALWAYS_LOAD = { 'anthropic/alwaysLoad': true };

export interface ToolDef<S extends z.ZodObject> {
  name: string;
  description: string;
  input: S;
  annotations: ToolAnnotations;
  run: (args: z.output<S>, extra: ToolExtra) => Promise<unknown>;
}

/**
 * Registers a tool whose failures are tool errors the calling model reads (never a crash, never
 * a protocol error): whatever `run` throws becomes `isError: true` with a hint on what to do.
 * Arguments that do not fit `input` are refused by the SDK the same way, naming the field.
 */
export function addTool<S extends z.ZodObject>(server: McpServer, def: ToolDef<S>): void {
  // Registered through the plain object type: the SDK's callback type does not resolve for a
  // generic schema. The SDK has validated the arguments against `def.input` already; parsing
  // them again here types them (and applies the defaults) without a cast.
  const input: z.ZodObject = def.input;
  const config = { description: def.description, inputSchema: input, annotations: def.annotations, _meta: ALWAYS_LOAD };
  server.registerTool(def.name, config, async (args, extra) => {
    try {
      return jsonResult(await def.run(def.input.parse(args), extra));
    } catch (err) {
      return errorResult(toolErrorText(def.name, err));
    }
  });
}

/**
 * MCP progress notifications for one tool call. They only go out when the caller asked for
 * them (a `progressToken` in the request's _meta); Claude Code does, and each one resets its
 * idle timeout for the call, so a long wait must send one at least every half minute.
 */
export class ProgressReporter {
  readonly #extra: ToolExtra;
  readonly #token: string | number | undefined;
  readonly #startedAt = Date.now();
  #last = 0;

  constructor(extra: ToolExtra) {
    this.#extra = extra;
    this.#token = extra._meta?.progressToken;
  }

  /** Sends `message`; `progress` is the seconds waited so far (strictly increasing), of `totalSeconds`. */
  async report(message: string, totalSeconds?: number): Promise<void> {
    if (this.#token === undefined) return;
    // The protocol wants progress to increase with every notification.
    const progress = Math.max((Date.now() - this.#startedAt) / 1000, this.#last + 0.001);
    this.#last = progress;
    await this.#extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: this.#token, progress, ...(totalSeconds !== undefined ? { total: totalSeconds } : {}), message },
      })
      // The caller may be gone (cancelled, disconnected): that ends nothing here.
      .catch(() => undefined);
  }
}

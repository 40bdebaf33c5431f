import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ListResourcesResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { renderTranscriptFiles } from '../../client/index.js';
import { toolErrorText } from './errors.js';
import type { ClientGateway } from './gateway.js';
import { lookAt } from './look.js';
import { progressLine } from './views.js';

/**
 * Resources: `ccflow://tasks/{id}` (the task's state, as get_task answers) and
 * `ccflow://tasks/{id}/transcript` (what the agent said and did, readable). The SDK matches a
 * template variable up to the next `/`, so the two templates never shadow each other.
 */

export const TASK_URI = 'ccflow://tasks/{id}';
export const TRANSCRIPT_URI = 'ccflow://tasks/{id}/transcript';

/** The workflow id in a matched URI (percent-decoded: ids may hold any character). */
function idOf(variables: Record<string, string | string[]>): string {
  const raw = variables['id'];
  const id = Array.isArray(raw) ? raw.join('/') : (raw ?? '');
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

/** A resource read that fails is a protocol error; its message is the same advice a tool gives. */
class ResourceError extends Error {
  override readonly name = 'ResourceError';
}

async function readOrExplain<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new ResourceError(toolErrorText(`reading ${what}`, err));
  }
}

export function registerResources(server: McpServer, gateway: ClientGateway): void {
  const list = async (): Promise<ListResourcesResult> => {
    // Listing is a convenience: with Temporal down there is simply nothing to list.
    const tasks = await gateway
      .client()
      .then((c) => c.list({ limit: 20 }))
      .catch(() => []);
    return {
      resources: tasks.map((t) => ({
        uri: `ccflow://tasks/${encodeURIComponent(t.workflowId)}`,
        name: t.workflowId,
        description: `${t.type} · ${t.status}`,
        mimeType: 'application/json',
      })),
    };
  };

  server.registerResource(
    'task-transcript',
    new ResourceTemplate(TRANSCRIPT_URI, { list: undefined }),
    {
      title: 'Task transcript',
      description: "What a task's agent said and did, turn by turn (tool outputs shortened), read from the saved transcripts.",
      mimeType: 'text/plain',
    },
    async (uri, variables): Promise<ReadResourceResult> => {
      const id = idOf(variables);
      const text = await readOrExplain(uri.href, async () => {
        const client = await gateway.client();
        const transcript = await client.transcript(id);
        if (transcript.files.length > 0) return renderTranscriptFiles(transcript.files);
        const now = await client.status(id);
        return (
          `No transcript of ${id} is saved in ${transcript.dir} yet. Transcripts are saved after each turn of a task kept open, ` +
          `and when its sandbox is torn down; they are read from the artifact store on this machine (CCFLOW_ARTIFACT_DIR).\n` +
          `Now: ${progressLine(now)}${now.type === 'progress' && now.text ? `\nThe agent's latest text: ${now.text}` : ''}\n`
        );
      });
      return { contents: [{ uri: uri.href, mimeType: 'text/plain', text }] };
    },
  );

  server.registerResource(
    'task',
    new ResourceTemplate(TASK_URI, { list }),
    { title: 'Task', description: "A task's or pipeline's state, as get_task answers it.", mimeType: 'application/json' },
    async (uri, variables): Promise<ReadResourceResult> => {
      const id = idOf(variables);
      const view = await readOrExplain(uri.href, async () => {
        const client = await gateway.client();
        return lookAt(client, await client.status(id));
      });
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(view, null, 2) }] };
    },
  );
}

import path from 'node:path';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { InvalidInputError, readPipelineFile } from '../../client/index.js';
import { ToolError, noWorkerText } from './errors.js';
import type { ClientGateway } from './gateway.js';
import { addTool } from './tool-kit.js';
import { isRecord } from './views.js';

/** run_pipeline: start a pipeline of agent steps from a spec or a spec file, return its id. */

const RunPipelineInput = z.strictObject({
  spec: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      'The pipeline: { name?, inputs?, defaults?, onFailure?: "stop"|"continue", steps: [{ name, prompt, dependsOn?, session?: "continue:<step>", workspace?: "from:<step>", when?, resultSchema?, ... }] }. ' +
        'Prompts may use {{inputs.<name>}} and {{steps.<step>.result.<field>}}.',
    ),
  file: z
    .string()
    .optional()
    .describe('A pipeline spec file (YAML or JSON) on the machine running this server, relative to its working directory.'),
  inputs: z.record(z.string(), z.unknown()).optional().describe("Values for the pipeline's {{inputs.<name>}}, over the spec's own."),
  workflowId: z.string().optional().describe('A workflow id of your choosing (default: pipeline-<uuid>).'),
});

async function specOf(args: z.output<typeof RunPipelineInput>): Promise<Record<string, unknown>> {
  if ((args.spec === undefined) === (args.file === undefined)) {
    throw new InvalidInputError('invalid pipeline: give either spec or file');
  }
  const spec: unknown = args.spec ?? (await readPipelineFile(path.resolve(args.file ?? '')));
  if (!isRecord(spec)) throw new InvalidInputError('invalid pipeline: it must be an object');
  if (args.inputs === undefined) return spec;
  const own = spec['inputs'];
  return { ...spec, inputs: { ...(isRecord(own) ? own : {}), ...args.inputs } };
}

export function registerPipelineTools(server: McpServer, gateway: ClientGateway): void {
  addTool(server, {
    name: 'run_pipeline',
    description:
      "Start a pipeline of agent steps, each a background task: steps run in dependency order, independent ones in parallel; a step can continue an earlier step's session or start from a copy of its files. " +
      'Give spec (the pipeline as an object) or file (a YAML or JSON spec on this machine), and inputs to fill its {{inputs.<name>}}. ' +
      'Returns the workflowId at once; follow it with wait_task (each step and its result appear under steps) or get_task.',
    input: RunPipelineInput,
    annotations: { title: 'Run a pipeline', readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: async (args) => {
      const spec = await specOf(args);
      const client = await gateway.client();
      if ((await client.workers()).length === 0) throw new ToolError(`${noWorkerText(gateway.where)}. Nothing was started.`);
      const handle = await client.startPipeline(spec, args.workflowId !== undefined ? { workflowId: args.workflowId } : {});
      return {
        workflowId: handle.workflowId,
        state: 'running',
        next: `Started. Call wait_task with workflowId "${handle.workflowId}" to wait for it, or get_task to see its steps.`,
      };
    },
  });
}

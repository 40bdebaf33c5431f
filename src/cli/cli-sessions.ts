/**
 * `ccflow followup`, `ccflow close` and `ccflow pipeline run`: the CLI side of follow-ups and
 * pipelines (loaded by cli.ts on demand).
 */
import { parseArgs } from 'node:util';
import { CcflowClient, describeFailure } from '../client/client.js';
import { UsageError, formatResult, readJsonFile } from './cli.js';
import { FollowUpError, closeTask, sendFollowUp } from '../client/follow-up.js';
import {
  PipelineSpecError,
  followPipeline,
  formatPipelineResult,
  formatStepChange,
  loadPipelineFile,
  startPipeline,
} from '../client/pipeline.js';

export async function followupCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      schema: { type: 'string' },
      id: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [workflowId, ...words] = positionals;
  const prompt = words.join(' ').trim();
  if (!workflowId || !prompt)
    throw new UsageError('usage: ccflow followup <workflowId> "prompt" [--schema <file.json>] [--id <newWorkflowId>] [--json]');
  const resultSchema = values.schema ? await readJsonFile(values.schema, '--schema') : undefined;

  const client = await CcflowClient.connect();
  try {
    const outcome = await sendFollowUp(
      client.temporal,
      workflowId,
      { prompt, ...(resultSchema ? { resultSchema } : {}) },
      {
        taskQueue: client.taskQueue,
        newWorkflowId: values.id,
        onStart: (w) => {
          if (w.kind === 'continued')
            process.stderr.write(`${workflowId} is closed; continuing its session in a new task: ${w.workflowId}\n`);
        },
      },
    );
    if (values.json) {
      process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    } else if (outcome.kind === 'update') {
      const r = outcome.result;
      process.stdout.write(
        [
          `follow-up ${r.turn - 1} of ${r.workflowId} (turn ${r.turn}${r.restored ? ', session restored into a new sandbox' : ''}):`,
          JSON.stringify(r.result, null, 2),
          `this turn: ${r.numTurns} turns · $${r.costUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s` +
            ` · task so far: ${r.totalNumTurns} turns · $${r.totalCostUsd.toFixed(4)}`,
        ].join('\n') + '\n',
      );
    } else {
      process.stdout.write(`${formatResult(outcome.result)}\ncontinued from ${outcome.continuedFrom}\n`);
      if (outcome.keepAliveSeconds > 0) {
        process.stderr.write(
          `${outcome.workflowId} stays open for ${outcome.keepAliveSeconds} s: ccflow followup ${outcome.workflowId} "..."\n`,
        );
      }
    }
    return 0;
  } catch (err) {
    if (err instanceof FollowUpError) throw new UsageError(err.message);
    process.stderr.write(`follow-up to ${workflowId} failed: ${describeFailure(err)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

export async function closeCommand(args: string[]): Promise<number> {
  const [workflowId] = args;
  if (!workflowId) throw new UsageError('usage: ccflow close <workflowId>');
  const client = await CcflowClient.connect();
  try {
    await closeTask(client.temporal, workflowId);
    process.stderr.write(`asked ${workflowId} to close\n`);
    return 0;
  } finally {
    await client.close();
  }
}

export async function pipelineCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'run') throw new UsageError('usage: ccflow pipeline run <file.yaml|file.json> [--id <workflowId>] [--no-wait] [--json]');
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      id: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [file] = positionals;
  if (!file) throw new UsageError('usage: ccflow pipeline run <file.yaml|file.json> [--id <workflowId>] [--no-wait] [--json]');
  let spec: unknown;
  try {
    spec = await loadPipelineFile(file);
  } catch (err) {
    if (err instanceof PipelineSpecError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const client = await CcflowClient.connect();
  try {
    const handle = await startPipeline(client.temporal, spec, { workflowId: values.id, taskQueue: client.taskQueue });
    process.stderr.write(`started pipeline ${handle.workflowId}\n`);
    if (values['no-wait']) {
      process.stdout.write(`${handle.workflowId}\n`);
      return 0;
    }
    try {
      const result = await followPipeline(handle, (step) => process.stderr.write(`${formatStepChange(step)}\n`));
      process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatPipelineResult(result)}\n`);
      return result.ok ? 0 : 1;
    } catch (err) {
      process.stderr.write(`pipeline ${handle.workflowId} failed: ${describeFailure(err)}\n`);
      return 1;
    }
  } finally {
    await client.close();
  }
}

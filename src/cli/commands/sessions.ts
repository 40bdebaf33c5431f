/** `ccflow followup`, `ccflow close` and `ccflow pipeline run`: follow-ups and pipelines. */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { CcflowClient, FollowUpError, describeFailure } from '../../client/index.js';
import { checkPipelineSpec } from '../../schemas/pipeline-spec.js';
import { EXIT, UsageError } from '../errors.js';
import { readSchemaFile } from '../input.js';
import { defaultIo, formatChanges, formatResult, type Io } from '../output.js';
import { formatPipelineResult, formatStepChange } from '../views/pipeline-view.js';

export async function followupCommand(
  workflowId: string,
  words: string[],
  o: { schema?: string; id?: string; json?: boolean },
  io: Io = defaultIo,
): Promise<number> {
  const prompt = words.join(' ').trim();
  if (!prompt) throw new UsageError('ccflow followup needs a prompt: ccflow followup <workflowId> "prompt"');
  const resultSchema = o.schema ? await readSchemaFile(o.schema) : undefined;
  const client = await CcflowClient.connect();
  try {
    const outcome = await client.followUp(
      workflowId,
      { prompt, ...(resultSchema ? { resultSchema } : {}) },
      {
        ...(o.id ? { newWorkflowId: o.id } : {}),
        onStart: (w) => {
          if (w.kind === 'continued') io.stderr.write(`${workflowId} is closed; continuing its session in a new task: ${w.workflowId}\n`);
        },
      },
    );
    if (o.json) {
      io.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    } else if (outcome.kind === 'update') {
      const r = outcome.result;
      io.stdout.write(
        [
          `follow-up ${r.turn - 1} of ${r.workflowId} (turn ${r.turn}${r.restored ? ', session restored into a new sandbox' : ''}):`,
          JSON.stringify(r.result, null, 2),
          `this turn: ${r.numTurns} turns · $${r.costUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s` +
            ` · task so far: ${r.totalNumTurns} turns · $${r.totalCostUsd.toFixed(4)}`,
          ...formatChanges(r.workflowId, r.changes, r.push, r.turn),
        ].join('\n') + '\n',
      );
    } else {
      io.stdout.write(`${formatResult(outcome.result)}\ncontinued from ${outcome.continuedFrom}\n`);
      if (outcome.keepAliveSeconds > 0) {
        io.stderr.write(
          `${outcome.workflowId} stays open for ${outcome.keepAliveSeconds} s: ccflow followup ${outcome.workflowId} "..."\n`,
        );
      }
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof FollowUpError) throw new UsageError(err.message);
    io.stderr.write(`follow-up to ${workflowId} failed: ${describeFailure(err)}\n`);
    return EXIT.failed;
  } finally {
    await client.disconnect();
  }
}

export async function closeCommand(workflowId: string, io: Io = defaultIo): Promise<number> {
  const client = await CcflowClient.connect();
  try {
    await client.close(workflowId);
    io.stderr.write(`asked ${workflowId} to close\n`);
    return EXIT.ok;
  } finally {
    await client.disconnect();
  }
}

/** Reads a pipeline spec from a YAML or JSON file (YAML is a superset of JSON) and checks it completely. */
export async function loadPipelineFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let spec: unknown;
  try {
    spec = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const check = checkPipelineSpec(spec);
  // Every problem on one line each, so all of them can be fixed in one go.
  if (!check.ok) throw new UsageError(`invalid pipeline ${file}: ${check.errors.join('; ')}`);
  return spec;
}

export async function pipelineRunCommand(
  file: string,
  o: { id?: string; wait: boolean; json?: boolean },
  io: Io = defaultIo,
): Promise<number> {
  const spec = await loadPipelineFile(file);
  const client = await CcflowClient.connect();
  try {
    const handle = await client.startPipeline(spec, { workflowId: o.id });
    io.stderr.write(`started pipeline ${handle.workflowId}\n`);
    if (!o.wait) {
      io.stdout.write(`${handle.workflowId}\n`);
      return EXIT.ok;
    }
    try {
      const { followPipeline } = await import('../../client/pipeline.js');
      const result = await followPipeline(handle, (step) => io.stderr.write(`${formatStepChange(step)}\n`));
      io.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatPipelineResult(result)}\n`);
      return result.ok ? EXIT.ok : EXIT.failed;
    } catch (err) {
      io.stderr.write(`pipeline ${handle.workflowId} failed: ${describeFailure(err)}\n`);
      return EXIT.failed;
    }
  } finally {
    await client.disconnect();
  }
}

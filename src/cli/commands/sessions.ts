/** `ccflow followup`, `ccflow close` and `ccflow pipeline run`: follow-ups and pipelines. */
import { CcflowClient, FollowUpError, describeFailure, readPipelineFile } from '../../client/index.js';
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

export async function pipelineRunCommand(
  file: string,
  o: { id?: string; wait: boolean; json?: boolean },
  io: Io = defaultIo,
): Promise<number> {
  const spec = await readPipelineFile(file);
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

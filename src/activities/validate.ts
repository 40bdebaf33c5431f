import { describeZodError } from '../schemas/describe-error.js';
import { checkPipelineSpec, type PipelinePlan } from '../schemas/pipeline-spec.js';
import { compileResultSchema } from '../schemas/result-schema.js';
import { TaskSpec } from '../schemas/task-spec.js';
import { applicationFailure } from './failures.js';

/**
 * Input checks the workflows run as local activities, so workflow code stays zod-free. The one
 * place that may say "bad input": every message names the field (and, in a pipeline, the step).
 */
export const createValidationActivities = () => ({
  /** Validates raw workflow input against TaskSpec, the result schema included. */
  async validateTaskSpec(input: unknown): Promise<TaskSpec> {
    const parsed = TaskSpec.safeParse(input);
    if (!parsed.success) throw applicationFailure('InvalidTaskSpec', describeZodError(parsed.error));
    try {
      compileResultSchema(parsed.data.resultSchema);
    } catch (err) {
      throw applicationFailure('InvalidTaskSpec', (err as Error).message);
    }
    return parsed.data;
  },

  /**
   * Validates raw pipeline input completely before anything runs: shape, each step's task
   * fields, the graph and every template and condition.
   */
  async validatePipelineSpec(input: unknown): Promise<PipelinePlan> {
    const check = checkPipelineSpec(input);
    if (!check.ok) throw applicationFailure('InvalidPipelineSpec', check.errors.join('; '), { details: { errors: check.errors } });
    return check.plan;
  },
});

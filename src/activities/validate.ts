import { describeZodError } from '../schemas/describe-error.js';
import { checkPipelineSpec, type PipelinePlan } from '../schemas/pipeline-spec.js';
import { compileResultSchema } from '../schemas/result-schema.js';
import { TaskSpec } from '../schemas/task-spec.js';
import type { SandboxPolicy } from './deps.js';
import { applicationFailure } from './failures.js';
import { DEFAULT_SANDBOX_POLICY, sandboxRequestProblems } from './policy.js';

/**
 * Input checks the workflows run as local activities, so workflow code stays zod-free. The one
 * place that may say "bad input": every message names the field (and, in a pipeline, the step).
 */
export const createValidationActivities = (policy: SandboxPolicy = DEFAULT_SANDBOX_POLICY) => ({
  /** Validates raw workflow input against TaskSpec, the result schema included. */
  async validateTaskSpec(input: unknown): Promise<TaskSpec> {
    const parsed = TaskSpec.safeParse(input);
    if (!parsed.success) throw applicationFailure('InvalidTaskSpec', describeZodError(parsed.error));
    try {
      compileResultSchema(parsed.data.resultSchema);
    } catch (err) {
      throw applicationFailure('InvalidTaskSpec', (err as Error).message);
    }
    // Up front, before any sandbox: what this worker will not give the task.
    const problems = sandboxRequestProblems(parsed.data, policy);
    if (problems.length > 0) throw applicationFailure('InvalidTaskSpec', problems.join('; '));
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

import { ApplicationFailure } from '@temporalio/activity';
import type { FailureType } from '../domain/failures.js';
import { checkPipelineSpec, type PipelinePlan } from '../schemas/pipeline-spec.js';

/** Activities of the pipeline workflow (its steps are agentTask child workflows). */
export const createPipelineActivities = () => ({
  /**
   * Validates raw pipeline input completely before anything runs: shape, each step's task
   * fields, the graph and every template and condition. One message per problem, each naming
   * its step.
   */
  async validatePipelineSpec(input: unknown): Promise<PipelinePlan> {
    const check = checkPipelineSpec(input);
    if (!check.ok) {
      throw ApplicationFailure.create({
        type: 'InvalidPipelineSpec' satisfies FailureType,
        message: check.errors.join('; '),
        nonRetryable: true,
        details: [{ errors: check.errors }],
      });
    }
    return check.plan;
  },
});

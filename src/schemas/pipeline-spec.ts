import { z } from 'zod';
import { checkPipelineGraph, sessionSource, workspaceSource } from '../domain/pipeline-graph.js';
import { compileResultSchema } from './result-schema.js';
import { TaskSpec } from './task-spec.js';
import { describeZodError } from './describe-error.js';

/**
 * The wire shape of a pipeline: named steps, each an agentTask. Validated once, before anything
 * runs (by the CLI, and by the pipeline workflow through a local activity), into a
 * {@link PipelinePlan} whose steps carry their finished TaskSpec fields, so workflow code only
 * renders prompts and evaluates conditions.
 *
 * Example (YAML):
 * ```yaml
 * steps:
 *   - name: plan
 *     prompt: Plan the change.
 *     resultSchema: { type: object, properties: { files: { type: array, items: { type: string } } }, required: [files] }
 *   - name: implement
 *     dependsOn: [plan]
 *     session: continue:plan
 *     prompt: "Implement it, touching {{steps.plan.result.files}}."
 * ```
 */

export const FAILURE_POLICIES = ['stop', 'continue'] as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];

/** Task fields a pipeline decides itself, so neither `defaults` nor a step may set them. */
const MANAGED_TASK_FIELDS = ['prompt', 'continueFrom', 'keepAliveSeconds'] as const;

/** Keys of a step that belong to the pipeline; every other key is a TaskSpec field. */
const STEP_KEYS = ['name', 'prompt', 'dependsOn', 'session', 'workspace', 'when', 'onFailure'] as const;

const StepName = z.string().regex(/^[A-Za-z_][\w-]*$/, 'must start with a letter or "_" and hold only letters, digits, "_" and "-"');

const DependsOn = z
  .union([StepName, z.array(StepName)])
  .default([])
  .transform((d) => (typeof d === 'string' ? [d] : d));

export const PipelineStep = z.looseObject({
  name: StepName.describe('Unique within the pipeline; templates read this step as steps.<name>.'),
  prompt: z.string().trim().min(1, 'must not be empty').describe('A template: {{steps.<name>.result.<field>}}, {{inputs.<name>}}.'),
  dependsOn: DependsOn.describe('Steps that must finish first; steps without a path between them run in parallel.'),
  session: z.string().default('new').describe('"new", or "continue:<step>" to resume that step\'s session and workspace.'),
  workspace: z.string().default('new').describe('"new", or "from:<step>" to start with a copy of that step\'s files.'),
  when: z.string().optional().describe('A condition on earlier results; the step is skipped when it is false.'),
  onFailure: z.enum(FAILURE_POLICIES).optional().describe("Overrides the pipeline's onFailure for this step."),
});
export type PipelineStepInput = z.input<typeof PipelineStep>;

export const PipelineSpec = z.strictObject({
  name: z.string().min(1).optional(),
  inputs: z.record(z.string(), z.unknown()).default({}).describe('Values steps read as {{inputs.<name>}}.'),
  defaults: z.record(z.string(), z.unknown()).default({}).describe('TaskSpec fields every step starts from.'),
  onFailure: z
    .enum(FAILURE_POLICIES)
    .default('stop')
    .describe(
      '"stop": a failed step fails the pipeline (running steps are cancelled); "continue": mark it failed, skip its dependents, go on.',
    ),
  steps: z.array(PipelineStep).min(1, 'a pipeline needs at least one step'),
});
/** What a user writes (JSON, or YAML through the CLI). */
export type PipelineSpecInput = z.input<typeof PipelineSpec>;

/** One validated step: pipeline fields plus the TaskSpec input its agentTask gets (minus prompt). */
export interface PlannedStep {
  name: string;
  /** The prompt template. */
  prompt: string;
  dependsOn: string[];
  session: string;
  workspace: string;
  when?: string;
  onFailure: FailurePolicy;
  /** TaskSpec fields (defaults merged with the step's own), checked against TaskSpec. */
  task: Record<string, unknown>;
  resultSchema?: Record<string, unknown>;
}

/** A validated pipeline, ready for the workflow. */
export interface PipelinePlan {
  name?: string;
  inputs: Record<string, unknown>;
  onFailure: FailurePolicy;
  steps: PlannedStep[];
}

export type PipelineCheck = { ok: true; plan: PipelinePlan } | { ok: false; errors: string[] };

/**
 * Validates a pipeline spec completely: its shape, every step's TaskSpec fields and result
 * schema, and the graph (unknown steps, cycles, references). Every message names its step.
 */
export function checkPipelineSpec(input: unknown): PipelineCheck {
  const parsed = PipelineSpec.safeParse(input);
  if (!parsed.success) return { ok: false, errors: describePipelineIssues(parsed.error, input) };
  const spec = parsed.data;
  const errors: string[] = [];

  for (const key of MANAGED_TASK_FIELDS) {
    if (key in spec.defaults) errors.push(`defaults.${key}: not allowed here (the pipeline sets it for each step)`);
  }
  const defaultsCheck = TaskSpec.safeParse({ ...spec.defaults, prompt: 'x' });
  if (!defaultsCheck.success)
    errors.push(
      ...describeZodError(defaultsCheck.error)
        .split('; ')
        .map((e) => `defaults.${e}`),
    );

  const steps: PlannedStep[] = spec.steps.map((step) => {
    const own: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(step)) if (!(STEP_KEYS as readonly string[]).includes(k)) own[k] = v;
    const where = `step "${step.name}"`;
    for (const key of MANAGED_TASK_FIELDS) {
      if (key in own) errors.push(`${where}: ${key}: not allowed in a step (use session: continue:<step> to resume)`);
    }
    const task: Record<string, unknown> = { ...spec.defaults, ...own };
    // A step that continues another, or copies its workspace, works on that step's repository
    // (its history comes along): `repo` from the defaults does not apply to it.
    const carried = sessionSource(step) ?? workspaceSource(step);
    if (carried !== undefined) {
      if ('repo' in own)
        errors.push(`${where}: repo: not allowed with session/workspace from step "${carried}": its repository carries over`);
      delete task.repo;
    }
    const checked = TaskSpec.safeParse({
      ...task,
      prompt: 'x',
      ...(carried !== undefined ? { continueFrom: { workflowId: carried } } : {}),
    });
    if (!checked.success) {
      errors.push(
        ...describeZodError(checked.error)
          .split('; ')
          .map((e) => `${where}: ${e}`),
      );
    } else {
      try {
        compileResultSchema(checked.data.resultSchema);
      } catch (err) {
        errors.push(`${where}: ${(err as Error).message}`);
      }
    }
    const resultSchema = task.resultSchema;
    return {
      name: step.name,
      prompt: step.prompt,
      dependsOn: step.dependsOn,
      session: step.session,
      workspace: step.workspace,
      ...(step.when !== undefined ? { when: step.when } : {}),
      onFailure: step.onFailure ?? spec.onFailure,
      task,
      ...(isRecord(resultSchema) ? { resultSchema } : {}),
    };
  });

  errors.push(...checkPipelineGraph(steps, spec.inputs));
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    plan: { ...(spec.name !== undefined ? { name: spec.name } : {}), inputs: spec.inputs, onFailure: spec.onFailure, steps },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** zod issues as messages that name the step (`step "plan": prompt: must not be empty`). */
function describePipelineIssues(error: z.ZodError, input: unknown): string[] {
  const rawSteps = isRecord(input) && Array.isArray(input.steps) ? input.steps : [];
  return error.issues.map((issue) => {
    const [first, index, ...rest] = issue.path;
    if (first === 'steps' && typeof index === 'number') {
      const raw: unknown = rawSteps[index];
      const name = isRecord(raw) && typeof raw.name === 'string' ? `step "${raw.name}"` : `steps[${index}]`;
      const single = new z.ZodError([{ ...issue, path: rest }]);
      return `${name}: ${describeZodError(single)}`;
    }
    return describeZodError(new z.ZodError([issue]));
  });
}

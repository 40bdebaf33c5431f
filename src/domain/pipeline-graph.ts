/**
 * The step graph of a pipeline: dependency checks, cycle detection, ancestry, and the checks
 * of every template, condition and session reference against it. Pure and zod-free, so the
 * pipeline workflow can use the same helpers the spec validator uses.
 */
import {
  ExpressionError,
  conditionReferences,
  parseCondition,
  parseTemplate,
  templateReferences,
  type Reference,
} from './expressions/index.js';

/** What the graph checks need of a step. */
export interface GraphStep {
  name: string;
  prompt: string;
  dependsOn: readonly string[];
  /** `new` or `continue:<step>`. */
  session: string;
  /** `new` or `from:<step>`. */
  workspace: string;
  when?: string;
  resultSchema?: Record<string, unknown>;
}

/** Fields of `steps.<name>` a template or condition may read. */
export const STEP_FIELDS = ['result', 'status', 'sessionId', 'workflowId', 'error', 'numTurns', 'costUsd'] as const;

const SESSION_RE = /^(new|continue:(.+))$/;
const WORKSPACE_RE = /^(new|from:(.+))$/;

/** The step a `continue:<step>` session resumes, if any. */
export function sessionSource(step: Pick<GraphStep, 'session'>): string | undefined {
  return SESSION_RE.exec(step.session)?.[2];
}

/** The step a `from:<step>` workspace is copied from, if any. */
export function workspaceSource(step: Pick<GraphStep, 'workspace'>): string | undefined {
  return WORKSPACE_RE.exec(step.workspace)?.[2];
}

/**
 * Steps in an order where every step comes after its dependencies (spec order among
 * independent steps), or the steps of one cycle when there is one.
 */
export function topologicalOrder(steps: readonly Pick<GraphStep, 'name' | 'dependsOn'>[]): { order: string[] } | { cycle: string[] } {
  const names = new Set(steps.map((s) => s.name));
  const remaining = new Map(steps.map((s) => [s.name, new Set(s.dependsOn.filter((d) => names.has(d)))]));
  const order: string[] = [];
  for (;;) {
    const ready = steps.map((s) => s.name).filter((n) => remaining.get(n)?.size === 0);
    if (ready.length === 0) break;
    for (const n of ready) {
      order.push(n);
      remaining.delete(n);
      for (const deps of remaining.values()) deps.delete(n);
    }
  }
  if (remaining.size === 0) return { order };
  // Walk dependencies from any stuck step until a step repeats: that loop is a cycle.
  const path: string[] = [];
  let at = remaining.keys().next().value as string;
  while (!path.includes(at)) {
    path.push(at);
    at = (remaining.get(at)?.values().next().value as string | undefined) ?? at;
  }
  return { cycle: [...path.slice(path.indexOf(at)), at] };
}

/** Every step a step (transitively) depends on. Assumes an acyclic graph. */
export function ancestorsOf(steps: readonly Pick<GraphStep, 'name' | 'dependsOn'>[]): Map<string, Set<string>> {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const memo = new Map<string, Set<string>>();
  const visit = (name: string, trail: Set<string>): Set<string> => {
    const known = memo.get(name);
    if (known) return known;
    const result = new Set<string>();
    if (trail.has(name)) return result;
    trail.add(name);
    for (const dep of byName.get(name)?.dependsOn ?? []) {
      if (!byName.has(dep)) continue;
      result.add(dep);
      for (const a of visit(dep, trail)) result.add(a);
    }
    trail.delete(name);
    memo.set(name, result);
    return result;
  };
  for (const s of steps) visit(s.name, new Set());
  return memo;
}

/**
 * Everything wrong with a pipeline's graph, one message per problem, each naming its step:
 * duplicate or unknown steps, cycles, sessions and workspaces taken from steps that do not run
 * before, templates and conditions that do not parse or that read what is not there.
 */
export function checkPipelineGraph(steps: readonly GraphStep[], inputs: Record<string, unknown> = {}): string[] {
  const errors: string[] = [];
  const names = new Set<string>();
  for (const s of steps) {
    if (names.has(s.name)) errors.push(`step "${s.name}": the name is used by more than one step`);
    names.add(s.name);
  }
  for (const s of steps) {
    for (const dep of s.dependsOn) {
      if (dep === s.name) errors.push(`step "${s.name}": depends on itself`);
      else if (!names.has(dep)) errors.push(`step "${s.name}": dependsOn names unknown step "${dep}"`);
    }
  }
  // A step depending on itself is reported above; leave it out of the cycle search.
  const sorted = topologicalOrder(steps.map((s) => ({ name: s.name, dependsOn: s.dependsOn.filter((d) => d !== s.name) })));
  if ('cycle' in sorted) {
    errors.push(`steps ${sorted.cycle.map((n) => `"${n}"`).join(' → ')} form a cycle in dependsOn`);
    return errors; // ancestry is meaningless with a cycle
  }
  const ancestors = ancestorsOf(steps);
  const byName = new Map(steps.map((s) => [s.name, s]));

  for (const s of steps) {
    const where = `step "${s.name}"`;
    const before = ancestors.get(s.name) ?? new Set<string>();
    const mustRunBefore = (other: string, what: string): void => {
      if (!names.has(other)) errors.push(`${where}: ${what} names unknown step "${other}"`);
      else if (other === s.name) errors.push(`${where}: ${what} names the step itself`);
      else if (!before.has(other))
        errors.push(`${where}: ${what} names step "${other}", which is not among its dependencies (add it to dependsOn)`);
    };

    if (!SESSION_RE.test(s.session)) errors.push(`${where}: session must be "new" or "continue:<step>", not "${s.session}"`);
    const continued = sessionSource(s);
    if (continued !== undefined) mustRunBefore(continued, `session "${s.session}"`);
    if (!WORKSPACE_RE.test(s.workspace)) errors.push(`${where}: workspace must be "new" or "from:<step>", not "${s.workspace}"`);
    const copied = workspaceSource(s);
    if (copied !== undefined) {
      if (continued !== undefined) errors.push(`${where}: "session: continue:…" already brings that step's workspace; drop "workspace"`);
      else mustRunBefore(copied, `workspace "${s.workspace}"`);
    }

    const checkRef = (ref: Reference, what: string): void => {
      const [root, stepName, field, key] = ref.segments;
      if (root === 'inputs') {
        if (typeof stepName !== 'string') errors.push(`${where}: ${what} reference "${ref.text}" must name an input, e.g. inputs.goal`);
        else if (!Object.prototype.hasOwnProperty.call(inputs, stepName)) {
          const known = Object.keys(inputs);
          errors.push(`${where}: ${what} references unknown input "${stepName}" (inputs: ${known.length ? known.join(', ') : 'none'})`);
        }
        return;
      }
      if (root !== 'steps') {
        errors.push(`${where}: ${what} reference "${ref.text}" must start with "steps." or "inputs."`);
        return;
      }
      if (typeof stepName !== 'string') {
        errors.push(`${where}: ${what} reference "${ref.text}" must name a step, e.g. steps.plan.result`);
        return;
      }
      if (!names.has(stepName)) {
        errors.push(`${where}: ${what} references unknown step "${stepName}" in "${ref.text}"`);
        return;
      }
      if (!before.has(stepName)) {
        errors.push(`${where}: ${what} references step "${stepName}", which is not among its dependencies (add it to dependsOn)`);
        return;
      }
      if (typeof field !== 'string' || !(STEP_FIELDS as readonly string[]).includes(field)) {
        errors.push(
          `${where}: ${what} reference "${ref.text}" must read one of ${STEP_FIELDS.map((f) => `steps.${stepName}.${f}`).join(', ')}`,
        );
        return;
      }
      // A result field the referenced step's schema does not declare is almost surely a typo.
      const props = byName.get(stepName)?.resultSchema?.properties;
      if (field === 'result' && typeof key === 'string' && props && typeof props === 'object' && !Array.isArray(props)) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) {
          errors.push(
            `${where}: ${what} references steps.${stepName}.result.${key}, but step "${stepName}"'s resultSchema has no field "${key}" (fields: ${Object.keys(props).join(', ') || 'none'})`,
          );
        }
      }
    };

    try {
      for (const ref of templateReferences(parseTemplate(s.prompt))) checkRef(ref, 'prompt');
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      errors.push(`${where}: prompt template: ${err.message}`);
    }
    if (s.when !== undefined) {
      try {
        for (const ref of conditionReferences(parseCondition(s.when))) checkRef(ref, 'when');
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        errors.push(`${where}: when "${s.when}": ${err.message}`);
      }
    }
  }
  return errors;
}

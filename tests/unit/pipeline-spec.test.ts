import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExpressionError,
  evaluateCondition,
  parseCondition,
  parseReference,
  parseTemplate,
  render,
} from '../../src/domain/expressions/index.js';
import { ancestorsOf, checkPipelineGraph, topologicalOrder, type GraphStep } from '../../src/domain/pipeline-graph.js';
import { checkPipelineSpec } from '../../src/schemas/pipeline-spec.js';

const context = {
  inputs: { goal: 'ship it' },
  steps: {
    plan: { status: 'done', result: { files: ['a.ts', 'b.ts'], count: 2, title: 'Plan', 'odd key': 'yes' } },
    review: { status: 'done', result: { approved: false, score: 7, notes: [] } },
    skipped: { status: 'skipped' },
  },
};

describe('templates', () => {
  test('render strings as they are, other values as JSON, missing values as nothing', () => {
    assert.equal(render('Do {{inputs.goal}}.', context), 'Do ship it.');
    assert.equal(render('Files: {{steps.plan.result.files}}', context), 'Files: [\n  "a.ts",\n  "b.ts"\n]');
    assert.equal(render('{{ steps.plan.result.files[1] }} / {{steps.plan.result.count}}', context), 'b.ts / 2');
    assert.equal(render('{{steps.plan.result["odd key"]}}', context), 'yes');
    assert.equal(render('[{{steps.skipped.result.summary}}]', context), '[]');
    assert.equal(render('no placeholders', context), 'no placeholders');
  });

  test('reject what does not parse, saying where', () => {
    assert.throws(() => parseTemplate('x {{steps.plan'), /never closed/);
    assert.throws(() => parseTemplate('{{ }}'), ExpressionError);
    assert.throws(() => parseTemplate('{{steps.plan.result == 1}}'), /after the reference/);
    assert.deepEqual(parseReference('steps.plan.result.files[0]').segments, ['steps', 'plan', 'result', 'files', 0]);
  });
});

describe('conditions', () => {
  const when = (src: string) => evaluateCondition(parseCondition(src), context);

  test('compare, combine and negate', () => {
    assert.equal(when('steps.review.result.approved == false'), true);
    assert.equal(when('steps.review.result.approved == true'), false);
    assert.equal(when('steps.review.result.approved != false'), false);
    assert.equal(when('steps.review.result.score >= 7 && steps.plan.result.count < 3'), true);
    assert.equal(when('steps.review.result.score > 7 || steps.plan.status == "done"'), true);
    assert.equal(when("!(steps.plan.result.title == 'Plan')"), false);
    assert.equal(when('steps.plan.result.files == null'), false);
    assert.equal(when('steps.plan.result.files[0] == "a.ts" && steps.plan.result["odd key"] == \'yes\''), true);
  });

  test('missing values, truthiness and mixed types are false, never errors', () => {
    assert.equal(when('steps.skipped.result.approved == false'), false);
    assert.equal(when('steps.skipped.result.approved'), false);
    assert.equal(when('steps.review.result.notes'), false, 'an empty list is false');
    assert.equal(when('steps.plan.result.files'), true);
    assert.equal(when('steps.plan.result.title > 3'), false);
    assert.equal(when('steps.skipped.result == null'), false, 'missing is not null');
  });

  test('syntax errors say what is wrong', () => {
    assert.throws(() => parseCondition('steps.a.result.x = 1'), /use == to compare/);
    assert.throws(() => parseCondition('steps.a.result.x =='), /expected a value/);
    assert.throws(() => parseCondition('(steps.a.result.x'), /expected "\)"/);
    assert.throws(() => parseCondition('steps.a.result.x & 1'), /use && or \|\|/);
    assert.throws(() => parseCondition(''), /empty/);
  });
});

const step = (name: string, o: Partial<GraphStep> = {}): GraphStep => ({
  name,
  prompt: `do ${name}`,
  dependsOn: [],
  session: 'new',
  workspace: 'new',
  ...o,
});

describe('step graph', () => {
  test('orders steps after their dependencies and knows every ancestor', () => {
    const steps = [
      step('review', { dependsOn: ['a', 'b'] }),
      step('a', { dependsOn: ['plan'] }),
      step('plan'),
      step('b', { dependsOn: ['plan'] }),
    ];
    assert.deepEqual(topologicalOrder(steps), { order: ['plan', 'a', 'b', 'review'] });
    assert.deepEqual([...(ancestorsOf(steps).get('review') ?? [])].sort(), ['a', 'b', 'plan']);
  });

  test('finds a cycle and names its steps', () => {
    const steps = [step('a', { dependsOn: ['c'] }), step('b', { dependsOn: ['a'] }), step('c', { dependsOn: ['b'] }), step('d')];
    const sorted = topologicalOrder(steps);
    assert.ok('cycle' in sorted);
    assert.deepEqual(new Set(sorted.cycle), new Set(['a', 'b', 'c']));
    assert.match(checkPipelineGraph(steps).join('\n'), /steps "(a|b|c)" → "(a|b|c)" → "(a|b|c)" → "(a|b|c)" form a cycle/);
  });

  test('rejects unknown steps, references outside the dependencies and typos in result fields', () => {
    const errors = checkPipelineGraph(
      [
        step('plan', { resultSchema: { type: 'object', properties: { files: { type: 'array' } } } }),
        step('implement', { dependsOn: ['plan', 'nope'], prompt: 'Use {{steps.plan.result.filez}}' }),
        step('review', { dependsOn: ['plan'], prompt: '{{steps.implement.result.summary}} {{inputs.missing}} {{env.HOME}}' }),
        step('fix', { dependsOn: ['review'], session: 'continue:implement', when: 'steps.review.result.approved == false' }),
        step('self', { dependsOn: ['self'] }),
        step('odd', { dependsOn: ['plan'], session: 'resume', workspace: 'from:ghost', prompt: '{{steps.plan.output}}' }),
      ],
      { goal: 'x' },
    );
    const all = errors.join('\n');
    assert.match(all, /step "implement": dependsOn names unknown step "nope"/);
    assert.match(
      all,
      /step "implement": prompt references steps\.plan\.result\.filez, but step "plan"'s resultSchema has no field "filez" \(fields: files\)/,
    );
    assert.match(all, /step "review": prompt references step "implement", which is not among its dependencies/);
    assert.match(all, /step "review": prompt references unknown input "missing" \(inputs: goal\)/);
    assert.match(all, /step "review": prompt reference "env\.HOME" must start with "steps\." or "inputs\."/);
    assert.match(all, /step "fix": session "continue:implement" names step "implement", which is not among its dependencies/);
    assert.match(all, /step "self": depends on itself/);
    assert.match(all, /step "odd": session must be "new" or "continue:<step>", not "resume"/);
    assert.match(all, /step "odd": workspace "from:ghost" names unknown step "ghost"/);
    assert.match(all, /step "odd": prompt reference "steps\.plan\.output" must read one of steps\.plan\.result/);
  });

  test('accepts a valid diamond with a session chain and a condition', () => {
    assert.deepEqual(
      checkPipelineGraph([
        step('plan'),
        step('a', { dependsOn: ['plan'], session: 'continue:plan', prompt: '{{steps.plan.result.summary}}' }),
        step('b', { dependsOn: ['plan'], workspace: 'from:plan' }),
        step('join', { dependsOn: ['a', 'b'], when: 'steps.a.status == "done" && steps.plan.result.summary != ""' }),
      ]),
      [],
    );
  });
});

describe('PipelineSpec', () => {
  test('merges defaults into each step and applies the failure policy', () => {
    const check = checkPipelineSpec({
      defaults: { maxTurns: 5, model: 'm1' },
      onFailure: 'continue',
      steps: [
        { name: 'plan', prompt: 'plan it', model: 'm2' },
        { name: 'do', prompt: 'do {{steps.plan.result.summary}}', dependsOn: 'plan', onFailure: 'stop' },
      ],
    });
    assert.ok(check.ok, check.ok ? '' : check.errors.join('\n'));
    const [plan, doIt] = check.plan.steps;
    assert.deepEqual(plan?.task, { maxTurns: 5, model: 'm2' });
    assert.equal(plan?.onFailure, 'continue');
    assert.deepEqual(doIt?.dependsOn, ['plan']);
    assert.equal(doIt?.onFailure, 'stop');
    assert.equal(doIt?.session, 'new');
  });

  test('names the step in every error, task fields included', () => {
    const check = checkPipelineSpec({
      defaults: { maxTurn: 3 },
      steps: [
        { name: 'plan', prompt: 'x', permissionMode: 'yolo' },
        { name: 'review', prompt: '', dependsOn: ['plan'] },
        { name: 'bad name!', prompt: 'x' },
        { name: 'fix', prompt: 'x', keepAliveSeconds: 5, resultSchema: { type: 'string' } },
      ],
    });
    assert.equal(check.ok, false);
    const all = check.ok ? '' : check.errors.join('\n');
    assert.match(all, /step "review": prompt: must not be empty/);
    assert.match(all, /step "bad name!": name: must start with a letter/);
    assert.doesNotMatch(all, /step "plan"/, 'zod stops at the shape; task fields are checked once the shape is right');
  });

  test('task-field and graph errors once the shape is right', () => {
    const check = checkPipelineSpec({
      defaults: { maxTurn: 3 },
      steps: [
        { name: 'plan', prompt: 'x', permissionMode: 'yolo' },
        { name: 'fix', prompt: 'x', keepAliveSeconds: 5, resultSchema: { type: 'string' }, dependsOn: ['fix2'] },
        { name: 'fix2', prompt: 'x', dependsOn: ['fix'] },
      ],
    });
    const all = check.ok ? '' : check.errors.join('\n');
    assert.match(all, /defaults\.maxTurn: unknown field/);
    assert.match(all, /step "plan": maxTurn: unknown field/, 'defaults are checked in every step too');
    assert.match(all, /step "plan": permissionMode: /);
    assert.match(all, /step "fix": keepAliveSeconds: not allowed in a step/);
    assert.match(all, /step "fix": resultSchema: must be a JSON Schema object/);
    assert.match(all, /form a cycle/);
  });
});

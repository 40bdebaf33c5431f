import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RESULT_SCHEMA, TaskSpec } from '../../src/schemas/task-spec.js';
import { describeZodError } from '../../src/schemas/describe-error.js';
import { checkResult, compileResultSchema } from '../../src/schemas/result-schema.js';

const errorsOf = (input: unknown): string => {
  const r = TaskSpec.safeParse(input);
  assert.equal(r.success, false, `expected ${JSON.stringify(input)} to be rejected`);
  return describeZodError(r.error!);
};

describe('TaskSpec', () => {
  test('applies defaults', () => {
    const spec = TaskSpec.parse({ prompt: 'do it' });
    assert.deepEqual(spec.resultSchema, DEFAULT_RESULT_SCHEMA);
    assert.equal(spec.permissionMode, 'dontAsk');
    assert.equal(spec.resultRetries, 2);
  });

  test('names the bad field in every error', () => {
    assert.match(errorsOf({ prompt: 'x', extra: true }), /^extra: unknown field$/);
    assert.match(errorsOf({ prompt: 'x', sandbox: { provider: 'local', size: 'xl' } }), /^sandbox\.size: unknown field$/);
    assert.match(errorsOf({ prompt: '   ' }), /^prompt: must not be empty$/);
    assert.match(errorsOf({ prompt: 'x', maxTurns: 0 }), /^maxTurns: /);
    assert.match(errorsOf({ prompt: 'x', sandbox: { provider: 'docker' } }), /^sandbox\.provider: /);
    assert.match(
      errorsOf({ prompt: 'x', resultSchema: { type: 'object', properties: [] } }),
      /^resultSchema: "properties" must be an object/,
    );
    assert.match(errorsOf({ prompt: 'x', files: { '/etc/passwd': 'x' } }), /^files\["\/etc\/passwd"\]: must be a relative path/);
  });
});

describe('result schema', () => {
  test('validates results and reports each bad field', () => {
    const v = compileResultSchema({
      type: 'object',
      properties: {
        summary: { type: 'string' },
        score: { type: 'integer', minimum: 0 },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['summary', 'score'],
    });
    assert.deepEqual(checkResult(v, { summary: 's', score: 3 }), { ok: true, value: { summary: 's', score: 3 } });
    const bad = checkResult(v, { summary: 1, score: -1, tags: [2] });
    assert.equal(bad.ok, false);
    const errors = bad.ok ? [] : bad.errors;
    assert.ok(
      errors.some((e) => e.startsWith('summary: ')),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => e.startsWith('score: ')),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => e.startsWith('tags[0]: ')),
      errors.join('\n'),
    );
  });
});

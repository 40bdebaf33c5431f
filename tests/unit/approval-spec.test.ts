/** The approval wire shapes: the TaskSpec field, and the approve Update's validator against its schema. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApproveInput, MAX_REASON_CHARS } from '../../src/schemas/approvals.js';
import { describeZodError } from '../../src/schemas/describe-error.js';
import { checkPipelineSpec } from '../../src/schemas/pipeline-spec.js';
import { TaskSpec } from '../../src/schemas/task-spec.js';
import { checkApproveInput } from '../../src/workflows/approve-input.js';

const problems = (input: unknown): string => {
  const parsed = TaskSpec.safeParse(input);
  assert.equal(parsed.success, false, JSON.stringify(input));
  return parsed.success ? '' : describeZodError(parsed.error);
};

describe('TaskSpec.approval', () => {
  test('takes rules and fills in the defaults', () => {
    const spec = TaskSpec.parse({ prompt: 'x', approval: { tools: ['Bash(git push:*)', 'WebFetch'] } });
    assert.deepEqual(spec.approval, { tools: ['Bash(git push:*)', 'WebFetch'], onTimeout: 'deny', keepSandboxSeconds: 300 });
    assert.equal(TaskSpec.parse({ prompt: 'x' }).approval, undefined);
  });

  test('an invalid rule is refused up front, naming the rule and where it is', () => {
    assert.equal(
      problems({ prompt: 'x', approval: { tools: ['Bash(git push:*)', 'Bahs(rm -rf:*)'] } }),
      'approval.tools[1]: rule "Bahs(rm -rf:*)": unknown tool "Bahs" (known: Agent, Bash, Edit, Glob, Grep, LS, MultiEdit, NotebookEdit, Read, Skill, Task, TodoWrite, WebFetch, WebSearch, Write, or mcp__<server>__<tool>)',
    );
    assert.match(
      problems({ prompt: 'x', approval: { tools: ['WebFetch(https://example.com)'] } }),
      /approval\.tools\[0\]: rule "WebFetch\(https:\/\/example\.com\)": WebFetch rules take "domain:<host>"/,
    );
    assert.match(problems({ prompt: 'x', approval: { tools: [] } }), /approval\.tools: list at least one rule/);
    assert.match(problems({ prompt: 'x', approval: { tools: ['Bash', 'Bash'] } }), /approval\.tools\[1\]: rule "Bash": is listed twice/);
    assert.match(problems({ prompt: 'x', approval: { tools: ['Bash'], onTimeout: 'allow' } }), /approval\.onTimeout/);
    assert.match(problems({ prompt: 'x', approval: { tools: ['Bash'], timeoutSeconds: 0 } }), /approval\.timeoutSeconds/);
    assert.match(problems({ prompt: 'x', approval: { tools: ['Bash'], keepSandbox: 1 } }), /approval\.keepSandbox: unknown field/);
  });

  test('pipelines check it per step, and steps inherit it from the defaults', () => {
    const bad = checkPipelineSpec({ steps: [{ name: 'push', prompt: 'p', approval: { tools: ['git push'] } }] });
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.errors.join('\n'), /push.*approval\.tools\[0\]: rule "git push"/);
    const good = checkPipelineSpec({ defaults: { approval: { tools: ['Bash(git push:*)'] } }, steps: [{ name: 'push', prompt: 'p' }] });
    assert.ok(good.ok);
    if (good.ok) assert.deepEqual(good.plan.steps[0]?.task.approval, { tools: ['Bash(git push:*)'] });
  });
});

describe('the approve Update validator and the ApproveInput schema', () => {
  test('refuse what cannot be an answer, naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['allow', /an answer is an object/],
      [{ decision: 'allow' }, /requestId: must be a non-empty string/],
      [{ requestId: 'req-1' }, /decision: must be "allow" or "deny"/],
      [{ requestId: 'req-1', decision: 'yes' }, /decision: must be "allow" or "deny"/],
      [{ requestId: 'req-1', decision: 'deny', reason: 5 }, /reason: must be a string/],
      [{ requestId: 'req-1', decision: 'allow', remember: 'forever' }, /remember: must be "once" or "session"/],
      [{ requestId: 'req-1', decision: 'allow', note: 'x' }, /note: unknown field/],
    ];
    for (const [input, pattern] of cases) assert.throws(() => checkApproveInput(input), pattern);
    assert.deepEqual(checkApproveInput({ requestId: 'req-1', decision: 'deny', reason: 'no' }), {
      requestId: 'req-1',
      decision: 'deny',
      reason: 'no',
      remember: 'once',
    });
  });

  test('accept and refuse the same inputs', () => {
    const inputs: unknown[] = [
      { requestId: 'req-1', decision: 'allow' },
      { requestId: 'req-1', decision: 'deny', reason: 'not today' },
      { requestId: 'req-1', decision: 'allow', remember: 'session' },
      { requestId: 'req-1', decision: 'allow', remember: 'once' },
      { requestId: 'req-1', decision: 'deny', reason: 'x'.repeat(MAX_REASON_CHARS) },
      { requestId: 'req-1', decision: 'deny', reason: 'x'.repeat(MAX_REASON_CHARS + 1) },
      { requestId: '', decision: 'allow' },
      { requestId: 'req-1', decision: 'Allow' },
      { requestId: 'req-1', decision: 'allow', remember: 'always' },
      { requestId: 'req-1', decision: 'allow', extra: true },
      { requestId: 1, decision: 'allow' },
      null,
      [],
      'allow',
    ];
    for (const input of inputs) {
      const byValidator = (() => {
        try {
          checkApproveInput(input);
          return true;
        } catch {
          return false;
        }
      })();
      assert.equal(byValidator, ApproveInput.safeParse(input).success, JSON.stringify(input)?.slice(0, 80));
    }
  });
});

/**
 * Seed 002's permission modes as ccflow approval rules, and the spawn extension `ask_tools`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SEED_SPAWN_DEFAULTS, parseSpawnRequest } from '../../src/frontends/nats/controller-requests.js';
import { ASKING_TOOLS, sessionPermissions } from '../../src/frontends/nats/permission-rules.js';
import { AgentError } from '../../src/frontends/nats/reply.js';
import { TaskSpec } from '../../src/schemas/task-spec.js';

const seedTools = ['Read', 'Glob', 'Grep'];

describe('sessionPermissions', () => {
  it('dontAsk and bypassPermissions ask nothing and allow what they allowed', () => {
    for (const permissionMode of ['dontAsk', 'bypassPermissions'] as const) {
      assert.deepEqual(sessionPermissions({ allowedTools: seedTools, permissionMode }), { allowedTools: seedTools, rules: [] });
    }
  });

  it('default (and plan, auto) hold every asking tool not allowed, and allow it to run once answered', () => {
    for (const permissionMode of ['default', 'plan', 'auto'] as const) {
      const p = sessionPermissions({ allowedTools: ['Read', 'Bash'], permissionMode });
      assert.deepEqual(
        p.rules,
        ASKING_TOOLS.filter((t) => t !== 'Bash'),
      );
      assert.deepEqual(p.allowedTools, ['Read', 'Bash', ...p.rules]);
    }
  });

  it('acceptEdits lets edits through and asks about the rest', () => {
    const p = sessionPermissions({ allowedTools: seedTools, permissionMode: 'acceptEdits' });
    assert.deepEqual(p.rules, ['Bash', 'WebFetch', 'WebSearch']);
    for (const t of ['Edit', 'Write', 'MultiEdit', 'NotebookEdit', 'Bash']) assert.ok(p.allowedTools.includes(t), t);
  });

  it('only a bare name allows a tool as a whole', () => {
    const p = sessionPermissions({ allowedTools: ['Bash(ls:*)'], permissionMode: 'default' });
    assert.ok(p.rules.includes('Bash'));
  });

  it('ask_tools rules hold whatever the mode, once each', () => {
    assert.deepEqual(sessionPermissions({ allowedTools: ['Bash'], permissionMode: 'dontAsk', askTools: ['Bash(git push:*)'] }).rules, [
      'Bash(git push:*)',
    ]);
    assert.deepEqual(sessionPermissions({ allowedTools: [], permissionMode: 'default', askTools: ['Bash'] }).rules, [...ASKING_TOOLS]);
  });

  it('every rule it makes is one the task spec accepts', () => {
    const p = sessionPermissions({ allowedTools: [], permissionMode: 'default' });
    const parsed = TaskSpec.safeParse({ prompt: 'x', allowedTools: p.allowedTools, approval: { tools: p.rules } });
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  });
});

describe('spawn: ask_tools', () => {
  const spawn = (body: unknown) => parseSpawnRequest(new TextEncoder().encode(JSON.stringify(body)), SEED_SPAWN_DEFAULTS);

  it('is optional, and an empty list is none', () => {
    assert.equal(spawn({ cwd: '/tmp' }).askTools, undefined);
    assert.equal(spawn({ cwd: '/tmp', ask_tools: [] }).askTools, undefined);
    assert.deepEqual(spawn({ cwd: '/tmp', ask_tools: ['Bash(git push:*)'] }).askTools, ['Bash(git push:*)']);
  });

  it('must be a list of non-empty strings, reported after the seed fields', () => {
    for (const bad of ['Bash', [''], [3]]) {
      assert.throws(
        () => spawn({ cwd: '/tmp', ask_tools: bad }),
        (e: unknown) => e instanceof AgentError && e.code === 400 && e.message === 'ask_tools must be an array of non-empty strings',
      );
    }
    assert.throws(
      () => spawn({ cwd: '/tmp', ask_tools: 'Bash', max_turns: 0 }),
      (e: unknown) => e instanceof AgentError && e.message === 'max_turns must be a positive integer',
    );
  });
});

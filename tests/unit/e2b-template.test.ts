/** The E2B template, checked offline through the Dockerfile the SDK renders from it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Template } from 'e2b';

import { PACKAGE_ROOT } from '../../src/home.js';
import {
  SANDBOX_APPROVAL_HOOK,
  SANDBOX_CLAUDE_BIN,
  SANDBOX_NODE_BIN,
  SANDBOX_RESULT_SERVER,
  SANDBOX_WORKDIR,
} from '../../src/sandbox/layout.js';
import { ccflowTemplate, CLAUDE_CODE_VERSION } from '../../sandbox-template/template.js';

const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const dockerfile = Template.toDockerfile(ccflowTemplate());
const lines = dockerfile.trim().split('\n');

test('installs exactly the claude version the worker pins', () => {
  const pinned = pkg.dependencies['@anthropic-ai/claude-code'];
  assert.equal(CLAUDE_CODE_VERSION, pinned);
  const installs = lines.filter((l) => l.includes('@anthropic-ai/claude-code@'));
  assert.equal(installs.length, 1, dockerfile);
  assert.match(installs[0] ?? '', new RegExp(`npm install -g @anthropic-ai/claude-code@${pinned!.replace(/\./g, '\\.')}$`));
});

test('starts from Node 20 with git and ripgrep', () => {
  assert.equal(lines[0], 'FROM node:20');
  assert.match(dockerfile, /apt-get install -y .*\bgit\b.*\bripgrep\b/);
});

test('copies the result MCP server and installs its dependencies where the providers expect it', () => {
  assert.equal(SANDBOX_RESULT_SERVER, '/opt/ccflow/result-server/server.mjs');
  assert.ok(lines.includes('COPY result-server/server.mjs /opt/ccflow/result-server/server.mjs'), dockerfile);
  assert.ok(lines.includes('COPY result-server/package.json /opt/ccflow/result-server/package.json'), dockerfile);
  assert.equal(SANDBOX_APPROVAL_HOOK, '/opt/ccflow/result-server/approval-hook.mjs');
  assert.ok(lines.includes('COPY result-server/approval-hook.mjs /opt/ccflow/result-server/approval-hook.mjs'), dockerfile);
  assert.match(dockerfile, /RUN cd \/opt\/ccflow\/result-server && npm install --omit=dev/);
  // The copied sources exist (the build uploads them from the template's directory).
  for (const f of ['server.mjs', 'package.json', 'approval-hook.mjs']) {
    assert.ok(readFileSync(path.join(PACKAGE_ROOT, 'sandbox-template', 'result-server', f)).length > 0);
  }
});

test('links claude and node into /opt/ccflow/bin', () => {
  assert.ok(dockerfile.includes(`ln -sf "$(command -v node)" ${SANDBOX_NODE_BIN}`), dockerfile);
  assert.match(
    dockerfile,
    new RegExp(
      `claude-code-linux-\\*/claude.* ${SANDBOX_CLAUDE_BIN.replace(/\//g, '\\/')} && ${SANDBOX_CLAUDE_BIN.replace(/\//g, '\\/')} --version`,
    ),
  );
});

test('ends as the unprivileged user in the workspace, with no secrets baked in', () => {
  const users = lines.filter((l) => l.startsWith('USER '));
  assert.equal(users.at(-1), 'USER user');
  assert.ok(!users.some((u) => /USER\s+(root|0)\b/.test(u)));
  assert.equal(lines.filter((l) => l.startsWith('WORKDIR ')).at(-1), `WORKDIR ${SANDBOX_WORKDIR}`);
  assert.doesNotMatch(dockerfile, /ANTHROPIC_API_KEY|E2B_API_KEY|^ENV /m);
});

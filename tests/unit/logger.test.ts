import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/worker/telemetry.js';

test("the SDK's expected warning about an activity-only worker is demoted; real warnings still print", () => {
  const lines: string[] = [];
  const log = createLogger({ logLevel: 'INFO', logFormat: 'json', write: (l) => lines.push(l) });
  log.warn('No workflows registered, not polling for workflow tasks', { taskQueue: 'ccflow@host' });
  assert.equal(lines.length, 0);
  log.warn('Worker failed to poll', { taskQueue: 'ccflow' });
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? '{}') as { level?: string; msg?: string };
  assert.equal(line.level, 'warn');
  assert.equal(line.msg, 'Worker failed to poll');
  const debug = createLogger({ logLevel: 'DEBUG', logFormat: 'text', write: (l) => lines.push(l) });
  debug.warn('No workflows registered, not polling for workflow tasks');
  assert.match(lines.at(-1) ?? '', / DEBUG No workflows registered/);
});

/**
 * Replays histories recorded from real runs (tests/fixtures/histories) against today's
 * workflow code: a change that makes old runs nondeterministic fails here, before it breaks
 * tasks that are in flight on a deployed cluster. Re-record with `npm run record-histories`
 * only when a change is meant to be incompatible (and version it with patched() instead when
 * running tasks must survive it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { HISTORY_FIXTURES_DIR } from '../helpers/histories.js';
import { workflowBundle } from '../helpers/harness.js';

test('recorded workflow histories replay without nondeterminism', async () => {
  const files = (await readdir(HISTORY_FIXTURES_DIR)).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 4, `expected recorded histories in ${HISTORY_FIXTURES_DIR}, found ${files.length}`);
  const histories = await Promise.all(
    files.map(async (f) => ({
      workflowId: path.basename(f, '.json'),
      history: historyFromJSON(JSON.parse(await readFile(path.join(HISTORY_FIXTURES_DIR, f), 'utf8'))),
    })),
  );
  const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
  let replayed = 0;
  for await (const r of results) {
    assert.equal(r.error, undefined, `${r.workflowId} does not replay: ${String(r.error)}`);
    replayed += 1;
  }
  assert.equal(replayed, files.length);
});

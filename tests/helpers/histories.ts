import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/home.js';
import { temporalBinary } from '../../src/testing/dev-server.js';

/** Where replay fixtures live: histories recorded from real runs, replayed by tests/e2e/replay.test.ts. */
export const HISTORY_FIXTURES_DIR = path.join(PACKAGE_ROOT, 'tests', 'fixtures', 'histories');

/**
 * With CCFLOW_RECORD_HISTORIES=1 (`npm run record-histories`), saves a finished workflow's
 * history as a replay fixture named after its workflow id, exported by the Temporal CLI as users would (`temporal
 * workflow show --output json`). Otherwise does nothing.
 */
export async function recordHistory(address: string, workflowId: string): Promise<void> {
  if (process.env.CCFLOW_RECORD_HISTORIES !== '1') return;
  const { stdout } = await promisify(execFile)(
    temporalBinary(),
    ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  await mkdir(HISTORY_FIXTURES_DIR, { recursive: true });
  // Named by workflow id: replay needs it (child workflow ids derive from it). Stack traces in
  // failures name files by this checkout's path: the fixture says /ccflow instead.
  await writeFile(path.join(HISTORY_FIXTURES_DIR, `${workflowId}.json`), stdout.split(`${PACKAGE_ROOT}/`).join('/ccflow/'));
}

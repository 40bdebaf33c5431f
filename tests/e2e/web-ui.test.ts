/**
 * What users see of a task: the CLI's progress, list, status, logs and cancel, the search
 * attributes and summary a task sets, and the dev server's Web UI in a real browser (Debian's
 * chromium driven by playwright-core), which saves the screenshots README shows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { CcflowClient } from '../../src/client/client.js';
import { cancelCommand, followTask, listCommand, logsCommand, statusCommand } from '../../src/cli/commands/tasks.js';
import type { Io } from '../../src/cli/output.js';
import { readProgress } from '../../src/client/progress.js';
import { taskResultOf } from '../../src/cli/views/progress-view.js';
import { ProgressEvent } from '../../src/schemas/progress.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { CcflowCostUsd, CcflowModel, CcflowSandbox, CcflowStatus, CcflowTurns } from '../../src/workflows/search-attributes.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const script = {
  conversations: [
    {
      match: '\\[report\\]',
      steps: [
        { text: 'Counting the words in notes.txt.', toolUse: [{ name: 'Bash', input: { command: 'wc -w notes.txt' } }] },
        { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary: 'notes.txt has 4 words', words: 4 } }] },
        { text: 'Submitted the word count.' },
      ],
    },
    {
      match: '\\[slow\\]',
      // (claude refuses a plain long `sleep`; a blocking read is the same for the test)
      steps: [{ text: 'This will take a while.', toolUse: [{ name: 'Bash', input: { command: 'tail -f /dev/null' } }] }],
    },
  ],
};

const PROMPT = '[report] Count the words in notes.txt\nUse wc, then report the number.';
const SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string' }, words: { type: 'integer' } },
  required: ['summary', 'words'],
};

function captureIo(): Io & { out: () => string; err: () => string } {
  const sink = () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    return { stream, text: () => chunks.join('') };
  };
  const o = sink();
  const e = sink();
  return { stdout: o.stream, stderr: e.stream, out: o.text, err: e.text };
}

describe('operating ccflow: CLI views, search attributes, Web UI', () => {
  let h: Harness;
  let ccflow: CcflowClient;
  const doneId = 'ui-report';
  const cancelledId = 'ui-cancelled';

  before(async () => {
    h = await startHarness({ script, ui: true });
    await h.startWorker();
    ccflow = new CcflowClient(h.client, h.taskQueue);
  });
  after(async () => {
    await h?.close();
  });

  test('ccflow run --json: progress events from Temporal, ending with the result', async () => {
    await ccflow.start({ prompt: PROMPT, resultSchema: SCHEMA, files: { 'notes.txt': 'one two three four' } }, { workflowId: doneId });
    const io = captureIo();
    const code = await followTask(ccflow, doneId, { json: true, quiet: false, intervalMs: 250 }, io);
    assert.equal(code, 0, io.err());
    const events = io
      .out()
      .trim()
      .split('\n')
      .map((l) => ProgressEvent.parse(JSON.parse(l)));
    assert.ok(events.length >= 2, io.out());
    assert.equal(events[0]?.type, 'progress');
    const end = events.at(-1);
    assert.equal(end?.type, 'result');
    const task = end?.type === 'result' ? taskResultOf(end) : undefined;
    assert.ok(task, 'the last event holds a task result');
    assert.deepEqual(task.result, { summary: 'notes.txt has 4 words', words: 4 });
    assert.ok(task.numTurns >= 2);
    // Every snapshot says which workflow it is about and never goes back in time.
    for (const [i, e] of events.entries()) {
      assert.equal(e.workflowId, doneId);
      if (i > 0) assert.ok(e.at >= (events[i - 1]?.at ?? 0));
    }
  });

  test('the task set its summary, details and search attributes', async () => {
    const desc = await h.client.workflow.getHandle(doneId).describe();
    assert.equal(await desc.staticSummary(), '[report] Count the words in notes.txt');
    assert.match((await desc.staticDetails()) ?? '', /\*\*Model:\*\* default[\s\S]*"words"/);
    const sa = desc.typedSearchAttributes;
    assert.equal(sa.get(CcflowStatus), 'succeeded');
    assert.equal(sa.get(CcflowModel), 'default');
    assert.equal(sa.get(CcflowSandbox), 'local');
    assert.ok((sa.get(CcflowTurns) ?? 0) >= 2, `turns ${sa.get(CcflowTurns)}`);
    assert.ok((sa.get(CcflowCostUsd) ?? 0) > 0, `cost ${sa.get(CcflowCostUsd)}`);
  });

  test('ccflow status, list --status and logs', async () => {
    const status = captureIo();
    assert.equal(await statusCommand(doneId, {}, ccflow, status), 0);
    assert.match(
      status.out(),
      /^ui-report: \[report\] Count the words in notes\.txt\n✓ succeeded in \d+s · \d+ turns · \$\d+\.\d{4} · 1 result attempt\n/,
    );
    assert.match(status.out(), /"words": 4/);

    const list = captureIo();
    assert.equal(await listCommand({ status: 'succeeded' }, ccflow, list), 0);
    const rows = list.out().trim().split('\n');
    assert.match(rows[0] ?? '', /^WORKFLOW ID\s+STATUS\s+TURNS\s+COST\s+DURATION\s+STARTED \(UTC\)$/);
    assert.ok(
      rows.some((r) => /^ui-report\s+succeeded\s+\d+\s+\$\d+\.\d{4}\s+\d+s\s+\d{4}-/.test(r)),
      list.out(),
    );

    const logs = captureIo();
    assert.equal(await logsCommand(doneId, {}, ccflow, logs), 0, logs.err());
    const text = logs.out();
    assert.match(text, /^── run-1 · attempt 1 ─+$/m);
    assert.match(text, /^prompt │ \[report\] Count the words in notes\.txt$/m);
    assert.match(text, /^assistant │ Counting the words in notes\.txt\.$/m);
    assert.match(text, /^ {2}→ Bash: wc -w notes\.txt$/m);
    assert.match(text, /^ {4}← 4 notes\.txt$/m);
    assert.match(text, /^result: success · \d+ turns/m);
    assert.ok(!text.includes(h.apiKey));
  });

  test('ccflow cancel stops a running agent; the task ends cancelled and says so', async () => {
    await ccflow.start({ prompt: '[slow] Take your time.' }, { workflowId: cancelledId });
    // Bounded wait until the agent is inside its long tool call, as seen through Temporal.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const p = await readProgress(h.client, cancelledId);
      if (p.type === 'progress' && p.tool === 'Bash: tail -f /dev/null' && p.toolRunning) break;
      assert.ok(p.type === 'progress', `the task ended early: ${JSON.stringify(p)}`);
      assert.ok(Date.now() < deadline, `the agent never started its tool: ${JSON.stringify(p)}`);
      await sleep(250);
    }
    const io = captureIo();
    assert.equal(await cancelCommand(cancelledId, {}, ccflow, io), 0, io.err());
    assert.match(io.err(), /cancelled ui-cancelled/);
    const desc = await h.client.workflow.getHandle(cancelledId).describe();
    assert.equal(desc.status.name, 'CANCELLED');
    assert.equal(desc.typedSearchAttributes.get(CcflowStatus), 'cancelled');
    const again = captureIo();
    assert.equal(await cancelCommand(cancelledId, {}, ccflow, again), 1);
    assert.match(again.err(), /not running \(cancelled\)/);
  });

  test('Web UI: the finished task is found by its search attribute, with its summary and result', async () => {
    const uiUrl = h.server.uiUrl;
    assert.ok(uiUrl, 'the harness serves the Web UI');
    const profile = await mkdtemp(path.join(os.tmpdir(), 'ccflow-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1400, height: 1000 },
    });
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      // README's screenshots are refreshed on request only, so a test run leaves the tree clean.
      const docs = process.env.CCFLOW_UPDATE_SCREENSHOTS === '1' ? path.join(PACKAGE_ROOT, 'docs') : profile;
      await mkdir(docs, { recursive: true });

      // The workflow list filtered by ccflow's search attribute: the succeeded task only.
      const query = encodeURIComponent('CcflowStatus="succeeded"');
      await page.goto(`${uiUrl}/namespaces/default/workflows?query=${query}`);
      const link = page.getByRole('link', { name: doneId, exact: true });
      await link.waitFor({ timeout: 60_000 });
      assert.equal(await page.getByRole('link', { name: cancelledId, exact: true }).count(), 0);

      // The run page: the result is shown, and activities are named by their summaries.
      await link.click();
      await page.waitForURL(new RegExp(`/workflows/${doneId}/`), { timeout: 30_000 });
      await page.getByText('notes.txt has 4 words').first().waitFor({ timeout: 30_000 });
      await page
        .getByText(/run-1: claude -p in sandbox/)
        .first()
        .waitFor({ timeout: 30_000 });
      await page.screenshot({ path: path.join(docs, 'web-ui.png') });

      // User Metadata: the summary (prompt's first line), details and current details.
      await page.getByText('User Metadata', { exact: true }).click();
      // The UI renders these Markdown panels in sandboxed iframes.
      const framesText = async () => {
        const texts = await Promise.all(
          page.frames().map((f) =>
            f
              .locator('body')
              .innerText({ timeout: 2_000 })
              .catch(() => ''),
          ),
        );
        return texts.join('\n');
      };
      const deadline = Date.now() + 60_000;
      let shown = '';
      for (;;) {
        shown = await framesText();
        const ok = [/\[report\] Count the words in notes\.txt/, /Tools: Bash, Read, Write/, /Status: succeeded/, /"words"/].every((r) =>
          r.test(shown),
        );
        if (ok) break;
        assert.ok(Date.now() < deadline, `summary, details and current details not shown; the page shows:\n${shown}`);
        await sleep(500);
      }
      await page.screenshot({ path: path.join(docs, 'web-ui-details.png') });
    } finally {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});

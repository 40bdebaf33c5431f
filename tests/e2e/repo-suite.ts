/**
 * Tasks on a git repository end to end: a real git server (git daemon, and smart HTTP with
 * basic auth), a real Temporal dev server and worker, the real `claude` CLI in a sandbox and the
 * scripted model. The scripted agent edits files with Bash, like an agent would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { CcflowClient } from '../../src/client/index.js';
import { formatShortStat } from '../../src/domain/git.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { GitError, type GitHost } from '../../src/git/index.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import type { TaskResult, TaskSpecInput } from '../../src/schemas/task-spec.js';
import { closeSignal, followUpUpdate, statusQuery, type AgentTaskWorkflow, type PipelineWorkflow } from '../../src/workflows/messages.js';
import { bytes, makeRepo, testGit, type FixtureRepo, type TestGit } from '../helpers/git-fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startHarness, type Harness, type ProviderFactory } from '../helpers/harness.js';

const execFileAsync = promisify(execFile);
const EventType = proto.temporal.api.enums.v1.EventType;
const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });
const bash = (command: string, text?: string) => ({ ...(text ? { text } : {}), toolUse: [{ name: 'Bash', input: { command } }] });

/**
 * Edits, a new file in a new directory, a deletion, a rename with an edit, binaries, ignored
 * files, a mode change: one Bash call each (claude in dontAsk mode refuses some long chains).
 */
const AGENT_EDITS = [
  'printf "import sys\\nVERBOSE = \\"--verbose\\" in sys.argv\\nprint(\\"hello\\")\\n" > src/cli.py',
  'mkdir -p docs && printf "# Usage\\n\\nRun with --verbose.\\n" > docs/usage.md',
  'rm gone.txt',
  'mv moved.txt renamed.txt && echo "one more line" >> renamed.txt',
  'printf "\\000\\001\\002binary\\377" > new.bin',
  'printf "changed" | cat - img.bin > img.tmp && mv img.tmp img.bin',
  'chmod +x src/cli.py',
  'echo noise > debug.log && mkdir -p node_modules/x && echo "module.exports = 1" > node_modules/x/i.js',
  // What an agent could find out about credentials: its environment and the repository's
  // config, kept in ignored files (*.log) so they are not part of the change.
  'env > agent-env.log',
  'cat .git/config > agent-git-config.log',
  'git config --list --show-origin > agent-git-list.log',
];

const script = {
  conversations: [
    {
      match: '\\[git-main\\]',
      steps: [
        ...AGENT_EDITS.map((command, i) => bash(command, i === 0 ? 'Making the change.' : undefined)),
        submit({ summary: 'added --verbose and docs' }),
        { text: 'Done.' },
        // the follow-up
        bash('echo "Also: --quiet." >> docs/usage.md', 'One more line.'),
        submit({ summary: 'documented --quiet' }),
        { text: 'Done again.' },
      ],
    },
    {
      match: '\\[git-push-retry\\]',
      steps: [bash('echo "retry" > retry.txt'), submit({ summary: 'wrote retry.txt' }), { text: 'Done.' }],
    },
    {
      // The fix step continues the plan step's session: the model sees one conversation.
      match: '\\[git-plan\\]',
      steps: [
        bash('echo "step one" > pipeline.txt'),
        submit({ summary: 'first step' }),
        { text: 'Done.' },
        bash('echo "step two" >> pipeline.txt'),
        submit({ summary: 'second step' }),
        { text: 'Done.' },
      ],
    },
    {
      match: '\\[git-never\\]',
      steps: [submit({ summary: 'should not run' }), { text: 'Done.' }],
    },
  ],
};

/** Every byte string in a history (payloads are bytes: decode them before searching). */
function historyText(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) historyText(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) historyText(v, out);
  return out;
}

/** Files under dir (recursively) whose bytes contain any needle. */
async function filesContaining(dir: string, needles: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    const content = await readFile(file).catch(() => undefined);
    if (content && needles.some((n) => content.includes(n))) found.push(file);
  }
  return found;
}

/** A git host that drops the connection once, right after a push was sent: a retry must not push again. */
function flakyPushes(inner: GitHost): { host: GitHost; arm(): void } {
  let armed = false;
  return {
    arm: () => (armed = true),
    host: {
      ...inner,
      async transport(what, args, opts) {
        const r = await inner.transport(what, args, opts);
        if (armed && args.includes('push') && r.exitCode === 0) {
          armed = false;
          throw new GitError('network', 'the connection dropped after the push was sent (injected by the test)');
        }
        return r;
      },
    },
  };
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err: unknown = await p.then(
    () => assert.fail('expected the task to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
  return err.cause;
}

/**
 * The attempt each run of an activity type ended on (history records one started event per
 * activity, carrying its last attempt number).
 */
async function attempts(h: WorkflowHandle, activityType: string): Promise<number[]> {
  const events = (await h.fetchHistory()).events ?? [];
  const scheduled = new Set<string>();
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === activityType) scheduled.add(String(e.eventId));
  }
  return events
    .filter(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
        scheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)),
    )
    .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
}

export function repoSuite(name: string, providerFactory?: ProviderFactory, o: { full?: boolean } = { full: true }): void {
  describe(`tasks on a git repository (${name})`, () => {
    let h: Harness;
    let server: GitServer;
    let other: GitServer;
    let git: TestGit;
    let repo: FixtureRepo;
    let srvRoot: string;
    let flaky: ReturnType<typeof flakyPushes>;
    let ccflow: CcflowClient;
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    const secrets = () => [password, Buffer.from(`${server.username}:${password}`).toString('base64')];

    before(async () => {
      srvRoot = await mkdtemp(path.join(os.tmpdir(), 'ccflow-git-srv-'));
      git = await testGit();
      server = await startGitServer({ root: path.join(srvRoot, 'main'), password });
      // A second server whose password the worker has wrong.
      other = await startGitServer({ root: path.join(srvRoot, 'other'), password: 'the-right-one' });
      repo = await makeRepo(git, server.root, 'app.git', {
        files: {
          'README.md': '# app\n',
          'src/cli.py': 'print("hello")\n',
          'moved.txt': Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join(''),
          'gone.txt': 'bye\n',
          'img.bin': bytes(3000, 5),
          '.gitignore': 'node_modules/\n*.log\n',
        },
        history: 3,
      });
      await makeRepo(git, other.root, 'app.git', { files: { 'a.txt': 'a\n' } });
      await makeRepo(git, server.root, 'big.git', { files: { 'noise.bin': bytes(3 * 1024 * 1024, 9) } });
      const origin = (s: GitServer) => new URL(s.httpUrl('x')).origin;
      h = await startHarness({
        script,
        ...(providerFactory ? { providerFactory } : {}),
        git: {
          credentials: [
            { url: origin(server), username: server.username, password },
            { url: origin(other), username: other.username, password: 'a-wrong-password' },
          ],
          maxBytes: 2 * 1024 * 1024,
        },
      });
      flaky = flakyPushes(h.deps.git.host);
      await h.startWorker({ git: { ...h.deps.git, host: flaky.host } });
      ccflow = new CcflowClient(h.client, h.taskQueue);
    });
    after(async () => {
      await h?.close();
      await server?.close();
      await other?.close();
      await rm(srvRoot, { recursive: true, force: true });
    });

    const start = (workflowId: string, spec: TaskSpecInput) =>
      h.client.workflow.start<AgentTaskWorkflow>('agentTask', { taskQueue: h.taskQueue, workflowId, args: [spec] });

    test('the agent changes the repository over two turns: two commits, pushed with auth, the summary matches git, apply and checkout reproduce the tree, no credential anywhere', async () => {
      const url = server.httpUrl('app.git');
      const handle = await start('git-main', {
        prompt: '[git-main] Add a --verbose flag and document it.',
        repo: { url },
        push: { branch: 'ccflow/verbose' },
        keepAliveSeconds: 600,
      });
      const status = async () => handle.query(statusQuery);
      for (let i = 0; (await status()).phase !== 'open'; i++) {
        assert.ok(i < 600, 'the first turn did not finish');
        await new Promise((r) => setTimeout(r, 200));
      }
      const first = (await status()).turns[0]!;
      assert.equal(first.changes?.filesChanged, 6, JSON.stringify(first.changes));

      // While the task is open its sandbox exists: nothing in it holds the credential.
      assert.deepEqual(await filesContaining(h.tmp, secrets()), [], 'the credential is in no file of the sandboxes or artifacts');
      const agentFiles = await readdir(h.tmp, { recursive: true }).then((n) => n.map(String));
      const agentEnv = await readFile(
        path.join(
          h.tmp,
          agentFiles.find((f) => f.endsWith('agent-env.log'))!,
        ),
        'utf8',
      );
      assert.doesNotMatch(agentEnv, /CCFLOW_GIT|GIT_CONFIG|GIT_ASKPASS|SSH_AUTH_SOCK/, 'none of the worker git setup reached the agent');
      for (const name of ['agent-git-config.log', 'agent-git-list.log']) {
        const found = agentFiles.find((f) => f.endsWith(name));
        assert.ok(found, `the agent wrote ${name} (${agentFiles.filter((f) => f.includes('agent-')).join(', ')})`);
        // The host's own /etc/gitconfig is visible in a local sandbox (it binds /etc read-only);
        // what ccflow writes is the repository's config, and that must hold nothing of a remote.
        const gitConfig = (await readFile(path.join(h.tmp, found), 'utf8'))
          .split('\n')
          .filter((l) => !l.startsWith('file:/etc/'))
          .join('\n');
        assert.doesNotMatch(gitConfig, /remote|url|credential|extraheader|askpass/i, gitConfig);
      }

      const second = await handle.executeUpdate(followUpUpdate, { args: [{ prompt: 'Also document --quiet.' }] });
      assert.deepEqual(second.changes?.files, [{ path: 'docs/usage.md', status: 'modified', insertions: 1, deletions: 0 }]);
      assert.equal(second.push?.status, 'updated');
      await handle.signal(closeSignal);
      const result: TaskResult = await handle.result();

      // Pushed with the worker's credentials: the branch is on the server, two commits on the base.
      const head = result.changes!.headCommit;
      assert.equal(result.push?.commit, head);
      assert.equal(result.push?.ref, 'refs/heads/ccflow/verbose');
      assert.equal((await git(['-C', repo.bare, 'rev-parse', 'ccflow/verbose'])).trim(), head);
      assert.equal(result.repo?.baseCommit, repo.head);
      assert.equal((await git(['-C', repo.bare, 'rev-list', '--count', `${repo.head}..${head}`])).trim(), '2');
      assert.equal(
        (await git(['-C', repo.bare, 'rev-parse', `${head}^`])).trim(),
        first.changes?.headCommit,
        'the follow-up built on turn 1',
      );
      assert.match(
        await git(['-C', repo.bare, 'log', '-1', '--format=%an <%ae>%n%B', `${head}^`]),
        /^ccflow agent <agent@ccflow\.invalid>\n\[git-main\] Add a --verbose flag and document it\.\n\nccflow task git-main, turn 1/,
      );

      // The summary against `git diff --numstat` computed independently on the server's copy.
      const numstat = (await git(['-C', repo.bare, 'diff', '--numstat', '-M', repo.head, head]))
        .trim()
        .split('\n')
        .map((l) => l.split('\t'))
        .map(([ins, del, p]) => [p!.replace(/^.* => /, ''), ins === '-' ? 0 : Number(ins), del === '-' ? 0 : Number(del)]);
      assert.deepEqual(result.changes!.files.map((f) => [f.path, f.insertions, f.deletions]).sort(), numstat.sort());
      const shortstat = (await git(['-C', repo.bare, 'diff', '--shortstat', '-M', repo.head, head])).trim();
      assert.equal(shortstat, formatShortStat(result.changes!));
      const byPath = new Map(result.changes!.files.map((f) => [f.path, f]));
      assert.equal(byPath.get('renamed.txt')?.status, 'renamed');
      assert.equal(byPath.get('gone.txt')?.status, 'deleted');
      assert.equal(byPath.get('new.bin')?.binary, true);
      assert.ok(!byPath.has('debug.log') && ![...byPath.keys()].some((p) => p.startsWith('node_modules')), '.gitignore respected');

      // Apply onto a fresh clone: the same tree, byte for byte (same tree id).
      const clone = path.join(srvRoot, 'fresh');
      await git(['clone', '-q', server.daemonUrl('app.git'), clone]);
      const applied = await ccflow.apply('git-main', { dir: clone });
      assert.ok(applied.files.includes('docs/usage.md'));
      await git(['-C', clone, 'fetch', '-q', 'origin', 'ccflow/verbose']);
      assert.equal((await git(['-C', clone, 'write-tree'])).trim(), (await git(['-C', clone, 'rev-parse', 'FETCH_HEAD^{tree}'])).trim());

      // Checkout materialises the final tree with both commits.
      const checkout = path.join(srvRoot, 'checkout');
      const out = await ccflow.checkout('git-main', checkout);
      assert.equal(out.headCommit, head);
      assert.equal(
        (await git(['-C', checkout, 'rev-parse', 'HEAD^{tree}'])).trim(),
        (await git(['-C', repo.bare, 'rev-parse', `${head}^{tree}`])).trim(),
      );
      assert.equal((await git(['-C', checkout, 'rev-list', '--count', 'refs/ccflow/base..HEAD'])).trim(), '2');

      // The diff per turn and in all, as the CLI prints it.
      const turn2 = await ccflow.diff('git-main', { turn: 2 });
      assert.match(turn2, /^diff --git a\/docs\/usage\.md b\/docs\/usage\.md\n/);
      assert.match(turn2, /^\+Also: --quiet\.$/m);
      const cli = await execFileAsync(
        process.execPath,
        ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'diff', 'git-main', '--stat'],
        {
          cwd: PACKAGE_ROOT,
          env: { ...process.env, TEMPORAL_ADDRESS: h.server.address },
        },
      );
      assert.ok(cli.stdout.includes(` ${formatShortStat(result.changes!)}\n`), cli.stdout);
      assert.match(cli.stdout, /^ new\.bin +\| +Bin$/m);
      assert.match(cli.stdout, /^ rename moved\.txt => renamed\.txt \(\d+%\)$/m);
      assert.match(cli.stdout, /^ mode change 100644 => 100755 src\/cli\.py$/m);

      // Neither workflow history nor the artifacts hold the credential.
      const history = historyText(await handle.fetchHistory()).join('\n');
      for (const s of secrets()) assert.ok(!history.includes(s), 'credential in the history');
      assert.deepEqual(await filesContaining(h.tmp, secrets()), []);
      assert.equal(server.receivePackPosts(), 2, 'one push per turn');
    });

    if (o.full) {
      test('a push retried after the connection dropped does not push twice', async () => {
        const before = server.receivePackPosts();
        flaky.arm();
        const handle = await start('git-push-retry', {
          prompt: '[git-push-retry] Write retry.txt.',
          repo: { url: server.httpUrl('app.git') },
          push: { branch: 'ccflow/retry' },
        });
        const result = await handle.result();
        assert.deepEqual(await attempts(handle, 'pushChanges'), [2], 'the push activity succeeded on its second attempt');
        assert.equal(result.push?.status, 'up-to-date', 'the retry found its commit already there');
        assert.equal(server.receivePackPosts() - before, 1, 'one push reached the server');
        assert.equal((await git(['-C', repo.bare, 'rev-parse', 'ccflow/retry'])).trim(), result.changes?.headCommit);
      });

      test('continue: steps build on the previous step commit; the pipeline result holds the final change', async () => {
        const result = await h.client.workflow.execute<PipelineWorkflow>('pipeline', {
          taskQueue: h.taskQueue,
          workflowId: 'git-pipeline',
          args: [
            {
              defaults: { repo: { url: server.daemonUrl('app.git') } },
              steps: [
                { name: 'plan', prompt: '[git-plan] Start the file.' },
                { name: 'fix', prompt: 'Add a line.', dependsOn: 'plan', session: 'continue:plan' },
              ],
            },
          ],
        });
        assert.equal(result.changesStep, 'fix');
        assert.equal(result.changes?.baseCommit, repo.head);
        assert.deepEqual(result.changes?.files, [{ path: 'pipeline.txt', status: 'added', insertions: 2, deletions: 0 }]);
        const dir = path.join(srvRoot, 'pipeline-checkout');
        await ccflow.checkout('git-pipeline', dir);
        assert.equal(await readFile(path.join(dir, 'pipeline.txt'), 'utf8'), 'step one\nstep two\n');
        assert.equal((await git(['-C', dir, 'rev-list', '--count', 'refs/ccflow/base..HEAD'])).trim(), '2', 'one commit per step');
      });

      test('a wrong credential fails fast as RepoUnavailable, without retries or an agent run', async () => {
        const handle = await start('git-wrong-credential', { prompt: '[git-never] x', repo: { url: other.httpUrl('app.git') } });
        const f = await failureOf(handle.result());
        assert.equal(f.type, 'RepoUnavailable');
        assert.match(f.message, /credentials were refused or are missing/);
        assert.ok(!f.message.includes('a-wrong-password'));
        assert.deepEqual(await attempts(handle, 'prepareRepo'), [1]);
        assert.deepEqual(await attempts(handle, 'runClaude'), []);
      });

      test('a missing ref is named; a taken push branch is refused up front; an oversize repository gets a clear limit message', async () => {
        const missing = await failureOf(
          (
            await start('git-missing-ref', { prompt: '[git-never] x', repo: { url: server.httpUrl('app.git'), ref: 'no-such-branch' } })
          ).result(),
        );
        assert.equal(missing.type, 'RefNotFound');
        assert.match(missing.message, /ref "no-such-branch" was not found in http:\/\/127\.0\.0\.1:\d+\/app\.git/);
        // A push branch that already holds other work is refused before any agent runs.
        const taken = await failureOf(
          (
            await start('git-branch-taken', {
              prompt: '[git-never] x',
              repo: { url: server.httpUrl('app.git') },
              push: { branch: 'ccflow/verbose' },
            })
          ).result(),
        );
        assert.equal(taken.type, 'PushRejected');
        assert.match(taken.message, /push\.branch "ccflow\/verbose" already exists on .* which is not the commit this task starts from/);
        assert.deepEqual(await attempts(h.client.workflow.getHandle('git-branch-taken'), 'runClaude'), []);
        const big = await failureOf(
          (await start('git-too-big', { prompt: '[git-never] x', repo: { url: server.daemonUrl('big.git') } })).result(),
        );
        assert.equal(big.type, 'RepoTooLarge');
        assert.match(big.message, /big\.git at HEAD is too large: .*over this worker's limit of 2\.0 MiB \(CCFLOW_GIT_MAX_BYTES\)/);
      });
    }
  });
}

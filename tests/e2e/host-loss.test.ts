/**
 * Scale-out end to end: two `ccflow worker` processes, each its own "host" (its own host queue
 * and sandbox root), sharing one Temporal dev server and one S3 artifact store on a real
 * SeaweedFS. The host running a task is killed the way a machine dies: its worker is SIGKILLed
 * and its jailed processes with it. The task must then finish on the other host, resuming the
 * same Claude session from S3 when one was saved; the killed host, when it comes back, sweeps
 * what it left; and any machine reads the transcripts from S3.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import { SANDBOX_HOME } from '../../src/sandbox/layout.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import { followUpUpdate, closeSignal, statusQuery, type TaskStatus } from '../../src/workflows/messages.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const execFileAsync = promisify(execFile);
const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });
const bash = (command: string) => ({ toolUse: [{ name: 'Bash', input: { command } }] });

/** Long enough for the test to kill the host while the agent's tool runs. */
const TOOL_SECONDS = 15;

const script = {
  conversations: [
    {
      match: '\\[hl-scratch\\]',
      steps: [bash(`sleep ${TOOL_SECONDS} && echo finished > out.txt`), submit({ summary: 'slept and wrote out.txt' }), { text: 'Done.' }],
    },
    {
      match: '\\[hl-resume\\]',
      steps: [
        bash('echo "remember: 7c1d" > memory.txt'),
        submit({ summary: 'stored a note' }),
        { text: 'First turn over.' },
        // the follow-up: its host dies during the sleep; resumed on the other host, the script
        // (which plays by the turns already in the conversation) plays this step again
        bash(`sleep ${TOOL_SECONDS} && cat memory.txt`),
        submit({ summary: 'read the note back' }),
        { text: 'Second turn over.' },
      ],
    },
  ],
};

/** Timeouts that keep a failover under a minute: 10 s of heartbeat and of host start bound. */
const TIMEOUTS = { heartbeatSeconds: 10 };
const HOST_START_SECONDS = '10';

interface Host {
  name: string;
  queue: string;
  root: string;
  worker?: ChildProcess;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Resolves with `p`, or fails the test once `ms` have passed (a bound, not a measurement). */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Processes of jailed agents (claude, its shell, its MCP server): HOME is the sandbox's, and
 * they carry a model token this harness's proxy minted (workers share its state, so the
 * tokens of every host verify here).
 */
async function jailedProcesses(h: Harness): Promise<Array<{ pid: number; environ: string }>> {
  const found: Array<{ pid: number; environ: string }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = (await readFile(`/proc/${entry}/environ`).catch(() => undefined))?.toString('latin1');
    const token = /(?:^|\0)ANTHROPIC_API_KEY=(ccflow-sbx\.[^\0]*)/.exec(environ ?? '')?.[1];
    if (environ && token && h.security.ownsToken(token) && environ.split('\0').includes(`HOME=${SANDBOX_HOME}`)) {
      found.push({ pid: Number(entry), environ });
    }
  }
  return found;
}

/** The text of every tool_result block in a request's messages. */
function toolResults(body: unknown): string[] {
  const messages = (body as { messages?: Array<{ content?: unknown }> }).messages ?? [];
  return messages.flatMap((m) =>
    Array.isArray(m.content)
      ? m.content.filter((b: { type?: string }) => b.type === 'tool_result').map((b: unknown) => JSON.stringify(b))
      : [],
  );
}

/** The model's main requests for a tagged conversation. */
function requestsFor(h: Harness, tag: string) {
  return h.model.requests.filter((r) => !r.side && JSON.stringify(r.body ?? '').includes(tag));
}

describe('losing a host', () => {
  let h: Harness;
  let hosts: Host[];
  let tmp: string;

  /** Starts (or restarts, as a returning host) the worker of a host. */
  async function startHost(host: Host, env: Record<string, string> = {}): Promise<void> {
    host.worker = await h.spawnWorker({
      hostTaskQueue: host.queue,
      sandboxRoot: host.root,
      env: { CCFLOW_HOST_START_TIMEOUT_SECONDS: HOST_START_SECONDS, CCFLOW_LOG_LEVEL: 'WARN', ...env },
    });
  }

  /** The host whose sandbox root holds a sandbox. */
  function hostOf(sandboxId: string): Host {
    const host = hosts.find((x) => existsSync(path.join(x.root, sandboxId)));
    assert.ok(host, `no host holds sandbox ${sandboxId}`);
    return host;
  }

  /**
   * The machine dies: its worker is SIGKILLed and its jailed agents die with it (the only
   * agents running are this host's). With `disk: false` its sandbox directory goes too.
   */
  async function killHost(host: Host, o: { disk: boolean }): Promise<void> {
    const worker = host.worker;
    assert.ok(worker, `${host.name} runs no worker`);
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.kill('SIGKILL');
    await exited;
    host.worker = undefined;
    const jailed = await jailedProcesses(h);
    assert.ok(jailed.length > 0, 'the agent was running when the host died');
    for (const p of jailed) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch (err) {
        // Gone already: a jail's processes die with its first one.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    await waitFor('the jailed processes to die', async () => ((await jailedProcesses(h)).length === 0 ? true : undefined), 10_000);
    if (!o.disk) {
      // The machine's disk goes with it, the sandboxes' own disk images included.
      const mounts = (await readFile('/proc/mounts', 'utf8'))
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${host.root}/`));
      for (const m of mounts.sort().reverse()) execFileSync('umount', ['-l', m]);
      await rm(host.root, { recursive: true, force: true });
    }
  }

  before(async () => {
    h = await startHarness({ script, artifacts: 's3' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-hosts-'));
    const id = randomBytes(3).toString('hex');
    hosts = ['host-a', 'host-b'].map((name) => ({ name, queue: `${h.taskQueue}@${name}-${id}`, root: path.join(tmp, name) }));
    for (const host of hosts) await startHost(host);
  });
  after(async () => {
    await h?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('a host lost during the first turn: the task starts over on the other host and completes', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'hl-scratch',
      args: [{ prompt: '[hl-scratch] Sleep, then write out.txt.', timeouts: TIMEOUTS }],
    });
    // The agent is in its tool (the model answered the first request with the sleep).
    await waitFor('the agent to start its tool', async () => (requestsFor(h, '[hl-scratch]').length >= 1 ? true : undefined));
    await sleep(2_000);
    const status = await handle.query(statusQuery);
    assert.equal(status.phase, 'running');
    const first = status.sandboxId ?? '';
    const dead = hostOf(first);
    await killHost(dead, { disk: false });
    const lostAt = Date.now();

    const result = await within(120_000, 'the task completing on the other host', handle.result() as Promise<TaskResult>);
    assert.deepEqual(result.result, { summary: 'slept and wrote out.txt' });
    assert.equal(result.hostRestarts, 1);
    assert.notEqual(result.sandboxId, first);
    // Nothing had been saved: the other host started the task over, in a new conversation.
    const requests = requestsFor(h, '[hl-scratch]');
    assert.equal(new Set(requests.map((r) => r.conversationKey)).size, 2, 'two sessions: the lost one and the fresh start');
    const restartedAt = requests.find((r) => r.receivedAt > lostAt)?.receivedAt ?? lostAt;
    console.log(`# host loss → fresh agent on the other host: ${((restartedAt - lostAt) / 1000).toFixed(1)} s`);

    // The dead host comes back with an empty disk: nothing to sweep, and it takes work again.
    await startHost(dead);
  });

  test('a host lost during a follow-up: the other host restores the session from S3 and resumes it; the returning host sweeps its orphan', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'hl-resume',
      args: [{ prompt: '[hl-resume] Store a note in memory.txt.', timeouts: TIMEOUTS, keepAliveSeconds: 600 }],
    });
    await waitFor('the first turn to be saved', async () => ((await handle.query(statusQuery)).savedSession ? true : undefined));
    const firstSandbox = (await handle.query(statusQuery)).sandboxId ?? '';
    const dead = hostOf(firstSandbox);

    const followUp = handle.executeUpdate(followUpUpdate, { args: [{ prompt: 'Read memory.txt back to me.' }] });
    await waitFor('the follow-up agent to start its tool', async () =>
      requestsFor(h, '[hl-resume]').some((r) => JSON.stringify(r.body).includes('Read memory.txt back to me.')) ? true : undefined,
    );
    await sleep(2_000);

    // No secret reaches a sandbox: the jailed agent has neither the S3 key nor any AWS variable.
    const jailed = await jailedProcesses(h);
    assert.ok(jailed.length > 0);
    const s3Secret = h.artifactEnv.AWS_SECRET_ACCESS_KEY ?? '';
    for (const p of jailed) {
      assert.ok(!p.environ.includes(s3Secret), `pid ${p.pid} carries the S3 secret`);
      assert.ok(!/(^|\0)AWS_/.test(p.environ), `pid ${p.pid} carries AWS variables`);
    }

    const before = requestsFor(h, '[hl-resume]').length;
    await killHost(dead, { disk: true });
    const lostAt = Date.now();
    const turn = await within(120_000, 'the follow-up completing on the other host', followUp);
    assert.deepEqual(turn.result, { summary: 'read the note back' });
    assert.equal(turn.restored, true);
    assert.notEqual(turn.sandboxId, firstSandbox);
    const status: TaskStatus = await handle.query(statusQuery);
    assert.equal(status.hostRestarts, 1);

    // The same Claude session, resumed: the model saw the earlier turns, and the restored
    // workspace gave the note back.
    const resumed = requestsFor(h, '[hl-resume]').slice(before);
    assert.ok(resumed.length > 0);
    const firstResumed = resumed[0];
    assert.ok(firstResumed);
    const text = JSON.stringify(firstResumed.body);
    assert.match(text, /echo \\"remember: 7c1d\\" > memory\.txt/, 'the first turn is in the resumed conversation');
    assert.match(text, /Read memory\.txt back to me\./);
    assert.equal(firstResumed.conversationKey, requestsFor(h, '[hl-resume]')[0]?.conversationKey, 'the same session');
    assert.ok(
      resumed.some((r) => toolResults(r.body).some((t) => t.includes('remember: 7c1d'))),
      'a tool result shows the restored memory.txt',
    );
    console.log(`# host loss → resumed agent on the other host: ${((firstResumed.receivedAt - lostAt) / 1000).toFixed(1)} s`);

    // The killed host comes back with its disk: its own sweeper saves the runs it finds to S3
    // and destroys the orphan, while the task runs on elsewhere.
    assert.ok(existsSync(path.join(dead.root, firstSandbox)), 'the orphan survived on its disk');
    await startHost(dead, { CCFLOW_SWEEP_GRACE_SECONDS: '0' });
    await waitFor('the returning host to sweep its orphan', async () =>
      h.workerLog(dead.worker as ChildProcess).includes(`swept sandbox ${firstSandbox}`) ? true : undefined,
    );
    assert.equal(existsSync(path.join(dead.root, firstSandbox)), false);
    const saved = await h.artifacts.list({ namespace: 'default', workflowId: 'hl-resume' });
    assert.ok(saved.includes('runs/run-2/a1/transcript.jsonl'), `the lost run's transcript was saved: ${saved.join(', ')}`);

    await handle.signal(closeSignal);
    const result = (await handle.result()) as TaskResult;
    assert.equal(result.hostRestarts, 1);

    // No secret in history or in the workers' logs.
    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(!history.includes(s3Secret), 'no S3 secret in workflow history');
    for (const host of hosts)
      if (host.worker) assert.ok(!h.workerLog(host.worker).includes(s3Secret), `no S3 secret in ${host.name}'s log`);
  });

  test('ccflow logs on a third machine reads the transcripts from S3', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'ccflow-third-'));
    try {
      const third = (env: Record<string, string>) =>
        execFileAsync(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'logs', 'hl-resume'], {
          cwd: PACKAGE_ROOT,
          // Nothing of the workers' machines: its own HOME, no artifact directory.
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CCFLOW_HOME: home, TEMPORAL_ADDRESS: h.server.address, ...env },
        });
      const { stdout } = await third(h.artifactEnv);
      assert.match(stdout, /run-1/);
      assert.match(stdout, /remember: 7c1d/);
      assert.match(stdout, /read the note back/);
      // Only the endpoint and the key: the bucket and prefix come from the location the task recorded.
      const { CCFLOW_ARTIFACTS: _selected, ...endpointAndKeys } = h.artifactEnv;
      const again = await third(endpointAndKeys);
      assert.equal(again.stdout, stdout);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('a worker given a wrong S3 key refuses to start, saying what to fix', async () => {
    const err: unknown = await h
      .spawnWorker({
        hostTaskQueue: `${h.taskQueue}@wrong-key`,
        sandboxRoot: path.join(tmp, 'wrong-key'),
        env: { AWS_SECRET_ACCESS_KEY: 'wrong-secret-0123' },
      })
      .then(
        () => assert.fail('the worker started'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof Error);
    assert.match(err.message, /worker exited with 1/);
    assert.match(
      err.message,
      /the artifact store s3:\/\/ccflow-test\/\S+ at http:\/\/127\.0\.0\.1:\d+ cannot be used: .*refused ccflow's credentials/,
    );
    assert.match(err.message, /SignatureDoesNotMatch/);
    assert.match(err.message, /check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    assert.ok(!err.message.includes('wrong-secret-0123'), 'the secret is not printed');
  });
});

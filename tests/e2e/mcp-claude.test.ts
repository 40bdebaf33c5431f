/**
 * The real Claude Code CLI as the MCP client of `ccflow mcp`: an outer `claude -p` run (the
 * user's interactive session, played by the scripted model) starts a background task, waits
 * for it, sends a follow-up and closes it; the inner task is a real ccflow task with its own
 * sandbox and its own scripted conversation. The outer script reads every id and value from
 * the tool results the CLI sent back (`{{toolResult...}}`), as a model would. A second outer
 * session starts a task on a repository with an approval rule, approves the call it holds, and
 * reads the change.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { offeredTools, type RecordedRequest } from '../../src/testing/model/index.js';
import { claudeBinaryPath } from '../../src/worker/index.js';
import { makeRepo, testGit, type FixtureRepo } from '../helpers/git-fixtures.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { CCFLOW_MCP, mcpEnv } from '../helpers/mcp.js';

const tool = (name: string, input: Record<string, unknown>, text?: string) => ({
  ...(text ? { text } : {}),
  toolUse: [{ name: `mcp__ccflow__${name}`, input }],
});

const innerSchema = {
  type: 'object',
  properties: { words: { type: 'integer' }, summary: { type: 'string' } },
  required: ['words', 'summary'],
};

const script = {
  conversations: [
    {
      name: 'outer session',
      match: '\\[outer\\]',
      steps: [
        tool(
          'start_task',
          {
            prompt: '[inner] Count the words in words.txt.',
            resultSchema: innerSchema,
            files: { 'words.txt': 'alpha beta gamma' },
            keepAliveSeconds: 600,
          },
          "I'll run that in the background.",
        ),
        tool('wait_task', { workflowId: '{{toolResult.workflowId}}', timeoutSeconds: 600 }),
        tool(
          'follow_up',
          { workflowId: '{{toolResult.workflowId}}', prompt: 'Append the word delta and count again.', waitSeconds: 600 },
          'The first count is {{toolResult.result.words}} words. Sending a follow-up.',
        ),
        tool('cancel_task', { workflowId: '{{toolResult.workflowId}}', close: true }, 'Turn {{toolResult.turn}} is in; closing the task.'),
        {
          text: 'Done: the background task {{toolResult.workflowId}} reports {{toolResult.result.words}} words ({{toolResult.result.summary}}).',
        },
      ],
    },
    {
      name: 'inner task',
      match: '\\[inner\\]',
      steps: [
        { text: 'Counting.', toolUse: [{ name: 'Bash', input: { command: 'wc -w < words.txt' } }] },
        { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { words: 3, summary: 'words.txt has 3 words' } }] },
        { text: 'Counted.' },
        { toolUse: [{ name: 'Bash', input: { command: 'echo delta >> words.txt && wc -w < words.txt' } }] },
        { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { words: 4, summary: 'words.txt has 4 words after the follow-up' } }] },
        { text: 'Counted again.' },
      ],
    },
    {
      name: 'configured with claude mcp add',
      match: '\\[listed\\]',
      steps: [
        tool('list_tasks', { limit: 5 }),
        { text: 'The latest task is {{toolResult.tasks.0.workflowId}} ({{toolResult.tasks.0.status}}).' },
      ],
    },
  ],
};

const RULE = 'Bash(git push:*)';
const PUBLISH = 'git push --dry-run origin HEAD 2>/dev/null; echo published >> notes.txt';

/** The outer session that approves a held call and reads the change, on a repository made in before(). */
function approvalConversations(repo: FixtureRepo) {
  return [
    {
      name: 'outer approving session',
      match: '\\[outer-approve\\]',
      steps: [
        tool('start_task', {
          prompt: '[inner-approve] Write notes.txt and publish it.',
          repo: { url: repo.bare },
          approval: { tools: [RULE] },
        }),
        tool('wait_task', { workflowId: '{{toolResult.workflowId}}', timeoutSeconds: 600 }),
        tool(
          'approve',
          {
            workflowId: '{{toolResult.pendingApprovals.0.workflowId}}',
            requestId: '{{toolResult.pendingApprovals.0.requestId}}',
            decision: 'allow',
          },
          'The task wants to run {{toolResult.pendingApprovals.0.input.command}}; you said a dry run is fine, so I allow it.',
        ),
        tool('wait_task', { workflowId: '{{toolResult.workflowId}}', timeoutSeconds: 600 }),
        tool('get_changes', { workflowId: '{{toolResult.workflowId}}' }),
        {
          text: 'It changed {{toolResult.summary.filesChanged}} file ({{toolResult.summary.files.0.path}}, +{{toolResult.summary.insertions}}).',
        },
      ],
    },
    {
      name: 'inner approval task',
      match: '\\[inner-approve\\]',
      steps: [
        { text: 'Writing the notes.', toolUse: [{ name: 'Bash', input: { command: 'printf "hello\\n" > notes.txt' } }] },
        { text: 'Publishing.', toolUse: [{ name: 'Bash', input: { command: PUBLISH } }] },
        { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary: 'wrote and published notes.txt' } }] },
        { text: 'Done.' },
      ],
    },
  ];
}

interface StreamLine {
  type: string;
  subtype?: string;
  result?: string;
  is_error?: boolean;
  mcp_servers?: Array<{ name: string; status: string }>;
  message?: { content?: Array<{ type: string; text?: string; name?: string; content?: unknown; is_error?: boolean }> };
}

/** A `claude -p` run outside any sandbox, like a user's own session: prompt on stdin, stream-json out. */
async function runClaude(o: {
  cwd: string;
  home: string;
  args: string[];
  prompt: string;
  env?: Record<string, string>;
}): Promise<StreamLine[]> {
  const child = spawn(claudeBinaryPath(), ['-p', '--output-format', 'stream-json', '--verbose', ...o.args], {
    cwd: o.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: o.home,
      ANTHROPIC_BASE_URL: h.model.url,
      ANTHROPIC_API_KEY: 'sk-outer-session',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      // `ccflow mcp` runs from the sources through tsx here: give its start more than 30 s on a loaded machine.
      MCP_TIMEOUT: '120000',
      ...o.env,
    },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdin.end(o.prompt);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  // The README's excerpt of an outer session comes from here: CCFLOW_MCP_TRANSCRIPT=<file>.
  if (process.env.CCFLOW_MCP_TRANSCRIPT) await writeFile(process.env.CCFLOW_MCP_TRANSCRIPT, out, { flag: 'a' });
  const lines = out
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as StreamLine);
  assert.equal(code, 0, `claude exited with ${code}: ${err.slice(-2000)}\n${out.slice(-2000)}`);
  return lines;
}

function toolResults(lines: StreamLine[]): Array<{ text: string; isError: boolean }> {
  return lines
    .filter((l) => l.type === 'user')
    .flatMap((l) => l.message?.content ?? [])
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      text:
        typeof b.content === 'string'
          ? b.content
          : Array.isArray(b.content)
            ? (b.content as Array<{ text?: string }>).map((c) => c.text ?? '').join('\n')
            : JSON.stringify(b.content),
      isError: b.is_error === true,
    }));
}

function requestsOf(conversation: string): RecordedRequest[] {
  const index = script.conversations.findIndex((c) => c.name === conversation);
  return h.model.mainRequests().filter((r) => r.conversationIndex === index);
}

let h: Harness;
let home: string;
let repo: FixtureRepo;
let gitHome = '';
before(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'ccflow-outer-'));
  const git = await testGit();
  gitHome = git.home;
  repo = await makeRepo(git, path.join(home, 'repos'), 'notes.git', { files: { 'README.md': '# notes\n' } });
  script.conversations.push(...approvalConversations(repo));
  h = await startHarness({ script });
  await h.startWorker();
});
after(async () => {
  await h?.close();
  if (home) await rm(home, { recursive: true, force: true });
  if (gitHome) await rm(gitHome, { recursive: true, force: true });
});

describe('claude drives ccflow through `ccflow mcp`', () => {
  let lines: StreamLine[];
  let project: string;

  before(async () => {
    project = path.join(home, 'configured-by-flag');
    await mkdir(project, { recursive: true });
    const config = { mcpServers: { ccflow: { type: 'stdio', ...CCFLOW_MCP, env: mcpEnv(h), alwaysLoad: true } } };
    lines = await runClaude({
      cwd: project,
      home: path.join(home, 'home-a'),
      args: [
        '--mcp-config',
        JSON.stringify(config),
        '--strict-mcp-config',
        '--allowedTools',
        'mcp__ccflow',
        '--permission-mode',
        'dontAsk',
      ],
      prompt: '[outer] Count the words in a file in the background, then follow up once.',
    });
  });

  test('the CLI connected to ccflow and the model was offered its tools', () => {
    const init = lines.find((l) => l.type === 'system' && l.subtype === 'init');
    assert.equal(init?.mcp_servers?.find((s) => s.name === 'ccflow')?.status, 'connected');
    const first = requestsOf('outer session')[0];
    for (const name of [
      'start_task',
      'wait_task',
      'follow_up',
      'get_task',
      'cancel_task',
      'list_tasks',
      'run_pipeline',
      'approve',
      'get_changes',
    ]) {
      assert.ok(offeredTools(first?.body).includes(`mcp__ccflow__${name}`), `${name} is offered`);
    }
  });

  test('start_task, wait_task, follow_up and cancel_task all answered without error', () => {
    const results = toolResults(lines);
    assert.equal(results.length, 4, JSON.stringify(results, null, 2));
    for (const r of results) assert.equal(r.isError, false, r.text);
    assert.match(results[0]?.text ?? '', /"workflowId": "task-[0-9a-f-]+"/);
    assert.match(results[1]?.text ?? '', /"state": "open"[\s\S]*"words": 3/);
    assert.match(results[2]?.text ?? '', /"turn": 2[\s\S]*"words": 4/);
    assert.match(results[3]?.text ?? '', /"state": "succeeded"/);
  });

  test("the outer agent's final answer carries the inner task's result", () => {
    const result = lines.find((l) => l.type === 'result');
    assert.equal(result?.is_error, false);
    const workflowId = /"workflowId": "(task-[0-9a-f-]+)"/.exec(toolResults(lines)[0]?.text ?? '')?.[1];
    assert.equal(result?.result, `Done: the background task ${workflowId} reports 4 words (words.txt has 4 words after the follow-up).`);
    const texts = lines.flatMap((l) => (l.type === 'assistant' ? (l.message?.content ?? []) : [])).map((b) => b.text ?? '');
    assert.ok(texts.includes('The first count is 3 words. Sending a follow-up.'), texts.join(' | '));
  });

  test('the inner task ran as a real ccflow task: its own sandbox and conversation, two turns', async () => {
    const workflowId = /"workflowId": "(task-[0-9a-f-]+)"/.exec(toolResults(lines)[0]?.text ?? '')?.[1] ?? '';
    const done = (await h.client.workflow.getHandle(workflowId).result()) as {
      result: unknown;
      turns: Array<{ turn: number }>;
      sandboxId: string;
    };
    assert.deepEqual(done.result, { words: 4, summary: 'words.txt has 4 words after the follow-up' });
    assert.deepEqual(
      done.turns.map((t) => t.turn),
      [1, 2],
    );
    assert.match(done.sandboxId, /.+/);
    // Its requests came from claude inside the sandbox, with the harness's key, not the outer session's.
    assert.ok(requestsOf('inner task').length >= 6);
    // The model answered with what it was sent: its follow_up request carried the id start_task returned.
    const followUpRequest = requestsOf('outer session')[2];
    assert.match(JSON.stringify(followUpRequest?.body), new RegExp(workflowId));
    // The first turn's result, as the inner task saved it.
    const first = (await h.artifacts.get({ namespace: 'default', workflowId }, 'turns/1/result.json'))?.toString('utf8') ?? '';
    assert.match(first, /"words":\s*3/);
  });
});

describe('claude approves a held call and reads the change through `ccflow mcp`', () => {
  test('wait_task hands back the held call, approve allows it, get_changes shows the commit; the final answer says what changed', async () => {
    const project = path.join(home, 'approving');
    await mkdir(project, { recursive: true });
    const config = { mcpServers: { ccflow: { type: 'stdio', ...CCFLOW_MCP, env: mcpEnv(h), alwaysLoad: true } } };
    const lines = await runClaude({
      cwd: project,
      home: path.join(home, 'home-c'),
      args: [
        '--mcp-config',
        JSON.stringify(config),
        '--strict-mcp-config',
        '--allowedTools',
        'mcp__ccflow',
        '--permission-mode',
        'dontAsk',
      ],
      prompt: '[outer-approve] Have a background task write and publish notes; a dry-run push is fine.',
    });
    const results = toolResults(lines);
    assert.equal(results.length, 5, JSON.stringify(results, null, 2));
    for (const r of results) assert.equal(r.isError, false, r.text);
    assert.match(results[1]?.text ?? '', /"state": "waiting-for-approval"[\s\S]*"pendingApprovals"[\s\S]*"toolName": "Bash"/);
    assert.match(results[2]?.text ?? '', /"decision": "allow"/);
    assert.match(results[3]?.text ?? '', /"state": "succeeded"/);
    assert.match(results[4]?.text ?? '', /"path": "notes.txt"[\s\S]*\+hello\\n\+published/);
    const texts = lines.flatMap((l) => (l.type === 'assistant' ? (l.message?.content ?? []) : [])).map((b) => b.text ?? '');
    assert.ok(texts.includes(`The task wants to run ${PUBLISH}; you said a dry run is fine, so I allow it.`), texts.join(' | '));
    const result = lines.find((l) => l.type === 'result');
    assert.equal(result?.result, 'It changed 1 file (notes.txt, +2).');
    // The call ran once it was allowed: the task's commit has its line, on top of the repository's head.
    const workflowId = /"workflowId": "(task-[0-9a-f-]+)"/.exec(results[0]?.text ?? '')?.[1] ?? '';
    const done = (await h.client.workflow.getHandle(workflowId).result()) as { changes?: { baseCommit: string; filesChanged: number } };
    assert.equal(done.changes?.baseCommit, repo.head);
    assert.equal(done.changes?.filesChanged, 1);
  });
});

describe('the one-line setup: claude mcp add', () => {
  test('`claude mcp add ccflow -- <ccflow mcp>` registers it; a plain `claude -p` there is offered its tools and uses them', async () => {
    const project = path.join(home, 'configured-by-add');
    const homeB = path.join(home, 'home-b');
    await mkdir(project, { recursive: true });
    await mkdir(homeB, { recursive: true });
    const env = mcpEnv(h);
    const add = spawn(
      claudeBinaryPath(),
      [
        'mcp',
        'add',
        'ccflow',
        ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        '--',
        CCFLOW_MCP.command,
        ...CCFLOW_MCP.args,
      ],
      {
        cwd: project,
        env: { PATH: process.env.PATH ?? '', HOME: homeB, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
      },
    );
    let out = '';
    add.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    assert.equal(await new Promise((resolve) => add.once('exit', resolve)), 0);
    assert.match(out, /Added stdio MCP server ccflow/);
    const saved = JSON.parse(await readFile(path.join(homeB, '.claude.json'), 'utf8')) as {
      projects: Record<string, { mcpServers: Record<string, { command: string; alwaysLoad?: boolean }> }>;
    };
    const entry = saved.projects[project]?.mcpServers['ccflow'];
    assert.equal(entry?.command, CCFLOW_MCP.command);
    assert.equal(entry?.alwaysLoad, undefined, 'a plain add: nothing says alwaysLoad in the config');

    const lines = await runClaude({
      cwd: project,
      home: homeB,
      args: ['--allowedTools', 'mcp__ccflow', '--permission-mode', 'dontAsk'],
      prompt: '[listed] What is the latest background task?',
      // Print mode sends its first request without waiting for servers configured this way
      // (only --mcp-config servers are waited for); an interactive session has them a few
      // seconds in. A one-shot run has no later turn, so it asks the CLI to wait.
      env: { CLAUDE_CODE_MCP_STARTUP_WAIT_MS: '120000' },
    });
    // Offered directly even so: the server marks its tools alwaysLoad (no ToolSearch round).
    assert.ok(offeredTools(requestsOf('configured with claude mcp add')[0]?.body).includes('mcp__ccflow__list_tasks'));
    const result = lines.find((l) => l.type === 'result');
    assert.match(result?.result ?? '', /^The latest task is [\w.-]+ \((running|succeeded|failed|cancelled)\)\.$/);
  });
});

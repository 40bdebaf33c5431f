/**
 * Tests for the scripted model server: real HTTP against it, plus one run of
 * the real `claude` CLI. Offline and deterministic (no timing assertions).
 */
import { claudeBinaryPath } from '../../src/worker/index.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  NO_MATCH_TEXT,
  SCRIPT_FINISHED_TEXT,
  ScriptError,
  defaultScript,
  firstUserText,
  loadScript,
  offeredTools,
  parseScript,
  startModelServer,
} from '../../src/testing/model/index.js';
import type { ModelScript, ModelScriptInput, ModelServer, ToolRefusal } from '../../src/testing/model/index.js';

// ---------------------------------------------------------------- helpers

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => {
      let event = '';
      let data = '';
      for (const line of chunk.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

interface Block {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

/** Rebuilds content blocks and metadata from an SSE stream, as a client would. */
function assemble(events: SseEvent[]): { blocks: Block[]; stopReason: unknown; usage: Record<string, number> } {
  const blocks: Block[] = [];
  const json: string[] = [];
  let stopReason: unknown;
  let usage: Record<string, number> = {};
  for (const { event, data } of events) {
    const index = data['index'] as number;
    if (event === 'content_block_start') {
      blocks[index] = { ...(data['content_block'] as Block) };
      json[index] = '';
    } else if (event === 'content_block_delta') {
      const delta = data['delta'] as { type: string; text?: string; partial_json?: string };
      const block = blocks[index]!;
      if (delta.type === 'text_delta') block.text = (block.text ?? '') + delta.text;
      else json[index] += delta.partial_json ?? '';
    } else if (event === 'content_block_stop') {
      const block = blocks[index]!;
      if (block.type === 'tool_use') block.input = JSON.parse(json[index] || '{}');
    } else if (event === 'message_delta') {
      stopReason = (data['delta'] as Record<string, unknown>)['stop_reason'];
      usage = data['usage'] as Record<string, number>;
    }
  }
  return { blocks, stopReason, usage };
}

const TOOLS = [
  { name: 'Bash', description: 'run a command', input_schema: { type: 'object' } },
  { name: 'Read', description: 'read a file', input_schema: { type: 'object' } },
  { name: 'ToolSearch', description: 'load deferred tools', input_schema: { type: 'object' } },
  { name: 'DeferredToolPlaceholder', description: 'never call this', input_schema: { type: 'object' }, defer_loading: true },
];

/** A request body shaped like the CLI's main-conversation requests. */
function mainBody(opts: { prompt: string; assistants?: number; sessionId?: string; stream?: boolean }): Record<string, unknown> {
  const messages: unknown[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>\nsome reminder\n</system-reminder>\n' },
        { type: 'text', text: opts.prompt },
      ],
    },
    { role: 'system', content: 'environment details' },
  ];
  for (let i = 0; i < (opts.assistants ?? 0); i++) {
    messages.push({ role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${i}`, name: 'Bash', input: {} }] });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: 'ok' }] });
  }
  const body: Record<string, unknown> = {
    model: 'claude-test',
    max_tokens: 1000,
    system: [{ type: 'text', text: 'You are a test agent.' }],
    tools: TOOLS,
    messages,
    stream: opts.stream ?? true,
  };
  if (opts.sessionId) body['metadata'] = { user_id: JSON.stringify({ device_id: 'd', account_uuid: '', session_id: opts.sessionId }) };
  return body;
}

async function post(server: ModelServer, body: unknown, path = '/v1/messages?beta=true'): Promise<Response> {
  return fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'secret-test-key', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
}

async function streamed(server: ModelServer, body: unknown): Promise<ReturnType<typeof assemble> & { events: SseEvent[] }> {
  const res = await post(server, body);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = parseSse(await res.text());
  return { ...assemble(events), events };
}

function script(input: ModelScriptInput): ModelScript {
  return parseScript(input);
}

// ---------------------------------------------------------------- script loading

describe('script loading', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ccflow-script-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('loads a valid file and applies defaults', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(file, JSON.stringify({ conversations: [{ match: 'x', steps: [{ toolUse: [{ name: 'Bash' }] }, { text: 'done' }] }] }));
    const loaded = await loadScript(file);
    assert.deepEqual(loaded.conversations[0]?.steps[0]?.toolUse?.[0]?.input, {});
  });

  test('names the bad field', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ conversations: [{ steps: [{ text: 'a' }, { toolUse: [{ name: 42 }] }] }] }));
    await assert.rejects(loadScript(file), (err: unknown) => {
      assert.ok(err instanceof ScriptError);
      assert.match(err.message, /bad\.json/);
      assert.match(err.message, /conversations\[0\]\.steps\[1\]\.toolUse\[0\]\.name/);
      return true;
    });
  });

  test('rejects unknown keys, bad regexes, empty steps and bad JSON', async () => {
    assert.throws(() => parseScript({ conversations: [{ steps: [{ text: 'a', toolUses: [] }] }] }), /toolUses/);
    assert.throws(
      () => parseScript({ conversations: [{ match: '(', steps: [] }] }),
      /conversations\[0\]\.match: not a valid regular expression/,
    );
    assert.throws(() => parseScript({ conversations: [{ steps: [{ delayMs: 5 }] }] }), /conversations\[0\]\.steps\[0\]/);
    assert.throws(() => parseScript({ conversations: [{ steps: [{ error: { status: 200 } }] }] }), /steps\[0\]\.error\.status/);
    assert.throws(() => parseScript({ conversations: [] }), /conversations/);
    const file = join(dir, 'broken.json');
    await writeFile(file, '{ not json');
    await assert.rejects(loadScript(file), /not valid JSON/);
    await assert.rejects(loadScript(join(dir, 'missing.json')), /cannot read model script/);
  });

  test('default script writes hello.txt with Bash, then submits a result', () => {
    const steps = defaultScript.conversations[0]?.steps ?? [];
    assert.equal(steps[0]?.toolUse?.[0]?.name, 'Bash');
    assert.match(String(steps[0]?.toolUse?.[0]?.input['command']), /> hello\.txt/);
    assert.equal(steps[1]?.toolUse?.[0]?.name, 'mcp__ccflow__submit_result');
    assert.match(String(steps[1]?.toolUse?.[0]?.input['summary']), /hello\.txt/);
    assert.equal(steps[2]?.toolUse, undefined);
    assert.ok(steps[2]?.text);
  });
});

// ---------------------------------------------------------------- HTTP behaviour

describe('model server', () => {
  let server: ModelServer;
  const base = script({
    conversations: [
      { match: '^special', steps: [{ text: 'special answer' }] },
      {
        steps: [
          {
            text: "I'll write the file. ".repeat(5),
            toolUse: [
              { name: 'Bash', input: { command: 'echo hi > hello.txt', description: 'x'.repeat(60) } },
              { name: 'Read', input: { file_path: 'hello.txt' } },
            ],
          },
          { text: 'Done.' },
        ],
      },
    ],
  });
  before(async () => {
    server = await startModelServer({ script: base });
  });
  after(async () => {
    await server.close();
  });

  test('answers HEAD /, count_tokens and unknown routes', async () => {
    assert.equal((await fetch(server.url + '/', { method: 'HEAD' })).status, 200);
    const count = await post(server, mainBody({ prompt: 'x' }), '/v1/messages/count_tokens');
    assert.equal(count.status, 200);
    assert.ok(((await count.json()) as { input_tokens: number }).input_tokens > 0);
    const missing = await fetch(server.url + '/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(((await missing.json()) as { type: string; error: { type: string } }).error.type, 'not_found_error');
  });

  test('streams text and tool_use blocks in the Messages SSE shape', async () => {
    const { events, blocks, stopReason, usage } = await streamed(server, mainBody({ prompt: 'write hello' }));
    const names = events.map((e) => e.event);
    assert.equal(names[0], 'message_start');
    assert.deepEqual(names.slice(-2), ['message_delta', 'message_stop']);
    assert.ok(names.filter((n) => n === 'content_block_delta').length > 3, 'text and json come in several deltas');
    const start = events[0]?.data['message'] as { model: string; role: string; usage: { input_tokens: number } };
    assert.equal(start.model, 'claude-test');
    assert.equal(start.role, 'assistant');
    assert.ok(start.usage.input_tokens > 0);
    assert.equal(blocks[0]?.type, 'text');
    assert.equal(blocks[0]?.text, "I'll write the file. ".repeat(5));
    assert.equal(blocks[1]?.name, 'Bash');
    assert.deepEqual(blocks[1]?.input, { command: 'echo hi > hello.txt', description: 'x'.repeat(60) });
    assert.deepEqual(blocks[2]?.input, { file_path: 'hello.txt' });
    assert.match(blocks[1]?.id ?? '', /^toolu_\w+$/);
    assert.notEqual(blocks[1]?.id, blocks[2]?.id);
    assert.equal(stopReason, 'tool_use');
    assert.ok((usage['output_tokens'] ?? 0) > 0);
  });

  test('tool ids are unique across requests', async () => {
    const a = await streamed(server, mainBody({ prompt: 'write hello' }));
    const b = await streamed(server, mainBody({ prompt: 'write hello' }));
    assert.notEqual(a.blocks[1]?.id, b.blocks[1]?.id);
  });

  test('selects the step by assistant count and the conversation by match', async () => {
    const second = await streamed(server, mainBody({ prompt: 'write hello', assistants: 1 }));
    assert.equal(second.blocks[0]?.text, 'Done.');
    assert.equal(second.stopReason, 'end_turn');
    const past = await streamed(server, mainBody({ prompt: 'write hello', assistants: 2 }));
    assert.equal(past.blocks[0]?.text, SCRIPT_FINISHED_TEXT);
    // `^special` only matches because the system-reminder block is stripped.
    const special = await streamed(server, mainBody({ prompt: 'special task' }));
    assert.equal(special.blocks[0]?.text, 'special answer');
    const rec = server.requests.at(-1);
    assert.equal(rec?.conversationIndex, 0);
    assert.equal(rec?.stepIndex, 0);
  });

  test('answers non-streaming requests with a JSON message', async () => {
    const res = await post(server, mainBody({ prompt: 'write hello', assistants: 1, stream: false }));
    assert.equal(res.status, 200);
    const msg = (await res.json()) as {
      type: string;
      content: Block[];
      stop_reason: string;
      usage: { input_tokens: number; output_tokens: number };
    };
    assert.equal(msg.type, 'message');
    assert.deepEqual(msg.content, [{ type: 'text', text: 'Done.' }]);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
  });

  test('answers tool-less side requests without consuming steps, and records them', async () => {
    const before = server.requests.length;
    const side = { model: 'claude-haiku', max_tokens: 50, messages: [{ role: 'user', content: 'write hello' }], stream: true };
    const { blocks, stopReason } = await streamed(server, side);
    assert.equal(blocks[0]?.type, 'text');
    assert.equal(stopReason, 'end_turn');
    const rec = server.requests[before];
    assert.equal(rec?.side, true);
    assert.equal(rec?.stepIndex, undefined);
    assert.ok(!server.mainRequests().includes(rec!));
  });

  test('records requests without storing the API key', async () => {
    await fetch(server.url + '/v1/messages', {
      method: 'POST',
      body: JSON.stringify(mainBody({ prompt: 'write hello', sessionId: 'sess-rec' })),
    });
    const noKey = server.requests.at(-1);
    assert.equal(noKey?.hasApiKey, false);
    assert.equal(noKey?.path, '/v1/messages');
    assert.equal(noKey?.conversationKey?.startsWith('sess-rec:'), true);
    assert.equal(typeof noKey?.receivedAt, 'number');
    assert.ok(server.requests.some((r) => r.hasApiKey));
    assert.ok(!JSON.stringify(server.requests).includes('secret-test-key'));
  });

  test('rejects a non-JSON body with an invalid_request_error', async () => {
    const res = await fetch(server.url + '/v1/messages', { method: 'POST', body: 'nope' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  });
});

describe('only tools the request offered', () => {
  let server: ModelServer;
  const refused: ToolRefusal[] = [];
  before(async () => {
    server = await startModelServer({
      script: script({
        conversations: [
          {
            name: 'unoffered',
            match: '^call Write',
            steps: [{ text: 'Writing.', toolUse: [{ name: 'Write', input: { file_path: 'a' } }] }],
          },
          { name: 'placeholder', match: '^call placeholder', steps: [{ toolUse: [{ name: 'DeferredToolPlaceholder', input: {} }] }] },
          {
            name: 'search then call',
            match: '^search',
            steps: [
              { toolUse: [{ name: 'ToolSearch', input: { query: 'select:WebFetch', max_results: 1 } }] },
              { toolUse: [{ name: 'WebFetch', input: { url: 'https://example.com' } }] },
            ],
          },
        ],
      }),
      onRefusal: (r) => refused.push(r),
    });
  });
  after(async () => {
    await server.close();
  });

  test('a tool missing from tools is refused with a 400 naming it and what was offered, and recorded', async () => {
    const res = await post(server, mainBody({ prompt: 'call Write' }));
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    const { error } = (await res.json()) as { error: { type: string; message: string } };
    assert.equal(error.type, 'invalid_request_error');
    assert.match(
      error.message,
      /step 0 of conversation unoffered calls "Write", which this request did not offer; offered: Bash, Read, ToolSearch$/,
    );
    const recorded = server.refusals();
    assert.equal(recorded.length, 1);
    assert.deepEqual(recorded[0]?.tools, ['Write']);
    assert.deepEqual(recorded[0]?.offered, ['Bash', 'Read', 'ToolSearch']);
    assert.equal(server.requests.at(-1)?.status, 400);
    assert.deepEqual(refused, recorded, 'onRefusal sees every refusal');
  });

  test('a deferred tool is not callable, however it is listed', async () => {
    const res = await post(server, mainBody({ prompt: 'call placeholder' }));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /"DeferredToolPlaceholder"/);
  });

  test('a deferred tool becomes callable once a tool search returned a tool_reference to it', async () => {
    const searched = await streamed(server, mainBody({ prompt: 'search' }));
    assert.equal(searched.blocks[0]?.name, 'ToolSearch');
    const webFetch = { name: 'WebFetch', description: 'fetch a URL', input_schema: { type: 'object' }, defer_loading: true };
    const body = mainBody({ prompt: 'search' });
    body['tools'] = [...TOOLS, webFetch];
    const before = server.refusals().length;
    // Listed as deferred but never loaded: refused.
    (body['messages'] as unknown[]).push(
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_s', name: 'ToolSearch', input: { query: 'select:WebFetch' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_s', content: 'No matching deferred tools found' }] },
    );
    assert.equal((await post(server, body)).status, 400);
    assert.equal(server.refusals().length, before + 1);
    // Loaded: the tool_result holds a tool_reference, as the CLI sends it.
    (body['messages'] as Array<{ content: unknown }>).at(-1)!.content = [
      { type: 'tool_result', tool_use_id: 'toolu_s', content: [{ type: 'tool_reference', tool_name: 'WebFetch' }] },
    ];
    const called = await streamed(server, body);
    assert.equal(called.blocks[0]?.name, 'WebFetch');
    assert.equal(server.refusals().length, before + 1);
  });

  test('offeredTools: undeferred tools plus the deferred ones a search loaded', () => {
    assert.deepEqual(offeredTools(mainBody({ prompt: 'x' })), ['Bash', 'Read', 'ToolSearch']);
    assert.deepEqual(offeredTools({ messages: [] }), []);
  });
});

describe('error injection', () => {
  let server: ModelServer;
  const failing = script({
    conversations: [
      { match: 'permanent', steps: [{ error: { status: 401, message: 'invalid x-api-key' } }] },
      { match: 'slow', steps: [{ delayMs: 20, text: 'slow answer' }] },
      {
        steps: [
          { failFirst: [{ status: 429, retryAfterSeconds: 1 }, { status: 529 }], text: 'recovered' },
          { failFirst: [{ status: 500, message: 'boom' }], text: 'second' },
        ],
      },
    ],
  });
  before(async () => {
    server = await startModelServer({ script: failing });
  });
  after(async () => {
    await server.close();
  });

  test('failFirst fails the first requests of a conversation, then answers', async () => {
    const body = mainBody({ prompt: 'flaky', sessionId: 'sess-a' });
    const r1 = await post(server, body);
    assert.equal(r1.status, 429);
    assert.equal(r1.headers.get('retry-after'), '1');
    assert.deepEqual(await r1.json(), {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'scripted rate_limit_error (HTTP 429)' },
    });
    const r2 = await post(server, body);
    assert.equal(r2.status, 529);
    assert.equal(r2.headers.get('retry-after'), null);
    assert.equal(((await r2.json()) as { error: { type: string } }).error.type, 'overloaded_error');
    const r3 = await streamed(server, body);
    assert.equal(r3.blocks[0]?.text, 'recovered');
    // Counters are per step: the next step has its own failFirst.
    const s1 = await post(server, mainBody({ prompt: 'flaky', sessionId: 'sess-a', assistants: 1 }));
    assert.equal(s1.status, 500);
    assert.deepEqual(((await s1.json()) as { error: unknown }).error, { type: 'api_error', message: 'boom' });
    // ...and per conversation: another session starts failing afresh.
    assert.equal((await post(server, mainBody({ prompt: 'flaky', sessionId: 'sess-b' }))).status, 429);
    // Without a session id the prompt hash identifies the conversation.
    assert.equal((await post(server, mainBody({ prompt: 'flaky no session' }))).status, 429);
    assert.equal((await post(server, mainBody({ prompt: 'flaky no session' }))).status, 529);
    assert.equal((await post(server, mainBody({ prompt: 'flaky no session' }))).status, 200);
    assert.deepEqual(
      server
        .mainRequests()
        .filter((r) => r.conversationKey?.startsWith('sess-a:'))
        .map((r) => [r.stepIndex, r.status]),
      [
        [0, 429],
        [0, 529],
        [0, 200],
        [1, 500],
      ],
    );
  });

  test('a permanent error fails every time and tells the client not to retry', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await post(server, mainBody({ prompt: 'permanent', sessionId: 'sess-p' }));
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-should-retry'), 'false');
      assert.deepEqual(await res.json(), { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    }
  });

  test('delayMs still answers', async () => {
    const { blocks } = await streamed(server, mainBody({ prompt: 'slow' }));
    assert.equal(blocks[0]?.text, 'slow answer');
  });

  test('50 concurrent conversations each get their own failFirst sequence', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const body = mainBody({ prompt: 'flaky', sessionId: `conc-${i}` });
        const seen: number[] = [];
        for (;;) {
          const res = await post(server, body);
          seen.push(res.status);
          await res.arrayBuffer();
          if (res.status === 200) return seen;
        }
      }),
    );
    for (const seen of statuses) assert.deepEqual(seen, [429, 529, 200]);
  });

  test('setScript replaces the script and resets failFirst progress', async () => {
    server.setScript(script({ conversations: [{ steps: [{ failFirst: [{ status: 503 }], text: 'new script' }] }] }));
    const body = mainBody({ prompt: 'flaky', sessionId: 'sess-a' });
    const res = await post(server, body);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'api_error');
    assert.equal((await streamed(server, body)).blocks[0]?.text, 'new script');
  });

  test('close() does not wait for pending delays', async () => {
    const slow = await startModelServer({ script: script({ conversations: [{ steps: [{ delayMs: 600_000, text: 'never' }] }] }) });
    const pending = post(slow, mainBody({ prompt: 'x' })).then(
      () => 'answered',
      () => 'dropped',
    );
    while (slow.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await slow.close();
    assert.equal(await pending, 'dropped');
  });

  test('reports unmatched prompts as text', async () => {
    const strict = await startModelServer({ script: script({ conversations: [{ match: '^only this$', steps: [{ text: 'x' }] }] }) });
    try {
      const { blocks } = await streamed(strict, mainBody({ prompt: 'something else' }));
      assert.equal(blocks[0]?.text, NO_MATCH_TEXT);
    } finally {
      await strict.close();
    }
  });
});

// ---------------------------------------------------------------- real CLI

function runClaude(
  bin: string,
  cwd: string,
  env: Record<string, string>,
  prompt: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin,
      ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'dontAsk', '--allowedTools', 'Bash'],
      { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(prompt);
  });
}

test('the real claude CLI runs a script offline', { timeout: 120_000 }, async () => {
  const bin = claudeBinaryPath();
  const root = await mkdtemp(join(tmpdir(), 'ccflow-cli-'));
  const cwd = join(root, 'work');
  const home = join(root, 'home');
  await Promise.all([mkdir(cwd), mkdir(home)]);
  const server = await startModelServer({
    script: script({
      conversations: [
        {
          steps: [
            {
              text: "I'll write the file.",
              toolUse: [{ name: 'Bash', input: { command: "echo 'Hello from ccflow' > hello.txt", description: 'Write hello.txt' } }],
            },
            { text: 'Wrote hello.txt.' },
          ],
        },
      ],
    }),
  });
  try {
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      ANTHROPIC_BASE_URL: server.url,
      ANTHROPIC_API_KEY: 'test-key',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
    };
    const { code, stdout, stderr } = await runClaude(bin, cwd, env, 'Please write hello.txt');
    assert.equal(code, 0, `claude failed: ${stderr}`);
    assert.equal(await readFile(join(cwd, 'hello.txt'), 'utf8'), 'Hello from ccflow\n');
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const result = lines.filter((l) => l['type'] === 'result').at(-1);
    assert.equal(result?.['subtype'], 'success');
    assert.equal(result?.['is_error'], false);
    assert.equal(result?.['result'], 'Wrote hello.txt.');
    assert.ok(Number(result?.['total_cost_usd']) > 0);
    const main = server.mainRequests();
    assert.deepEqual(
      main.map((r) => r.stepIndex),
      [0, 1],
    );
    assert.ok(server.requests.every((r) => r.hasApiKey));
    assert.equal(new Set(main.map((r) => r.conversationKey)).size, 1);
    assert.ok(main[0]?.conversationKey?.startsWith(String(result?.['session_id'])), 'conversation key carries the CLI session id');
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('the real claude CLI defers WebFetch: a script may call it only after a tool search loaded it', { timeout: 120_000 }, async () => {
  const bin = claudeBinaryPath();
  const root = await mkdtemp(join(tmpdir(), 'ccflow-cli-'));
  const home = join(root, 'home');
  await mkdir(home);
  const fetchCall = { name: 'WebFetch', input: { url: 'https://example.com/', prompt: 'Summarize the page.' } };
  const server = await startModelServer({
    script: script({
      conversations: [
        { match: '^Fetch directly', steps: [{ toolUse: [fetchCall] }, { text: 'unreachable' }] },
        {
          match: '^Search first',
          steps: [
            { toolUse: [{ name: 'ToolSearch', input: { query: 'select:WebFetch', max_results: 1 } }] },
            { toolUse: [fetchCall] },
            { text: 'Could not fetch it.' },
          ],
        },
      ],
    }),
  });
  try {
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      ANTHROPIC_BASE_URL: server.url,
      ANTHROPIC_API_KEY: 'test-key',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
    };
    const resultOf = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l['type'] === 'result')
        .at(-1);

    // Called without a search: the model server refuses, as the real API would never emit it.
    // Claude 2.1.330 answers a 400 that mentions a tool by retrying twice, then resending with
    // tool search off (every deferred tool inline), where WebFetch is offered and may be called.
    const direct = await runClaude(bin, root, env, 'Fetch directly https://example.com/');
    assert.equal(direct.code, 0, direct.stderr);
    assert.deepEqual(
      server.refusals().map((r) => r.tools),
      [['WebFetch'], ['WebFetch'], ['WebFetch']],
    );
    const directMain = server.mainRequests().filter((r) => /^Fetch directly/.test(firstUserText(r.body)));
    assert.deepEqual(
      directMain.map((r) => r.status),
      [400, 400, 400, 200, 200],
    );
    const fallback = directMain[3]?.body as { tools: Array<{ name: string; defer_loading?: boolean }> };
    assert.ok(!fallback.tools.some((t) => t.defer_loading), 'the fallback request defers nothing');
    assert.ok(offeredTools(fallback).includes('WebFetch'));
    assert.ok(!offeredTools(fallback).includes('ToolSearch'));

    // Searched first: the CLI answers with a tool_reference and offers the tool from then on.
    const searched = await runClaude(bin, root, env, 'Search first, then fetch https://example.com/');
    assert.equal(searched.code, 0, searched.stderr);
    assert.equal(server.refusals().length, 3, 'no new refusal');
    const main = server.mainRequests().filter((r) => /^Search first/.test(firstUserText(r.body)));
    assert.deepEqual(
      main.map((r) => r.stepIndex),
      [0, 1, 2],
    );
    assert.ok(!offeredTools(main[0]?.body).includes('WebFetch'));
    assert.ok(offeredTools(main[1]?.body).includes('WebFetch'));
    // WebFetch is not in --allowedTools, so under dontAsk the CLI refuses to run it.
    const result = resultOf(searched.stdout);
    assert.equal(result?.['subtype'], 'success');
    assert.deepEqual(
      (result?.['permission_denials'] as Array<{ tool_name: string }>).map((d) => d.tool_name),
      ['WebFetch'],
    );
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
});

// Drives the real in-sandbox result server (plain JS, no build) as a subprocess over stdio,
// through the MCP SDK client: exactly what claude sees as mcp__ccflow__submit_result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const SERVER = fileURLToPath(new URL('../../sandbox-template/result-server/server.mjs', import.meta.url));

const SIMPLE_SCHEMA = {
  type: 'object',
  description: 'Outcome of the review',
  properties: {
    summary: { type: 'string', description: 'One-line summary of the outcome' },
    score: { type: 'integer', minimum: 0, maximum: 10 },
  },
  required: ['summary', 'score'],
};

// The schema as ccflow would produce it from a zod schema: draft 2020-12, $defs, tuples.
const Finding = z.object({
  file: z.string(),
  severity: z.enum(['low', 'high']),
  span: z.tuple([z.int(), z.int()]).optional(),
});
const NESTED_SCHEMA = z.toJSONSchema(
  z.object({
    status: z.enum(['ok', 'failed']).describe('Overall verdict'),
    findings: z.array(Finding),
    meta: z.object({ reviewed: z.boolean(), notes: z.string().nullable() }),
  }),
);

interface Started {
  client: Client;
  resultFile: string;
  attemptsFile: string;
  stderr: () => string;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccflow-result-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startServer(t: TestContext, schema: object): Promise<Started> {
  const dir = tempDir(t);
  const schemaFile = join(dir, 'schema.json');
  writeFileSync(schemaFile, JSON.stringify(schema));
  const resultFile = join(dir, 'out', 'result.json');
  const attemptsFile = join(dir, 'out', 'attempts.jsonl');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVER],
    env: {
      PATH: process.env.PATH ?? '',
      CCFLOW_RESULT_SCHEMA_FILE: schemaFile,
      CCFLOW_RESULT_FILE: resultFile,
      CCFLOW_RESULT_ATTEMPTS_FILE: attemptsFile,
    },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'ccflow-test', version: '0.0.0' });
  await client.connect(transport);
  t.after(() => client.close());
  return { client, resultFile, attemptsFile, stderr: () => stderr };
}

async function submit(client: Client, args: Record<string, unknown>) {
  return client.callTool({ name: 'submit_result', arguments: args });
}

function textOf(result: Awaited<ReturnType<typeof submit>>): string {
  const content = result.content as Array<{ type: string; text?: string }>;
  return content.map((c) => c.text ?? '').join('\n');
}

function readAttempts(file: string): Array<{ at: string; arguments: unknown; valid: boolean; errors?: string[] }> {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** Asserts the call is rejected with InvalidParams and returns the message the client sees. */
async function rejected(call: Promise<unknown>): Promise<string> {
  let message = '';
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof McpError, `expected McpError, got ${String(err)}`);
    assert.equal(err.code, ErrorCode.InvalidParams);
    message = err.message;
    return true;
  });
  return message;
}

describe('result server', () => {
  it('lists exactly one tool, submit_result, with the schema as its input', async (t) => {
    const { client } = await startServer(t, SIMPLE_SCHEMA);
    const { tools } = await client.listTools();
    assert.equal(tools.length, 1);
    const [tool] = tools;
    assert.equal(tool?.name, 'submit_result');
    assert.deepEqual(tool?._meta, { 'anthropic/alwaysLoad': true });
    assert.match(tool?.description ?? '', /exactly once/);
    assert.match(tool?.description ?? '', /Outcome of the review/);
    assert.equal(tool?.inputSchema.type, 'object');
    assert.deepEqual(tool?.inputSchema.properties, SIMPLE_SCHEMA.properties);
    assert.deepEqual(tool?.inputSchema.required, SIMPLE_SCHEMA.required);
  });

  it('writes a valid submission to the result file and answers success', async (t) => {
    const { client, resultFile, attemptsFile } = await startServer(t, SIMPLE_SCHEMA);
    const args = { summary: 'all good', score: 7 };
    const result = await submit(client, args);
    assert.ok(!result.isError);
    assert.match(textOf(result), /Result submitted/);
    assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), args);
    const attempts = readAttempts(attemptsFile);
    assert.equal(attempts.length, 1);
    assert.deepEqual(attempts[0]?.arguments, args);
    assert.equal(attempts[0]?.valid, true);
    assert.equal(attempts[0]?.errors, undefined);
    assert.ok(!Number.isNaN(Date.parse(attempts[0]?.at ?? '')));
  });

  it('rejects an invalid call naming each bad field, writes no result, records the attempt', async (t) => {
    const { client, resultFile, attemptsFile } = await startServer(t, SIMPLE_SCHEMA);
    const args = { score: 'high' }; // summary missing, score of the wrong type
    const message = await rejected(submit(client, args));
    assert.match(message, /summary: Required field missing/);
    assert.match(message, /score: .*expected number/);
    assert.equal(existsSync(resultFile), false);

    const attempts = readAttempts(attemptsFile);
    assert.equal(attempts.length, 1);
    assert.deepEqual(attempts[0]?.arguments, args);
    assert.equal(attempts[0]?.valid, false);
    assert.equal(attempts[0]?.errors?.length, 2);
    assert.match(attempts[0]?.errors?.join('\n') ?? '', /^summary: .*\n^score: /m);

    // The server survives a bad call: a corrected one still goes through.
    const ok = await submit(client, { summary: 'fixed', score: 3 });
    assert.ok(!ok.isError);
    assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), { summary: 'fixed', score: 3 });
  });

  it('handles nested objects, arrays, enums and tuples from a zod-made 2020-12 schema', async (t) => {
    const { client, resultFile } = await startServer(t, NESTED_SCHEMA);
    const [tool] = (await client.listTools()).tools;
    assert.deepEqual(Object.keys(tool?.inputSchema.properties ?? {}), ['status', 'findings', 'meta']);
    assert.deepEqual(tool?.inputSchema.required, ['status', 'findings', 'meta']);

    const message = await rejected(
      submit(client, {
        status: 'maybe',
        findings: [
          { file: 'a.ts', severity: 'low' },
          { severity: 'urgent', span: [1, 'x'] },
        ],
        meta: { reviewed: 'yes' },
      }),
    );
    for (const field of ['status', 'findings.1.file', 'findings.1.severity', 'findings.1.span.1', 'meta.reviewed']) {
      assert.match(message, new RegExp(`${field.replaceAll('.', '\\.')}: `), `error should name ${field}`);
    }
    // A missing nullable field (an anyOf in JSON Schema) still reads as missing, not "Invalid input".
    assert.match(message, /meta\.notes: Required field missing/);
    assert.doesNotMatch(message, /findings\.0/);
    assert.equal(existsSync(resultFile), false);

    const args = {
      status: 'ok',
      findings: [
        { file: 'a.ts', severity: 'high', span: [3, 9] },
        { file: 'b.ts', severity: 'low' },
      ],
      meta: { reviewed: true, notes: null },
    };
    const result = await submit(client, args);
    assert.ok(!result.isError);
    assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), args);
  });

  it('replaces the result on a second valid call, keeps it on an invalid one', async (t) => {
    const { client, resultFile, attemptsFile } = await startServer(t, SIMPLE_SCHEMA);
    await submit(client, { summary: 'first', score: 1 });
    const second = await submit(client, { summary: 'second', score: 2 });
    assert.ok(!second.isError);
    assert.match(textOf(second), /result replaced/i);
    assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), { summary: 'second', score: 2 });

    await rejected(submit(client, { summary: 'third' }));
    assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), { summary: 'second', score: 2 });
    assert.deepEqual(
      readAttempts(attemptsFile).map((a) => a.valid),
      [true, true, false],
    );
  });

  it('logs to stderr only, so stdout stays pure MCP', async (t) => {
    const { client, stderr } = await startServer(t, SIMPLE_SCHEMA);
    await submit(client, { summary: 'x', score: 0 });
    // Anything non-protocol on stdout would have broken the client calls above.
    assert.match(stderr(), /result written/);
  });

  describe('bad configuration exits 2 with a message', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [SERVER], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 });

    it('without CCFLOW_RESULT_SCHEMA_FILE', () => {
      const r = run({ CCFLOW_RESULT_FILE: join(tmpdir(), 'never-written.json') });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /CCFLOW_RESULT_SCHEMA_FILE is not set/);
      assert.equal(r.stdout, '');
    });

    it('without CCFLOW_RESULT_FILE', (t) => {
      const schemaFile = join(tempDir(t), 'schema.json');
      writeFileSync(schemaFile, JSON.stringify(SIMPLE_SCHEMA));
      const r = run({ CCFLOW_RESULT_SCHEMA_FILE: schemaFile });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /CCFLOW_RESULT_FILE is not set/);
    });

    it('with an unreadable or non-object schema', (t) => {
      const dir = tempDir(t);
      const resultFile = join(dir, 'result.json');
      const missing = run({ CCFLOW_RESULT_SCHEMA_FILE: join(dir, 'nope.json'), CCFLOW_RESULT_FILE: resultFile });
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /cannot read result schema/);

      const schemaFile = join(dir, 'schema.json');
      writeFileSync(schemaFile, JSON.stringify({ type: 'string' }));
      const notObject = run({ CCFLOW_RESULT_SCHEMA_FILE: schemaFile, CCFLOW_RESULT_FILE: resultFile });
      assert.equal(notObject.status, 2);
      assert.match(notObject.stderr, /must be a JSON Schema with "type": "object"/);
    });
  });
});

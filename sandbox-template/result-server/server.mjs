#!/usr/bin/env node
// @ts-check
/**
 * ccflow result server: an MCP server (stdio) with one tool, `submit_result`, through which
 * the agent hands back its structured result. Plain JS, no build step: it is copied into
 * sandbox images as is and resolves `fastmcp`/`zod` from the nearest node_modules above it.
 *
 * Env contract (set by ccflow in the --mcp-config entry for this server):
 *   CCFLOW_RESULT_SCHEMA_FILE    JSON file holding the result's JSON Schema (an object schema)
 *   CCFLOW_RESULT_FILE           where a valid submission is written (JSON of the arguments)
 *   CCFLOW_RESULT_ATTEMPTS_FILE  optional; every call appended as {at, arguments, valid, errors?}
 *
 * stdout carries the MCP protocol, so everything else goes to stderr.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FastMCP, UserError } from 'fastmcp';
import { z } from 'zod';

/** @param {string} message @returns {never} */
function fail(message) {
  process.stderr.write(`ccflow result-server: ${message}\n`);
  process.exit(2);
}

const schemaFile = process.env.CCFLOW_RESULT_SCHEMA_FILE;
const resultFile = process.env.CCFLOW_RESULT_FILE;
const attemptsFile = process.env.CCFLOW_RESULT_ATTEMPTS_FILE || undefined;
if (!schemaFile) fail('CCFLOW_RESULT_SCHEMA_FILE is not set (path to the result JSON Schema)');
if (!resultFile) fail('CCFLOW_RESULT_FILE is not set (path where the result is written)');

/** @type {Record<string, any>} */
let schema;
try {
  schema = JSON.parse(readFileSync(schemaFile, 'utf8'));
} catch (err) {
  fail(`cannot read result schema ${schemaFile}: ${err instanceof Error ? err.message : err}`);
}
if (typeof schema !== 'object' || schema === null || schema.type !== 'object') {
  fail(`result schema in ${schemaFile} must be a JSON Schema with "type": "object"`);
}

// zod validates (it understands draft 2020-12, which z.toJSONSchema emits, unlike fastmcp's
// AJV-based jsonSchemaAdapter in its default draft-07 mode).
/** @type {z.ZodType} */
let validator;
try {
  validator = z.fromJSONSchema(/** @type {any} */ (schema));
} catch (err) {
  fail(`result schema in ${schemaFile} is not usable: ${err instanceof Error ? err.message : err}`);
}

/** @param {readonly import('@standard-schema/spec').StandardSchemaV1.Issue[]} issues */
const describeIssues = (issues) =>
  issues.map((i) => `${i.path?.map((p) => (typeof p === 'object' ? p.key : p)).join('.') || 'root'}: ${i.message}`);

// zod's default for an absent field ("expected string, received undefined") hides that it is
// simply missing; say so plainly so the model knows what to add.
/** @param {z.core.$ZodRawIssue} iss */
const missingFieldMessage = (iss) =>
  iss.input !== undefined
    ? undefined
    : iss.code === 'invalid_type'
      ? `Required field missing (expected ${iss.expected})`
      : 'Required field missing';

/** @param {unknown} args @param {string[]} [errors] */
function recordAttempt(args, errors) {
  if (!attemptsFile) return;
  const line = { at: new Date().toISOString(), arguments: args, valid: !errors, ...(errors && { errors }) };
  try {
    mkdirSync(dirname(attemptsFile), { recursive: true });
    appendFileSync(attemptsFile, `${JSON.stringify(line)}\n`);
  } catch (err) {
    console.error('ccflow result-server: cannot record attempt:', err);
  }
}

/**
 * The tool's parameters: advertised as the task's own schema (not zod's lossy round trip of
 * it), validated by zod. Wrapping validate lets us record invalid calls too, which fastmcp
 * rejects before `execute` ever runs.
 * @type {import('@standard-schema/spec').StandardSchemaV1 & { '~standard': { jsonSchema: { input: () => any, output: () => any } } }}
 */
const parameters = {
  '~standard': {
    version: 1,
    vendor: 'ccflow',
    jsonSchema: { input: () => schema, output: () => schema },
    validate: async (value) => {
      const parsed = await validator.safeParseAsync(value, { error: missingFieldMessage });
      if (parsed.success) return { value: parsed.data };
      recordAttempt(value, describeIssues(parsed.error.issues));
      return { issues: parsed.error.issues };
    },
  },
};

// fastmcp's default logger is `console`, whose info/log/debug would write to stdout.
const toStderr = (/** @type {unknown[]} */ ...args) => console.error(...args);
const logger = { debug: toStderr, error: toStderr, info: toStderr, log: toStderr, warn: toStderr };

const server = new FastMCP({ name: 'ccflow', version: '0.1.0', logger });
let submitted = false;

server.addTool({
  name: 'submit_result',
  description:
    'Submit the final result of your task. Call this exactly once, at the very end, when all ' +
    'other work is done, with arguments matching the schema; the result is recorded only ' +
    'through this tool. If the call is rejected, fix the listed fields and call it again.' +
    (typeof schema.description === 'string' ? `\n\nThe result: ${schema.description}` : ''),
  parameters,
  // Offered to the model in every request rather than deferred behind ToolSearch (the
  // --mcp-config entry says the same with `alwaysLoad`; this covers clients that read tools).
  _meta: { 'anthropic/alwaysLoad': true },
  execute: async (args) => {
    // Temp file + rename: a reader never sees a half-written result.
    const tmp = `${resultFile}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(resultFile), { recursive: true });
      writeFileSync(tmp, `${JSON.stringify(args, null, 2)}\n`);
      renameSync(tmp, resultFile);
    } catch (err) {
      throw new UserError(`The result could not be saved (${err instanceof Error ? err.message : err}); call submit_result again.`);
    }
    recordAttempt(args);
    // A later valid call replaces the result (the model may have corrected itself); say so.
    const replaced = submitted;
    submitted = true;
    console.error(`ccflow result-server: result ${replaced ? 'replaced' : 'written'} (${resultFile})`);
    return replaced
      ? 'Result replaced: this submission overwrote the earlier one. Your task is complete.'
      : 'Result submitted. Your task is complete.';
  },
});

await server.start({ transportType: 'stdio' });

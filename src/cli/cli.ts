import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ccflowHome } from '../home.js';
import { startDevServer, temporalBinary } from '../testing/dev-server.js';
import type { TaskSpecInput } from '../schemas/task-spec.js';
import { CcflowClient } from '../client/client.js';
import { runDemo } from './demo.js';

const HELP = `ccflow: run Claude Code as durable background jobs on Temporal

Usage: ccflow <command> [options]

Tasks
  run "prompt" [options]     Start an agentTask, wait, print its validated result
      --schema <file.json>     JSON Schema of the result (default: {summary: string})
      --files <dir>            Seed the workspace with this directory's files
      --model <name>           Model for claude (--model)
      --max-turns <n>          Turn limit
      --max-budget-usd <usd>   Spending limit for one run
      --provider <local|e2b>   Sandbox provider (default: the worker's)
      --id <workflowId>        Workflow id (default: task-<uuid>)
      --no-wait                Print the workflow id and return
      --json                   Print progress events and the result as JSON lines
      --quiet                  No progress, only the result
      --keep-alive <seconds>   Stay open for follow-ups this long after each result;
                               prints the first result and returns
  followup <id> "prompt" [--schema <file.json>] [--json]
                             Next turn in the same Claude session: an open task runs it
                             (Update "followUp"); a closed one is continued in a new task
  close <id>                 End an open task's keep-alive window now (signal "close")
  watch <id> [--json]        Live progress of a task, then its result
  status <id> [--json]       Where a task is now (phase, turns, cost, tool, agent text)
  result <id> [--json]       Wait for a task and print its result
  logs <id> [--raw] [--dir <artifacts dir>]
                             The task's saved transcripts, readable
  list [--status running|succeeded|failed|cancelled|terminated|timed-out] [--limit 20] [--json]
                             Recent tasks with status, turns, cost, duration
  cancel <id> [--no-wait]    Cancel a task; waits until its sandbox is torn down

Pipelines
  pipeline run <file.yaml|file.json> [--id <id>] [--no-wait] [--json]
                             Run named agent steps (dependsOn, templates, when, sessions),
                             showing each step's state as it changes, then the results

Infrastructure
  server [--port 7233] [--ui-port 8233] [--db <file>] [--headless]
                             Temporal dev server with Web UI, stored in a SQLite file
                             (default db: $CCFLOW_HOME/temporal.db)
  worker                     Worker on task queue "ccflow" (TEMPORAL_ADDRESS, default localhost:7233)
  dev [--port] [--ui-port] [--db]
                             Dev server and a worker in one process
  temporal <args...>         The pinned Temporal CLI, e.g. ccflow temporal workflow list
  model serve [--script <file.json>] [--port <n>]
                             Scripted Anthropic-compatible model server for offline runs
  demo [--keep]              Dev server + worker + scripted model + one task, end to end
  sweep [--grace <minutes>] [--dry-run]
                             Destroy this host's sandboxes whose task is closed or gone
                             and older than the grace period (default 15 minutes)

Environment
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE     Where the Temporal server is
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL    Model endpoint (read by the worker only)
  CCFLOW_SANDBOX=local|e2b                 Worker's default sandbox provider
  CCFLOW_HOME                              State directory (default ~/.ccflow)
  CCFLOW_UNSAFE_NO_SANDBOX=1               Run agents without bubblewrap (no isolation)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case 'run':
      return runCommand(rest);
    case 'watch':
    case 'status':
    case 'result':
    case 'logs':
    case 'list':
    case 'cancel':
      return taskCommand(command, rest);
    case 'followup':
      return (await import('./cli-sessions.js')).followupCommand(rest);
    case 'close':
      return (await import('./cli-sessions.js')).closeCommand(rest);
    case 'pipeline':
      return (await import('./cli-sessions.js')).pipelineCommand(rest);
    case 'server':
      return serverCommand(rest);
    case 'worker': {
      const { runWorker } = await import('../worker/index.js');
      await runWorker();
      return 0;
    }
    case 'dev':
      return devCommand(rest);
    case 'temporal':
      return temporalCommand(rest);
    case 'sweep':
      return sweepCommand(rest);
    case 'model':
      return modelCommand(rest);
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { keep: { type: 'boolean', default: false } } });
      return runDemo({ keep: values.keep ?? false });
    }
    default:
      process.stderr.write(`ccflow: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      schema: { type: 'string' },
      files: { type: 'string' },
      model: { type: 'string' },
      'max-turns': { type: 'string' },
      'max-budget-usd': { type: 'string' },
      provider: { type: 'string' },
      id: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      'keep-alive': { type: 'string' },
    },
  });
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('ccflow run needs a prompt: ccflow run "what the agent should do"');

  const spec: TaskSpecInput = { prompt };
  if (values.schema) spec.resultSchema = await readJsonFile(values.schema, '--schema');
  if (values.files) spec.files = await readWorkspaceFiles(values.files);
  if (values.model) spec.model = values.model;
  if (values['max-turns']) spec.maxTurns = parseNumber(values['max-turns'], '--max-turns');
  if (values['max-budget-usd']) spec.maxBudgetUsd = parseNumber(values['max-budget-usd'], '--max-budget-usd');
  if (values.provider) spec.sandbox = { provider: values.provider as 'local' | 'e2b' };
  if (values['keep-alive']) spec.keepAliveSeconds = parseNumber(values['keep-alive'], '--keep-alive');

  const client = await CcflowClient.connect();
  try {
    const handle = await client.start(spec, { workflowId: values.id });
    process.stderr.write(`started ${handle.workflowId}\n`);
    if (values['no-wait']) {
      process.stdout.write(`${handle.workflowId}\n`);
      return 0;
    }
    if (spec.keepAliveSeconds) {
      // The task stays open: print its first result and leave it to follow-ups.
      const { waitForFirstTurn } = await import('../client/follow-up.js');
      const first = await waitForFirstTurn(client.temporal, handle.workflowId);
      process.stdout.write(values.json ? `${JSON.stringify(first, null, 2)}\n` : `${formatResult(first)}\n`);
      process.stderr.write(`${handle.workflowId} stays open for ${spec.keepAliveSeconds} s: ccflow followup ${handle.workflowId} "..."\n`);
      return 0;
    }
    const { followTask, interruptSignal } = await import('./commands.js');
    return await followTask(client, handle.workflowId, {
      json: values.json ?? false,
      quiet: values.quiet ?? false,
      signal: interruptSignal(),
    });
  } finally {
    await client.close();
  }
}

export function formatResult(r: {
  workflowId: string;
  result: Record<string, unknown>;
  sessionId: string;
  numTurns: number;
  totalCostUsd: number;
  durationMs: number;
  artifactsDir?: string;
}): string {
  const lines = [
    `result of ${r.workflowId}:`,
    JSON.stringify(r.result, null, 2),
    `session ${r.sessionId} · ${r.numTurns} turns · $${r.totalCostUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  if (r.artifactsDir) lines.push(`transcripts: ${r.artifactsDir}`);
  return lines.join('\n');
}

/** watch, status, result, logs, list, cancel: see commands.ts. */
async function taskCommand(command: string, args: string[]): Promise<number> {
  const commands = await import('./commands.js');
  const run = {
    watch: commands.watchCommand,
    status: commands.statusCommand,
    result: commands.resultCommand,
    logs: commands.logsCommand,
    list: commands.listCommand,
    cancel: commands.cancelCommand,
  }[command];
  if (!run) throw new UsageError(`unknown command "${command}"`);
  const client = await CcflowClient.connect();
  try {
    return await run(args, client);
  } finally {
    await client.close();
  }
}

async function serverCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '7233' },
      'ui-port': { type: 'string' },
      db: { type: 'string' },
      headless: { type: 'boolean', default: false },
      ip: { type: 'string', default: '127.0.0.1' },
    },
  });
  const port = parseNumber(values.port ?? '7233', '--port');
  const server = await startDevServer({
    port,
    uiPort: values['ui-port'] ? parseNumber(values['ui-port'], '--ui-port') : undefined,
    dbFile: values.db ?? path.join(ccflowHome(), 'temporal.db'),
    headless: values.headless,
    ip: values.ip,
    inheritStdio: true,
    readyTimeoutMs: 60_000,
  });
  process.stderr.write(`Temporal dev server on ${server.address}${server.uiUrl ? `, Web UI at ${server.uiUrl}` : ''}\n`);
  await waitForSignal();
  await server.stop();
  return 0;
}

async function devCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string', default: '7233' }, 'ui-port': { type: 'string' }, db: { type: 'string' } },
  });
  const server = await startDevServer({
    port: parseNumber(values.port ?? '7233', '--port'),
    uiPort: values['ui-port'] ? parseNumber(values['ui-port'], '--ui-port') : undefined,
    dbFile: values.db ?? path.join(ccflowHome(), 'temporal.db'),
  });
  process.stderr.write(`Temporal dev server on ${server.address}, Web UI at ${server.uiUrl}\n`);
  const { runWorker } = await import('../worker/index.js');
  try {
    await runWorker({ ...process.env, TEMPORAL_ADDRESS: server.address });
  } finally {
    await server.stop();
  }
  return 0;
}

async function temporalCommand(args: string[]): Promise<number> {
  // `--input @file.json` reads the input from a file (the CLI itself spells it --input-file).
  args = args.flatMap((a, i) => {
    const prev = args[i - 1];
    if ((prev === '--input' || prev === '-i') && a.startsWith('@')) return [a.slice(1)];
    if ((a === '--input' || a === '-i') && args[i + 1]?.startsWith('@')) return ['--input-file'];
    return [a];
  });
  const child = spawn(temporalBinary(), args, { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function modelCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'serve') throw new UsageError('usage: ccflow model serve [--script <file.json>] [--port <n>]');
  const { values } = parseArgs({ args: rest, options: { script: { type: 'string' }, port: { type: 'string' } } });
  const { serveModelCommand } = await import('../testing/model/index.js');
  await serveModelCommand({ scriptPath: values.script, port: values.port ? parseNumber(values.port, '--port') : undefined });
  return 0;
}

async function sweepCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { grace: { type: 'string', default: '15' }, 'dry-run': { type: 'boolean', default: false } },
  });
  const { loadWorkerConfig } = await import('../worker/index.js');
  const { buildProviders } = await import('../worker/index.js');
  const { sweepOrphans } = await import('../worker/index.js');
  const config = loadWorkerConfig();
  const providers = Object.values(buildProviders(config)).filter((p) => p !== undefined);
  const client = await CcflowClient.connect({ address: config.address, namespace: config.namespace });
  try {
    const decisions = await sweepOrphans({
      providers,
      client: client.temporal,
      graceMs: parseNumber(values.grace ?? '15', '--grace') * 60_000,
      dryRun: values['dry-run'],
    });
    for (const d of decisions) {
      process.stdout.write(`${d.action.padEnd(13)} ${d.provider}/${d.sandboxId}  ${d.workflowId ?? '-'}  ${d.reason}\n`);
    }
    const removed = decisions.filter((d) => d.action !== 'kept').length;
    process.stdout.write(`${removed} of ${decisions.length} sandbox(es) ${values['dry-run'] ? 'would be' : 'were'} destroyed\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/** A mistake in how ccflow was called: printed without a stack trace. */
export class UsageError extends Error {}

function parseNumber(raw: string, flag: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number, not "${raw}"`);
  return n;
}

/** Reads a JSON file named by a CLI flag; errors name the flag and the file. */
export async function readJsonFile(file: string, flag: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${flag}: ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Workspace seed files travel in the workflow input, so they are kept small. */
const MAX_SEED_BYTES = 512 * 1024;
const SKIP_DIRS = new Set(['.git', 'node_modules']);

async function readWorkspaceFiles(dir: string): Promise<Record<string, string>> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`--files: ${dir} is not a directory`);
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) await walk(relPath);
      } else if (entry.isFile()) {
        const content = await readFile(path.join(dir, relPath), 'utf8');
        total += Buffer.byteLength(content);
        if (total > MAX_SEED_BYTES) {
          throw new UsageError(
            `--files: ${dir} holds more than ${MAX_SEED_BYTES / 1024} KB; seed files travel in workflow history, keep them small`,
          );
        }
        out[relPath] = content;
      }
    }
  };
  await walk('');
  return out;
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

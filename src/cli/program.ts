import { Command, Option } from 'commander';
import type { CcflowClient } from '../client/index.js';
import { PROVIDER_NAMES } from '../domain/constants.js';
import { STATUS_QUERIES } from '../client/list.js';
import { EXIT_CODES_HELP, UsageError } from './errors.js';
import { networkPolicy, nonNegativeInteger, number, port, positiveInteger } from './input.js';
import { interruptSignal, type Io } from './output.js';

const ENVIRONMENT_HELP = `Environment:
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE     where the Temporal server is (default localhost:7233, default)
  CCFLOW_TASK_QUEUE                        the task queue workers poll and tasks start on (default ccflow)
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL    model endpoint (read by the worker only)
  CCFLOW_SANDBOX=local|e2b                 the worker's default sandbox provider
  CCFLOW_HOME                              state directory (default ~/.ccflow)
  CCFLOW_ARTIFACTS=s3://bucket/prefix      the artifact store shared by hosts (worker, logs, sweep); with
                                           CCFLOW_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
  CCFLOW_ARTIFACT_DIR                      the local artifact store (default $CCFLOW_HOME/artifacts)
  CCFLOW_UNSAFE_NO_SANDBOX=1               run agents without bubblewrap (no isolation)
  CCFLOW_MODEL_PROXY_URL                   the worker's model proxy as E2B sandboxes reach it
  CCFLOW_NETWORK_MAX=none|model|allow|open the most a task's network policy may allow (worker)
  CCFLOW_NATS_URL, CCFLOW_NATS_CREDS       workers publish live events (token deltas, tool calls) there
  NATS_URL, NATS_CONTEXT, NATS_CREDS, ...  where \`ccflow nats\` connects (as the nats CLI reads them)`;

/** Loads a command module only when its command runs, so `ccflow status` never loads the worker. */
const tasks = () => import('./commands/tasks.js');
const sessions = () => import('./commands/sessions.js');
const infra = () => import('./commands/infra.js');
const approvals = () => import('./commands/approvals.js');
const changes = () => import('./commands/changes.js');

/** Runs a command that needs a connected client. */
async function withClient<T>(fn: (client: CcflowClient) => Promise<T>): Promise<T> {
  const { CcflowClient } = await import('../client/index.js');
  const client = await CcflowClient.connect();
  try {
    return await fn(client);
  } finally {
    await client.disconnect();
  }
}

/**
 * The `ccflow` command line. Every option is declared here once, so each command's `--help`
 * is generated from the same definitions that parse it. Actions set `exitCode`.
 */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('ccflow')
    .description('Run Claude Code as durable background jobs on Temporal')
    .showSuggestionAfterError(false)
    .exitOverride()
    // commander's own errors (unknown option, missing argument) as one line; set before the
    // subcommands are made, which inherit it.
    .configureOutput({ outputError: (message, write) => write(`ccflow: ${message.replace(/^error: /, '').split('\n')[0]}\n`) })
    .addHelpText('after', `\n${ENVIRONMENT_HELP}\n\n${EXIT_CODES_HELP}\n`);
  const done = (p: Promise<number>) => p.then(setExit);

  program
    .command('run')
    .description('start an agentTask, follow its progress, print its validated result')
    .argument('<prompt...>', 'what the agent should do')
    .option('--schema <file.json>', 'JSON Schema of the result (default: {summary: string})')
    .option('--files <dir>', "seed the workspace with this directory's files")
    .option('--model <name>', 'model for claude (--model)')
    .option('--max-turns <n>', 'turn limit of each agent run', positiveInteger)
    .option('--max-budget-usd <usd>', 'spending limit of the whole task', number)
    .addOption(new Option('--provider <name>', 'sandbox provider (default: the worker default)').choices(PROVIDER_NAMES))
    .option(
      '--network <policy>',
      'what the agent can reach: none, model (the default: the model only), open (public hosts), or hosts allowed besides the model, e.g. packages.example.com,*.example.org',
      networkPolicy,
    )
    .option('--id <workflowId>', 'workflow id (default: task-<uuid>)')
    .option('--no-wait', 'print the workflow id and return')
    .option('--json', 'print progress events and the result as JSON lines')
    .option('--quiet', 'no progress, only the result')
    .option('--keep-alive <seconds>', 'stay open for follow-ups this long after each result; prints the first result and returns', number)
    .option(
      '--ask <rule>',
      'calls matching this permission rule wait for `ccflow approve`, e.g. "Bash(git push:*)" (repeatable)',
      (rule: string, rules: string[] = []) => [...rules, rule],
    )
    .option('--ask-timeout <seconds>', 'how long a call waits for an answer before it is denied (default: no limit)', positiveInteger)
    .option('--repo <url|path>', 'work on this git repository (fetched by the worker with its own credentials)')
    .option('--ref <rev>', "branch, tag or commit of --repo to start from (default: the remote's HEAD)")
    .option('--depth <n>', 'commits of history to fetch (0: all; default 1)', nonNegativeInteger)
    .option('--push <branch>', 'push the commits to this branch of --repo after each turn')
    .action((words: string[], o) => done(import('./commands/run.js').then((m) => m.runCommand(words.join(' ').trim(), o, io))));

  program
    .command('followup')
    .description('the next prompt in the same Claude session: an open task runs it, a closed one is continued in a new task')
    .argument('<workflowId>', 'the task')
    .argument('<prompt...>', 'what the agent should do next')
    .option('--schema <file.json>', "JSON Schema of this turn's result (default: the task's)")
    .option('--id <workflowId>', 'workflow id of the continuing task, if the task is closed')
    .option('--json', 'print the outcome as JSON')
    .action((id: string, words: string[], o) => done(sessions().then((m) => m.followupCommand(id, words, o, io))));

  program
    .command('close')
    .description("end an open task's keep-alive window now (follow-ups it accepted still run)")
    .argument('<workflowId>')
    .action((id: string) => done(sessions().then((m) => m.closeCommand(id, io))));

  program
    .command('watch')
    .description('follow a running (or finished) task, then print its result')
    .argument('<workflowId>')
    .option('--json', 'print progress events as JSON lines')
    .option('--quiet', 'print only the result')
    .action((id: string, o) => done(withClient(async (c) => (await tasks()).watchCommand(id, o, c, io))));

  program
    .command('status')
    .description('one look at a task: phase, turns, cost, tool, agent text, or its outcome')
    .argument('<workflowId>')
    .option('--json', 'print the progress event as JSON')
    .action((id: string, o) => done(withClient(async (c) => (await tasks()).statusCommand(id, o, c, io))));

  program
    .command('result')
    .description('wait for a task and print its result (exit 1 if it did not succeed)')
    .argument('<workflowId>')
    .option('--json', 'print the whole TaskResult')
    .action((id: string, o) => done(withClient(async (c) => (await tasks()).resultCommand(id, o, c, io))));

  program
    .command('logs')
    .description("a task's saved transcripts, rendered readably")
    .argument('<workflowId>')
    .option('--raw', 'print the stream-json as saved')
    .option('--dir <dir>', "the task's artifact directory (default: the artifact store, CCFLOW_ARTIFACTS or CCFLOW_ARTIFACT_DIR)")
    .action((id: string, o) => done(withClient(async (c) => (await tasks()).logsCommand(id, o, c, io))));

  program
    .command('diff')
    .description("a task's change to its repository as a patch (a pipeline's final change, given the pipeline's id)")
    .argument('<workflowId>')
    .option('--turn <n>', "only this turn's change (1 = the task prompt)", positiveInteger)
    .option('--stat', 'a diffstat instead of the patch')
    .option('--artifacts <dir>', "the task's artifacts directory (default: from the task, else CCFLOW_ARTIFACT_DIR)")
    .action((id: string, o) => done(changes().then((m) => m.diffCommand(id, o, io))));

  program
    .command('apply')
    .description("apply a task's change to a checkout, 3-way; exit 1 on conflicts, naming the files")
    .argument('<workflowId>')
    .option('--dir <checkout>', 'the checkout (default: the current directory)')
    .option('--artifacts <dir>', "the task's artifacts directory (default: from the task, else CCFLOW_ARTIFACT_DIR)")
    .action((id: string, o) => done(changes().then((m) => m.applyCommand(id, o, io))));

  program
    .command('checkout')
    .description("the task's final tree as a new git checkout, its commits on the task's branch")
    .argument('<workflowId>')
    .argument('<dir>', 'a new or empty directory')
    .option('--artifacts <dir>', "the task's artifacts directory (default: from the task, else CCFLOW_ARTIFACT_DIR)")
    .action((id: string, dir: string, o) => done(changes().then((m) => m.checkoutCommand(id, dir, o, io))));

  program
    .command('list')
    .description('recent tasks: status, turns, cost, duration')
    .addOption(new Option('--status <status>', 'only tasks in this state').choices(Object.keys(STATUS_QUERIES)))
    .option('--limit <n>', 'how many', positiveInteger, 20)
    .option('--query <visibility query>', "a Temporal visibility query ANDed with the rest, e.g. 'CcflowCostUsd > 1'")
    .option('--json', 'one JSON line per task')
    .action((o) => done(withClient(async (c) => (await tasks()).listCommand(o, c, io))));

  program
    .command('cancel')
    .description('cancel a task; waits until its agent is killed and its sandbox is gone')
    .argument('<workflowId>')
    .option('--no-wait', 'return once the cancellation is requested')
    .action((id: string, o) => done(withClient(async (c) => (await tasks()).cancelCommand(id, o, c, io))));

  program
    .command('approvals')
    .description('tool calls waiting for a human, across all tasks (found through the CcflowWaiting search attribute)')
    .option('--watch', 'keep watching: a line when a request appears and when it goes away')
    .option('--json', 'one JSON line per request')
    .action((o: { watch?: boolean; json?: boolean }) =>
      done(withClient(async (c) => (await approvals()).approvalsCommand(o.watch ? { ...o, signal: interruptSignal() } : o, c, io))),
    );

  program
    .command('approve')
    .description('answer a tool call waiting for a human: allow it (the default) or deny it with a reason the agent reads')
    .argument('<id>', 'a task, a pipeline, or one request (<workflowId>/<requestId>, as `ccflow approvals` shows it)')
    .option('--deny', 'refuse the call; the agent gets the reason as the tool error and goes on')
    .option('--reason <text>', 'why (the agent reads it on --deny)')
    .option('--remember', 'allow the rules this call matched for the rest of the task (with allow only)')
    .option('--request <requestId>', 'the request to answer, when the id names several or to be sure it is the one you saw')
    .option('--json', 'print the answer as JSON')
    .action((id: string, o: { deny?: boolean; reason?: string; remember?: boolean; request?: string; json?: boolean }) => {
      if (o.deny && o.remember) throw new UsageError('--remember allows the rule for the rest of the task; it does not go with --deny');
      return done(withClient(async (c) => (await approvals()).approveCommand(id, o, c, io)));
    });

  program
    .command('pipeline')
    .description('pipelines of agent steps')
    .command('run')
    .description('run a pipeline file, showing each step as it changes, then the results')
    .argument('<file>', 'pipeline spec, YAML or JSON')
    .option('--id <workflowId>', 'workflow id (default: pipeline-<uuid>)')
    .option('--no-wait', 'print the workflow id and return')
    .option('--json', 'print the result as JSON')
    .action((file: string, o) => done(sessions().then((m) => m.pipelineRunCommand(file, o, io))));

  program
    .command('mcp')
    .description(
      'serve ccflow to MCP clients (Claude Code: claude mcp add ccflow -- npx ccflow mcp): on stdio, or Streamable HTTP with --http',
    )
    .option('--http <port>', 'serve Streamable HTTP at http://<host>:<port>/mcp instead of stdio (0: a free port, printed)', port)
    .option('--host <address>', 'address for --http to listen on', '127.0.0.1')
    .action((o: { http?: number; host: string }) => done(import('./commands/mcp.js').then((m) => m.mcpCommand(o))));

  program
    .command('server')
    .description('Temporal dev server with Web UI, stored in a SQLite file (default $CCFLOW_HOME/temporal.db)')
    .option('--port <port>', 'gRPC port', positiveInteger, 7233)
    .option('--ui-port <port>', 'Web UI port (default: port + 1000)', positiveInteger)
    .option('--db <file>', 'SQLite file')
    .option('--headless', 'no Web UI')
    .option('--ip <address>', 'address to listen on', '127.0.0.1')
    .action((o) => done(infra().then((m) => m.serverCommand(o, io))));

  program
    .command('worker')
    .description('a worker on CCFLOW_TASK_QUEUE (default ccflow) and its host queue, at TEMPORAL_ADDRESS')
    .addHelpText(
      'after',
      `
Scale-out settings (environment):
  CCFLOW_HOST_TASK_QUEUE              this host's queue (default <task queue>@<hostname>)
  CCFLOW_HOST_START_TIMEOUT_SECONDS   how long activities may wait on this host's queue before the host
                                      counts as lost and its tasks move to another host (default 60)
  CCFLOW_MAX_CONCURRENT_AGENTS        agents run at once; more wait in line (default 8)
  CCFLOW_SWEEP_INTERVAL_SECONDS       sweep this host's orphaned sandboxes at start and this often;
                                      0 turns it off (default 600)
  CCFLOW_SWEEP_GRACE_SECONDS          never sweep sandboxes younger than this (default 900)
The worker checks the artifact store (CCFLOW_ARTIFACTS) at start and refuses a wrong key or a missing bucket.
`,
    )
    .action(() => done(infra().then((m) => m.workerCommand())));

  program
    .command('dev')
    .description('a dev server and a worker in one process')
    .option('--port <port>', 'gRPC port', positiveInteger, 7233)
    .option('--ui-port <port>', 'Web UI port', positiveInteger)
    .option('--db <file>', 'SQLite file')
    .option('--nats', 'also a nats-server, workers publishing live events to it, and `ccflow nats` on it')
    .option('--nats-port <port>', 'nats-server client port', positiveInteger, 4222)
    .action((o) => done(infra().then((m) => m.devCommand(o, io))));

  program
    .command('nats')
    .description("seed 002's Claude Code agent host on NATS: spawn, prompt and stop sessions, each a durable task")
    .option('-s, --server <urls>', 'NATS server URLs, comma-separated (default: NATS_URL, the context, nats://127.0.0.1:4222)')
    .option('--context <name>', 'a nats CLI context (default: NATS_CONTEXT, else the selected one)')
    .option('--creds <file>', 'user credentials file (JWT and seed)')
    .option('--nkey <file>', 'nkey seed file')
    .option('--user <user>', 'user name')
    .option('--password <password>', 'password')
    .option('--token <token>', 'authentication token')
    .option('--tlscert <file>', 'TLS client certificate')
    .option('--tlskey <file>', 'TLS client key')
    .option('--tlsca <file>', 'TLS certificate authority')
    .option('--tlsfirst', 'TLS handshake before the NATS protocol')
    .option('--owner <token>', 'subject token 4 (default: your user name)')
    .option('--name <token>', 'controller name, token 5 (default: control, or control-2, ... when taken)')
    .option('--agent <token>', 'agent token, subject token 3', 'cc-headless')
    .option('--default-model <name>', 'model of a spawn that names none (default claude-sonnet-4-6)')
    .option('--default-allowed-tools <list>', 'comma-separated tools of a spawn that lists none (default Read,Glob,Grep)')
    .addOption(
      new Option(
        '--default-permission-mode <mode>',
        'permission mode of a spawn that names none (default dontAsk); default, acceptEdits, plan and auto hold calls for §7 queries',
      ).choices(['default', 'acceptEdits', 'bypassPermissions', 'plan', 'dontAsk', 'auto']),
    )
    .option('--default-max-turns <n>', 'turn limit of a spawn that sets none (default 50)', positiveInteger)
    .option('--default-max-lifetime <seconds>', 'lifetime of a spawn that sets none; 0: no limit (default 1800)', number)
    .addOption(new Option('--provider <name>', "sessions' sandbox provider (default: the worker default)").choices(PROVIDER_NAMES))
    .option('--live-subject-prefix <prefix>', 'where workers publish live events (their CCFLOW_LIVE_SUBJECT_PREFIX)', 'ccflow.live')
    .addHelpText(
      'after',
      `
Permission queries: a spawn whose permission_mode asks (default, acceptEdits, plan, auto) or that
lists ask_tools rules gets ccflow approval rules. A held call is asked about with a query chunk
on the prompt's stream; the reply (yes/y/allow/approve/ok allow, no/n/deny/reject/cancel deny,
anything else denies with the reply as the reason) answers the task's approve Update. Nobody
answering leaves the call waiting in the task, through restarts of this process: answer it with
ccflow approve. It is denied when the session is stopped, or max_lifetime_s after it was held
(with max_lifetime_s 0 it waits until answered).`,
    )
    .action((o) => done(import('./commands/nats.js').then((m) => m.natsCommand({ ...o, server: o.server }, io))));

  program
    .command('temporal')
    .description('the pinned Temporal CLI, e.g. ccflow temporal workflow list')
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action((args: string[]) => done(infra().then((m) => m.temporalCommand(args))));

  program
    .command('model')
    .description('the scripted model server')
    .command('serve')
    .description('an Anthropic-compatible model server that plays a script, for offline runs')
    .option('--script <file.json>', 'the script (default: the demo script)')
    .option('--port <port>', 'port (default: a free one)', positiveInteger)
    .action((o) => done(infra().then((m) => m.modelServeCommand(o))));

  program
    .command('demo')
    .description('dev server + worker + scripted model + one real task, end to end')
    .option('--keep', 'keep the server and worker running afterwards')
    .action((o: { keep?: boolean }) => done(import('./demo.js').then((m) => m.runDemo({ keep: o.keep ?? false }))));

  program
    .command('sweep')
    .description(
      "destroy this host's (and E2B's) sandboxes whose task is closed, gone or moved to another sandbox, " +
        'older than the grace period; their transcripts are saved to the artifact store first',
    )
    .option('--grace <minutes>', 'leave younger sandboxes alone', number, 15)
    .option('--dry-run', 'only say what would be destroyed')
    .action((o) => done(infra().then((m) => m.sweepCommand(o, io))));

  return program;
}

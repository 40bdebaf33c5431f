/** The commands that run things: server, worker, dev, temporal, model serve, sweep. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CcflowClient } from '../../client/index.js';
import { ccflowHome } from '../../home.js';
import { startDevServer, temporalBinary } from '../../testing/dev-server.js';
import { EXIT } from '../errors.js';
import { defaultIo, waitForSignal, type Io } from '../output.js';

export interface ServerOptions {
  port: number;
  uiPort?: number;
  db?: string;
  headless?: boolean;
  ip: string;
}

export async function serverCommand(o: ServerOptions, io: Io = defaultIo): Promise<number> {
  const server = await startDevServer({
    port: o.port,
    uiPort: o.uiPort,
    dbFile: o.db ?? path.join(ccflowHome(), 'temporal.db'),
    headless: o.headless,
    ip: o.ip,
    inheritStdio: true,
    readyTimeoutMs: 60_000,
  });
  io.stderr.write(`Temporal dev server on ${server.address}${server.uiUrl ? `, Web UI at ${server.uiUrl}` : ''}\n`);
  await waitForSignal();
  await server.stop();
  return EXIT.ok;
}

export async function workerCommand(): Promise<number> {
  const { runWorker } = await import('../../worker/index.js');
  await runWorker();
  return EXIT.ok;
}

export async function devCommand(
  o: { port: number; uiPort?: number; db?: string; nats?: boolean; natsPort?: number },
  io: Io = defaultIo,
): Promise<number> {
  const server = await startDevServer({ port: o.port, uiPort: o.uiPort, dbFile: o.db ?? path.join(ccflowHome(), 'temporal.db') });
  io.stderr.write(`Temporal dev server on ${server.address}, Web UI at ${server.uiUrl}\n`);
  const stops: Array<() => Promise<void>> = [() => server.stop()];
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: server.address };
    if (o.nats) {
      const { startDevNats } = await import('./dev-nats.js');
      const nats = await startDevNats({ port: o.natsPort ?? 4222, temporalAddress: server.address, io });
      stops.push(nats.stop);
      env.CCFLOW_NATS_URL = nats.url;
    }
    const { runWorker } = await import('../../worker/index.js');
    await runWorker(env);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
  return EXIT.ok;
}

/** The pinned Temporal CLI; `--input @file.json` reads the input from a file (the CLI itself spells it --input-file). */
export async function temporalCommand(args: string[]): Promise<number> {
  const rewritten = args.flatMap((a, i) => {
    const prev = args[i - 1];
    if ((prev === '--input' || prev === '-i') && a.startsWith('@')) return [a.slice(1)];
    if ((a === '--input' || a === '-i') && args[i + 1]?.startsWith('@')) return ['--input-file'];
    return [a];
  });
  const child = spawn(temporalBinary(), rewritten, { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

export async function modelServeCommand(o: { script?: string; port?: number }): Promise<number> {
  const { serveModelCommand } = await import('../../testing/model/index.js');
  await serveModelCommand({ scriptPath: o.script, port: o.port });
  return EXIT.ok;
}

export async function sweepCommand(o: { grace: number; dryRun?: boolean }, io: Io = defaultIo): Promise<number> {
  const { buildProviders, loadWorkerConfig, sweepOrphans } = await import('../../worker/index.js');
  const { openArtifactStore } = await import('../../artifacts/open.js');
  const config = loadWorkerConfig();
  const providers = Object.values(buildProviders(config)).filter((p) => p !== undefined);
  const client = await CcflowClient.connect({ address: config.address, namespace: config.namespace });
  try {
    // An orphan's agent transcripts go to the configured store (S3 for several hosts) first.
    const artifacts = openArtifactStore(config.artifacts);
    const decisions = await sweepOrphans({ providers, client: client.temporal, artifacts, graceMs: o.grace * 60_000, dryRun: o.dryRun });
    for (const d of decisions) {
      const saved = d.archived ? `  (${d.archived} file(s) saved)` : '';
      io.stdout.write(`${d.action.padEnd(13)} ${d.provider}/${d.sandboxId}  ${d.workflowId ?? '-'}  ${d.reason}${saved}\n`);
    }
    const removed = decisions.filter((d) => d.action !== 'kept').length;
    io.stdout.write(`${removed} of ${decisions.length} sandbox(es) ${o.dryRun ? 'would be' : 'were'} destroyed\n`);
    return EXIT.ok;
  } finally {
    await client.disconnect();
  }
}

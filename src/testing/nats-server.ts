/**
 * A real nats-server for tests and `ccflow dev --nats`. The binary is the first of:
 * `CCFLOW_NATS_SERVER`; the build `npm install` makes in a clone's `.venv/bin` when the machine
 * has none (`go install` of the version package.json pins under "ccflow" → "tools"); the
 * system's (Debian's `nats-server` package, 2.9.10 on bookworm, which CI installs). Core NATS
 * with headers is all ccflow needs (micro discovery is a client-side protocol), and every server
 * since 2.2 has it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { venvBinary } from '../home.js';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The nats-server binary to run, or an error that says how to get one. */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CCFLOW_NATS_SERVER) {
    if (!existsSync(env.CCFLOW_NATS_SERVER))
      throw new Error(`CCFLOW_NATS_SERVER points at ${env.CCFLOW_NATS_SERVER}, which does not exist`);
    return env.CCFLOW_NATS_SERVER;
  }
  const pinned = venvBinary('nats-server');
  if (existsSync(pinned)) return pinned;
  // Debian installs it in /usr/sbin, which a non-root PATH often lacks.
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'nats-server');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    'nats-server was not found: install it (`sudo apt-get install nats-server`, or ' +
      '`go install github.com/nats-io/nats-server/v2@latest`), or set CCFLOW_NATS_SERVER; ' +
      'in a clone of ccflow with Go available, `npm install` builds the pinned version into .venv',
  );
}

/** `v2.9.10` → `2.9.10`; undefined when the binary does not answer `--version`. */
export function natsServerVersion(bin: string): string | undefined {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return /v?(\d+\.\d+\.\d+)/.exec(`${out.stdout ?? ''}${out.stderr ?? ''}`)?.[1];
}

export interface NatsServerOpts {
  /** @default '127.0.0.1' */
  host?: string;
  /** Client port; a free one when absent. */
  port?: number;
  /** Settings passed as flags, e.g. `['--user', 'u', '--pass', 'p']`. */
  extraArgs?: string[];
  /** A configuration file's text (for settings without a flag, e.g. `max_payload: 65536`). */
  config?: string;
  /** Forward the server's log to ours (`ccflow dev --nats`) instead of discarding it. */
  inheritStdio?: boolean;
  /** @default 15_000 // ms */
  readyTimeoutMs?: number;
}

export interface NatsServer {
  url: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Starts nats-server and resolves once it accepts clients (it writes its ports file then). */
export async function startNatsServer(opts: NatsServerOpts = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const host = opts.host ?? '127.0.0.1';
  const portsDir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-'));
  // -1: the server picks a free port itself and reports it in the ports file, so there is no
  // window in which another process could take a port chosen for it.
  const args = ['-a', host, '-p', String(opts.port ?? -1), '--ports_file_dir', portsDir, ...(opts.extraArgs ?? [])];
  if (opts.config !== undefined) {
    const file = path.join(portsDir, 'server.conf');
    await writeFile(file, opts.config);
    args.push('-c', file);
  }
  const child = spawn(bin, args, { stdio: opts.inheritStdio ? 'inherit' : 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(portsDir, { recursive: true, force: true });
  };
  try {
    const port = await readPort(portsDir, child, opts.readyTimeoutMs ?? 15_000);
    return { url: `nats://${host}:${port}`, port, process: child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function readPort(dir: string, child: ChildProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`nats-server exited at start (${child.exitCode ?? child.signalCode})`);
    const file = (await readdir(dir)).find((f) => f.endsWith('.ports'));
    if (file) {
      const text = await readFile(path.join(dir, file), 'utf8').catch(() => '');
      const ports = parsePorts(text);
      if (ports !== undefined) return ports;
    }
    await sleep(25);
  }
  throw new Error(`nats-server did not report its port within ${timeoutMs} ms`);
}

function parsePorts(text: string): number | undefined {
  try {
    const value = JSON.parse(text) as { nats?: unknown };
    const first = Array.isArray(value.nats) ? value.nats[0] : undefined;
    const port = typeof first === 'string' ? Number(new URL(first).port) : NaN;
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined; // written but not complete yet
  }
}

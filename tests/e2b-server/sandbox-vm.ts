/**
 * One sandbox of the E2B test double: a directory tree on the host (seen as /home/user and /tmp
 * inside), one bubblewrap jail with its own pid namespace, and the envd agent inside it that
 * starts processes. The host side keeps envd's process table: who is subscribed to each
 * process's output, which deadline kills it, and how long its exit code is remembered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { checkBubblewrap, jailArgs } from '../../src/sandbox/local/bwrap.js';
import { SANDBOX_HOME } from '../../src/sandbox/layout.js';

export const AGENT_SCRIPT = fileURLToPath(new URL('./envd-agent.mjs', import.meta.url));
const AGENT_INSIDE = '/opt/envd/agent.mjs';
const NODE_INSIDE = '/opt/ccflow/bin/node';

/** What envd hands every process besides the request's envs (its PATH, the user's HOME...). */
export const ENVD_BASE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: SANDBOX_HOME,
  USER: 'user',
  LOGNAME: 'user',
};

export interface ProcessConfig {
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

/** A process event as envd sends it (the `event` field of Start/Connect responses). */
export type ProcessEventJson =
  | { start: { pid: number } }
  | { data: { stdout: string } | { stderr: string } }
  | { end: { exitCode: number; exited: boolean; status: string; error?: string } }
  | { keepalive: Record<string, never> };

/** Someone reading a process's events (an open Start or Connect stream). */
export interface Subscriber {
  event(e: ProcessEventJson): void;
  /** The process ended: the end event was delivered; close the stream. */
  done(): void;
}

export interface ProcessRecord {
  pid: number;
  config: ProcessConfig;
  subscribers: Set<Subscriber>;
  exit?: { exitCode: number; exited: boolean; status: string; error?: string; at: number };
  deadline?: NodeJS.Timeout;
}

export interface VmStats {
  /** Output bytes that reached no client because nobody was subscribed. */
  droppedOutputBytes: number;
  /** Processes killed by their request deadline. */
  deadlineKills: number;
}

export interface VmMounts {
  claudeBinary: string;
  nodeBinary: string;
  resultServerDir: string;
  nodeModulesDir: string;
}

export class SandboxVm {
  readonly processes = new Map<number, ProcessRecord>();
  readonly stats: VmStats = { droppedOutputBytes: 0, deadlineKills: 0 };
  private agent: ChildProcess | undefined;
  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (v: { pid?: number; ok?: boolean; message?: string }) => void }>();
  private readonly starting = new Map<number, ProcessRecord>();
  private alive = false;

  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly opts: { mounts: VmMounts; bwrapPath?: string; exitCodeRetentionMs: number },
  ) {}

  get homeDir(): string {
    return path.join(this.dir, 'home');
  }
  get tmpDir(): string {
    return path.join(this.dir, 'tmp');
  }
  get running(): boolean {
    return this.alive;
  }

  /** Creates the directories and boots the jail; resolves once the agent inside is ready. */
  async boot(): Promise<void> {
    await mkdir(path.join(this.homeDir, 'workspace'), { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    const bwrap = await checkBubblewrap(this.opts.bwrapPath);
    const m = this.opts.mounts;
    const args = await jailArgs({
      homeDir: this.homeDir,
      tmpDir: this.tmpDir,
      readOnly: [
        [m.claudeBinary, '/opt/ccflow/bin/claude'],
        [m.nodeBinary, NODE_INSIDE],
        [m.resultServerDir, '/opt/ccflow/result-server'],
        [m.nodeModulesDir, '/opt/ccflow/node_modules'],
        [AGENT_SCRIPT, AGENT_INSIDE],
      ],
      cwd: SANDBOX_HOME,
    });
    // The jail dies with the server, like a VM whose host went away.
    const agent = spawn(bwrap, [...args, '--die-with-parent', '--', NODE_INSIDE, AGENT_INSIDE], {
      env: {},
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.agent = agent;
    const ready = new Promise<void>((resolve, reject) => {
      agent.once('error', reject);
      agent.once('exit', (code) => reject(new Error(`sandbox ${this.id}: jail exited during boot (code ${code})`)));
      const lines = createInterface({ input: agent.stdout! });
      lines.on('line', (line) => {
        let msg: AgentMessage;
        try {
          msg = JSON.parse(line) as AgentMessage;
        } catch {
          return;
        }
        if (msg.ev === 'ready') {
          this.alive = true;
          resolve();
        } else this.onAgent(msg);
      });
    });
    agent.once('exit', () => this.onGone());
    await ready;
  }

  /** Starts a process; `first` is subscribed before any of its output can arrive. */
  async start(config: ProcessConfig, stdin: boolean, first?: Subscriber): Promise<ProcessRecord> {
    const req = this.nextReq++;
    const record: ProcessRecord = { pid: 0, config, subscribers: new Set(first ? [first] : []) };
    this.starting.set(req, record);
    const env = { ...ENVD_BASE_ENV, ...config.envs };
    const reply = await this.request(req, {
      op: 'start',
      req,
      cmd: config.cmd,
      args: config.args,
      env,
      cwd: config.cwd ?? SANDBOX_HOME,
      stdin,
    });
    this.starting.delete(req);
    if (reply.pid === undefined) throw new Error(reply.message ?? 'process did not start');
    return record;
  }

  /** Signals one pid (not its group), as envd does. */
  async signal(pid: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<{ ok: boolean; message?: string }> {
    const req = this.nextReq++;
    const reply = await this.request(req, { op: 'signal', req, pid, signal });
    return { ok: reply.ok === true, message: reply.message };
  }

  /** Kills every process in the sandbox at once (the jail's pid namespace goes away). */
  kill(): void {
    if (this.agent && this.agent.exitCode === null && this.agent.signalCode === null) this.agent.kill('SIGKILL');
    this.onGone();
  }

  private request(req: number, msg: Record<string, unknown>): Promise<{ pid?: number; ok?: boolean; message?: string }> {
    if (!this.alive || !this.agent?.stdin) return Promise.reject(new Error(`sandbox ${this.id} is not running`));
    return new Promise((resolve) => {
      this.pending.set(req, { resolve });
      this.agent!.stdin!.write(`${JSON.stringify(msg)}\n`);
    });
  }

  private onAgent(msg: AgentMessage): void {
    switch (msg.ev) {
      case 'started': {
        const record = this.starting.get(msg.req);
        if (record) {
          record.pid = msg.pid;
          this.processes.set(msg.pid, record);
          for (const s of record.subscribers) s.event({ start: { pid: msg.pid } });
        }
        this.pending.get(msg.req)?.resolve({ pid: msg.pid });
        this.pending.delete(msg.req);
        return;
      }
      case 'failed':
      case 'signaled':
        this.pending.get(msg.req)?.resolve({ ok: msg.ev === 'signaled' ? msg.ok : false, message: msg.message });
        this.pending.delete(msg.req);
        return;
      case 'data': {
        const record = this.processes.get(msg.pid);
        if (!record) return;
        // Nobody subscribed: envd has nowhere to send it, and it is gone.
        if (record.subscribers.size === 0) {
          this.stats.droppedOutputBytes += Buffer.from(msg.b64, 'base64').length;
          return;
        }
        const event: ProcessEventJson = { data: msg.stream === 'stdout' ? { stdout: msg.b64 } : { stderr: msg.b64 } };
        for (const s of record.subscribers) s.event(event);
        return;
      }
      case 'end': {
        const record = this.processes.get(msg.pid);
        if (!record) return;
        clearTimeout(record.deadline);
        const exited = msg.signal === undefined;
        const status = exited ? `exit status ${msg.exitCode}` : `signal: ${msg.signal === 'SIGKILL' ? 'killed' : msg.signal}`;
        record.exit = { exitCode: msg.exitCode, exited, status, error: exited && msg.exitCode === 0 ? undefined : status, at: Date.now() };
        const { at: _at, ...end } = record.exit;
        for (const s of record.subscribers) {
          s.event({ end });
          s.done();
        }
        record.subscribers.clear();
        // The exit code is remembered for a while, then the process is forgotten.
        setTimeout(() => {
          if (this.processes.get(msg.pid) === record) this.processes.delete(msg.pid);
        }, this.opts.exitCodeRetentionMs).unref();
        return;
      }
    }
  }

  private onGone(): void {
    if (!this.alive && this.processes.size === 0) return;
    this.alive = false;
    for (const p of this.pending.values()) p.resolve({ message: `sandbox ${this.id} is not running` });
    this.pending.clear();
    for (const record of this.processes.values()) clearTimeout(record.deadline);
    this.processes.clear();
  }
}

type AgentMessage =
  | { ev: 'ready' }
  | { ev: 'started'; req: number; pid: number }
  | { ev: 'failed'; req: number; message: string }
  | { ev: 'signaled'; req: number; ok: boolean; message?: string }
  | { ev: 'data'; pid: number; stream: 'stdout' | 'stderr'; b64: string }
  | { ev: 'end'; pid: number; exitCode: number; signal?: string };

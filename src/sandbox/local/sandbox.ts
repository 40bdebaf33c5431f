/**
 * One local sandbox: a directory on this host whose processes run jailed by bubblewrap (or,
 * when explicitly opted in, unisolated), started detached with their output going to files.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

import { SandboxError, SandboxInputError, SandboxNotFoundError } from '../errors.js';
import {
  SANDBOX_APPROVAL_HOOK,
  SANDBOX_CLAUDE_BIN,
  SANDBOX_HOME,
  SANDBOX_NODE_BIN,
  SANDBOX_RELAY,
  SANDBOX_RESULT_SERVER,
  SANDBOX_WORKDIR,
} from '../layout.js';
import { normalizeInside } from '../paths.js';
import type { EgressPolicy, ExecDetachedOpts, LimitHit, ProcessHandle, ProcessState, Sandbox } from '../types.js';
import { jailArgs } from './bwrap.js';
import {
  mkdirContained,
  openContained,
  openForWrite,
  readContained,
  readContainedFrom,
  sizeContained,
  toHost,
  writeContained,
} from './fs.js';
import type { AreaRoots, HostLocation, Owner } from './fs.js';
import type { DiskController } from './limits/disk.js';
import type { LimitController } from './limits/types.js';
import { jailNetworkArgs, jailNetworkFor, RELAY_ENV, relayPairs } from './network.js';
import { groupMembers, isAlive, ownsGroup, readProcStat } from './procfs.js';
import { STATUS_FD, WRAPPER, parentOf, readExitCode, readJailExitCode, signalGroup, writeArgs } from './process.js';
import { ProcRecord, readJson, readSandboxRecord, writeJsonAtomic, type SandboxRecord } from './records.js';

/**
 * Exit events of the processes this worker process started, by host pid (a pid is not reused
 * while its entry is here: the entry goes when the process exits). Shared by every sandbox
 * object, as activities connect anew each time.
 */
const CHILD_EXITS = new Map<number, Promise<void>>();

/**
 * Host files made visible read-only under /opt/ccflow in every sandbox: exactly what the agent
 * and the result server need, nothing of the project's node_modules.
 */
export interface LocalSandboxMounts {
  /** The pinned `claude` executable → SANDBOX_CLAUDE_BIN. */
  claudeBinary: string;
  /** A node executable → SANDBOX_NODE_BIN. */
  nodeBinary: string;
  /** The result server, bundled into one file (scripts/bundle-result-server.mjs) → SANDBOX_RESULT_SERVER. */
  resultServer: string;
  /** The network relay (sandbox-template/relay/relay.mjs) → SANDBOX_RELAY. */
  relay: string;
  /** The approval hook (sandbox-template/result-server/approval-hook.mjs) → SANDBOX_APPROVAL_HOOK. */
  approvalHook: string;
}

export type LocalIsolation = 'bubblewrap' | 'none';

export interface ProviderContext {
  isolation: LocalIsolation;
  mounts: LocalSandboxMounts;
  /** Resolves to the absolute bwrap path (bubblewrap isolation only). */
  bwrap(): Promise<string>;
  limits: LimitController;
  disk: DiskController | undefined;
}

export class LocalSandbox implements Sandbox {
  readonly provider = 'local' as const;
  private readonly roots: AreaRoots;
  private readonly owner: Owner;

  constructor(
    readonly sandboxId: string,
    /** Host directory of this sandbox (a real path). */
    readonly dir: string,
    private readonly ctx: ProviderContext,
    private readonly rec: SandboxRecord,
  ) {
    const base = rec.confined === undefined ? dir : path.join(dir, 'fs');
    this.roots = { home: path.join(base, 'home'), tmp: path.join(base, 'tmp') };
    const uid = rec.confined?.uid;
    this.owner = uid === undefined ? undefined : { uid, gid: uid };
  }

  /** Host path of a file inside the sandbox (HOME or /tmp only). */
  hostPath(insidePath: string): string {
    return toHost(this.roots, insidePath).hostPath;
  }

  async execDetached(command: string[], opts: ExecDetachedOpts): Promise<ProcessHandle> {
    if (!Array.isArray(command) || command.length === 0) {
      throw new SandboxInputError('command must be a non-empty argv array');
    }
    const env = opts.env ?? {};
    for (const s of [...command, ...Object.keys(env), ...Object.values(env)]) {
      if (typeof s !== 'string' || s.includes('\0')) {
        throw new SandboxInputError(`command and env must be strings without NUL bytes: ${JSON.stringify(s)}`);
      }
    }
    for (const k of Object.keys(env)) {
      if (k === '' || k.includes('=')) throw new SandboxInputError(`bad environment variable name ${JSON.stringify(k)}`);
    }
    await this.ensureExists();

    const cwd = normalizeInside(opts.cwd ?? SANDBOX_WORKDIR);
    const cwdLoc = this.loc(cwd);
    await mkdirContained(cwdLoc, this.owner);
    const exitPath = normalizeInside(opts.exitCodePath);
    const exitLoc = this.loc(exitPath);
    await mkdirContained(parentOf(exitLoc), this.owner);
    // A stale exit file would make the new process look finished.
    for (const p of [exitLoc.hostPath, `${exitLoc.hostPath}.tmp`]) {
      await unlink(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }

    const handles: FileHandle[] = [];
    try {
      let stdin: number | 'ignore' = 'ignore';
      if (opts.stdinPath !== undefined) {
        const fh = await openContained(this.loc(opts.stdinPath), constants.O_RDONLY).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') throw new SandboxInputError(`stdin file ${opts.stdinPath} does not exist`);
          throw err;
        });
        handles.push(fh);
        stdin = fh.fd;
      }
      const out = await openForWrite(this.loc(opts.stdoutPath), this.owner);
      handles.push(out);
      const err = await openForWrite(this.loc(opts.stderrPath), this.owner);
      handles.push(err);
      const keepPwd = 'PWD' in env ? 'keep-pwd' : '-';
      const stdio = [stdin, out.fd, err.fd] as const;

      if (this.ctx.isolation === 'none') {
        const rewrite = this.insideRefRewriter();
        const child = spawn('/bin/sh', ['-c', WRAPPER, 'sh', keepPwd, exitLoc.hostPath, ...command.map(rewrite)], {
          cwd: cwdLoc.hostPath,
          env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, rewrite(v)])),
          detached: true,
          stdio: [...stdio],
        });
        return { pid: await this.started(child) };
      }

      const bwrap = await this.ctx.bwrap();
      const m = this.ctx.mounts;
      const jailEnv = { ...env };
      const c = this.rec.confined;
      const net = c === undefined ? undefined : jailNetworkFor(c.network as EgressPolicy, path.join(this.dir, 'sockets'));
      const pairs = net === undefined ? [] : relayPairs(net);
      if (pairs.length > 0) jailEnv[RELAY_ENV] = pairs.join(' ');
      const options = await jailArgs({
        homeDir: this.roots.home,
        tmpDir: this.roots.tmp,
        readOnly: [
          [m.claudeBinary, SANDBOX_CLAUDE_BIN],
          [m.nodeBinary, SANDBOX_NODE_BIN],
          [m.resultServer, SANDBOX_RESULT_SERVER],
          [m.relay, SANDBOX_RELAY],
          [m.approvalHook, SANDBOX_APPROVAL_HOOK],
        ],
        extra: net === undefined ? [] : jailNetworkArgs(net),
        cwd,
      });
      options.push('--clearenv');
      for (const [k, v] of Object.entries(jailEnv)) options.push('--setenv', k, v);
      // bwrap writes the jail's status and exit code here, outside the jail: unlike a file in
      // HOME, the agent cannot write it.
      const statusFile = `${randomBytes(8).toString('hex')}.status`;
      const status = await open(path.join(this.dir, 'procs', statusFile), 'wx', 0o600);
      handles.push(status);
      // Options (including env secrets) go through `--args 3`, not argv, which every host
      // user can read in /proc/<pid>/cmdline for as long as the jail runs.
      // The wrapper shell is the jail's pid 1 (`--as-pid-1`): when it exits, the kernel kills
      // whatever is left in the pid namespace (bwrap's own init would wait for daemonized
      // leftovers, keeping the jail alive after its leader, the handle, is gone).
      // The limits' wrapper (a cgroup entry, or setpriv + prlimit) execs bwrap in place, so
      // the group leader is still bwrap's pid.
      const argv = this.ctx.limits.wrap(this.sandboxId, [
        bwrap,
        '--args',
        '3',
        '--json-status-fd',
        String(STATUS_FD),
        '--as-pid-1',
        '--',
        '/bin/sh',
        '-c',
        WRAPPER,
        'sh',
        keepPwd,
        exitPath,
        ...command,
      ]);
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: this.dir,
        env: {},
        detached: true,
        stdio: [...stdio, 'pipe', status.fd],
      });
      const pid = await this.started(child, statusFile);
      await writeArgs(child.stdio[3] as Writable, options);
      return { pid };
    } finally {
      // The child holds its own copies of the fds.
      for (const fh of handles) await fh.close();
    }
  }

  async processState(pid: number, exitCodePath: string): Promise<ProcessState> {
    await this.ensureExists();
    const rec = await this.procRecord(pid);
    if (rec?.statusFile !== undefined) {
      // A jail: alive is alive, whatever any file in the sandbox says; once gone, bwrap's
      // status file has its exit code (none when it was killed along with bwrap).
      if (await isAlive(pid, rec.startTime)) return { state: 'running' };
      return { state: 'exited', exitCode: (await readJailExitCode(path.join(this.dir, 'procs', rec.statusFile))) ?? null };
    }
    const exitLoc = this.loc(exitCodePath);
    const code = await readExitCode(exitLoc);
    if (code !== undefined) return { state: 'exited', exitCode: code };
    if (rec !== undefined && (await isAlive(pid, rec.startTime))) return { state: 'running' };
    // It may have written its exit code between our two looks.
    return { state: 'exited', exitCode: (await readExitCode(exitLoc)) ?? null };
  }

  /**
   * SIGKILL goes to the whole group, whose members include the jail's pid-1, so the kernel
   * ends everything in the jail's pid namespace. SIGTERM goes to every member but the leader:
   * with bubblewrap the leader is bwrap's monitor, which would die at once and leave the jail
   * running without its handle; this way the command can shut down and its exit code is
   * still recorded.
   */
  async kill(pid: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const rec = await this.procRecord(pid);
    // Only ever signal groups this sandbox started (and whose pid was not reused since).
    if (rec === undefined || !(await ownsGroup(pid, rec.startTime))) return;
    if (signal === 'SIGKILL') {
      signalGroup(pid, 'SIGKILL');
      return;
    }
    for (const member of await groupMembers(pid)) {
      if (member === pid) continue;
      try {
        process.kill(member, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }

  async readFile(p: string): Promise<Buffer | undefined> {
    await this.ensureExists();
    return readContained(this.loc(p));
  }

  async readFileFrom(p: string, offset: number, maxBytes: number): Promise<Buffer> {
    await this.ensureExists();
    return readContainedFrom(this.loc(p), offset, maxBytes);
  }

  async writeFile(p: string, content: string | Buffer | Readable): Promise<void> {
    await this.ensureExists();
    await writeContained(this.loc(p), content, this.owner);
  }

  async fileSize(p: string): Promise<number | undefined> {
    await this.ensureExists();
    return sizeContained(this.loc(p));
  }

  async limitHits(): Promise<LimitHit[]> {
    const c = this.rec.confined;
    if (c === undefined) return [];
    const hits = await this.ctx.limits.hits(this.sandboxId);
    const disk = c.disk === 'loop-ext4' || c.disk === 'watchdog' ? await this.ctx.disk?.hits(this.dir, c.limits.diskBytes) : undefined;
    return [...hits, ...(disk ?? [])];
  }

  async renew(timeoutSeconds: number): Promise<void> {
    if (!(timeoutSeconds > 0)) throw new SandboxInputError(`timeoutSeconds must be > 0, got ${timeoutSeconds}`);
    const file = path.join(this.dir, 'sandbox.json');
    const rec = await readSandboxRecord(this.dir);
    if (rec === undefined) throw new SandboxNotFoundError(this.sandboxId);
    await writeJsonAtomic(file, { ...rec, timeoutSeconds, expiresAt: Date.now() + timeoutSeconds * 1000 });
  }

  private loc(insidePath: string): HostLocation {
    return toHost(this.roots, insidePath);
  }

  private async ensureExists(): Promise<void> {
    if ((await stat(path.join(this.dir, 'sandbox.json')).catch(() => undefined)) === undefined) {
      throw new SandboxNotFoundError(this.sandboxId);
    }
  }

  /** Waits for the spawn to succeed, records the group, and lets the worker forget it. */
  private async started(child: ChildProcess, statusFile?: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new SandboxError(`could not start a process: ${err.message}`, { cause: err })));
    });
    const pid = child.pid;
    if (pid === undefined) throw new SandboxError('spawned process has no pid');
    const startTime = (await readProcStat(pid))?.startTime ?? null;
    const rec: ProcRecord = { pid, startTime, startedAt: Date.now(), ...(statusFile === undefined ? {} : { statusFile }) };
    try {
      await writeJsonAtomic(path.join(this.dir, 'procs', `${pid}.json`), rec);
    } catch (err) {
      // Nobody could find or kill it later: do not leave it running.
      signalGroup(pid, 'SIGKILL');
      throw err;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    CHILD_EXITS.set(pid, exited);
    void exited.then(() => CHILD_EXITS.delete(pid));
    child.unref();
    return pid;
  }

  exited(pid: number): Promise<void> | undefined {
    return CHILD_EXITS.get(pid);
  }

  private async procRecord(pid: number): Promise<ProcRecord | undefined> {
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    return readJson(path.join(this.dir, 'procs', `${pid}.json`), ProcRecord);
  }

  /**
   * For isolation `none`: rewrites inside paths (HOME, /tmp and the /opt/ccflow mounts) in
   * argv and env values to their host paths, wherever they start a path-like token. File
   * *contents* are not rewritten.
   */
  private insideRefRewriter(): (s: string) => string {
    const m = this.ctx.mounts;
    const map = new Map<string, string>([
      [SANDBOX_HOME, this.roots.home],
      ['/tmp', this.roots.tmp],
      [SANDBOX_CLAUDE_BIN, m.claudeBinary],
      [SANDBOX_NODE_BIN, m.nodeBinary],
      [SANDBOX_RESULT_SERVER, m.resultServer],
      [SANDBOX_RELAY, m.relay],
      [SANDBOX_APPROVAL_HOOK, m.approvalHook],
    ]);
    const alternatives = [...map.keys()]
      .sort((a, b) => b.length - a.length)
      .map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('|');
    const re = new RegExp(`(^|[\\s"'=:,;(\\[{])(${alternatives})(?=$|[/\\s"'=:,;)\\]}])`, 'g');
    return (s) => s.replace(re, (_all, pre: string, root: string) => pre + (map.get(root) ?? root));
  }
}

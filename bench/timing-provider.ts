/**
 * A sandbox provider wrapper that records when each sandbox operation starts and ends, so the
 * benchmark can say where the milliseconds of a task go on the worker side. It only observes:
 * every call is passed through unchanged.
 */
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { LocalSandbox } from '../src/sandbox/local/index.js';
import { type ExecDetachedOpts, type Sandbox, type SandboxProvider } from '../src/sandbox/types.js';
import { SANDBOX_HOME } from '../src/sandbox/layout.js';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export type TimingOp =
  | 'createBegin'
  | 'create'
  | 'connectBegin'
  | 'connect'
  | 'writeFile'
  | 'readFile'
  | 'execBegin'
  | 'execDetached'
  | 'firstOutput'
  | 'resultSeen'
  | 'exitSeen'
  | 'kill'
  | 'destroy';

export interface TimingRecord {
  sandboxId: string;
  /** Set on `createBegin` and `create` only (from the sandbox metadata). */
  workflowId?: string;
  op: TimingOp;
  t0: number;
  t1: number;
  path?: string;
  /**
   * `resultSeen`: mtime of the stdout file when the result line was read (≈ when it was written).
   * `exitSeen`: when the process ended (the sandbox's `exited` promise, for a process this
   * worker started; else the exit-code file's mtime).
   */
  fileTime?: number;
  /** Output reads and process-state polls of this sandbox so far (on `exitSeen`, once per process). */
  polls?: number;
}

const RESULT_LINE = Buffer.from('"type":"result"');

export function timingProvider(inner: SandboxProvider, record: (r: TimingRecord) => void): SandboxProvider {
  const timed = async <T>(sandboxId: string, op: TimingOp, fn: () => Promise<T>, extra: Partial<TimingRecord> = {}): Promise<T> => {
    const t0 = nowMs();
    const out = await fn();
    record({ sandboxId, op, t0, t1: nowMs(), ...extra });
    return out;
  };
  /** Per sandbox: what was already seen, so each milestone is recorded once (exits once per process). */
  const seen = new Map<
    string,
    { firstOutput: boolean; result: boolean; exited: Set<number>; polls: number; exitTimes: Map<number, Promise<number>> }
  >();
  const state = (id: string) => {
    let s = seen.get(id);
    if (!s) {
      s = { firstOutput: false, result: false, exited: new Set(), polls: 0, exitTimes: new Map() };
      seen.set(id, s);
    }
    return s;
  };

  const wrap = (sb: Sandbox): Sandbox => {
    const id = sb.sandboxId;
    const hostPath = (p: string): string | undefined =>
      sb instanceof LocalSandbox && p.startsWith(`${SANDBOX_HOME}/`) ? sb.hostPath(p) : undefined;
    const mtime = async (p: string): Promise<number | undefined> => {
      const h = hostPath(p);
      return h === undefined ? undefined : (await stat(h).catch(() => undefined))?.mtimeMs;
    };
    return {
      sandboxId: id,
      provider: sb.provider,
      execDetached: (command: string[], opts: ExecDetachedOpts) => {
        // Recorded up front too, so a spawn that never returns still shows up.
        const t0 = nowMs();
        record({ sandboxId: id, op: 'execBegin', t0, t1: t0, path: opts.stdoutPath });
        return timed(id, 'execDetached', async () => {
          const handle = await sb.execDetached(command, opts);
          // A jail's exit code is kept outside it (bwrap's status), with no exit-code file to
          // date the exit by: the exit time is when the sandbox sees its process end.
          const exitTime = sb.exited?.(handle.pid)?.then(() => nowMs());
          if (exitTime) state(id).exitTimes.set(handle.pid, exitTime);
          return handle;
        });
      },
      // Passed through, so the runner waits on it as it does without this wrapper.
      ...(sb.exited ? { exited: (pid: number) => sb.exited?.(pid) } : {}),
      async processState(pid, exitCodePath) {
        const s = state(id);
        s.polls += 1;
        const t0 = nowMs();
        const ps = await sb.processState(pid, exitCodePath);
        if (ps.state === 'exited' && !s.exited.has(pid)) {
          s.exited.add(pid);
          const t1 = nowMs();
          const exitTime = s.exitTimes.get(pid);
          s.exitTimes.delete(pid);
          record({
            sandboxId: id,
            op: 'exitSeen',
            t0,
            t1,
            path: exitCodePath,
            fileTime: exitTime ? Math.min(await exitTime, t1) : await mtime(exitCodePath),
            polls: s.polls,
          });
        }
        return ps;
      },
      kill: (pid, signal) => timed(id, 'kill', () => sb.kill(pid, signal)),
      readFile: (p) => timed(id, 'readFile', () => sb.readFile(p), { path: p }),
      async readFileFrom(p, offset, maxBytes) {
        const s = state(id);
        s.polls += 1;
        const t0 = nowMs();
        const chunk = await sb.readFileFrom(p, offset, maxBytes);
        const t1 = nowMs();
        if (chunk.length > 0 && !s.firstOutput) {
          s.firstOutput = true;
          record({ sandboxId: id, op: 'firstOutput', t0, t1, path: p });
        }
        if (chunk.length > 0 && !s.result && chunk.includes(RESULT_LINE)) {
          s.result = true;
          record({ sandboxId: id, op: 'resultSeen', t0, t1, path: p, fileTime: await mtime(p) });
        }
        return chunk;
      },
      writeFile: (p, content) => timed(id, 'writeFile', () => sb.writeFile(p, content), { path: p }),
      fileSize: (p) => sb.fileSize(p),
      limitHits: () => sb.limitHits(),
      renew: (s) => sb.renew(s),
    };
  };

  return {
    name: inner.name,
    async create(opts) {
      const t0 = nowMs();
      record({ sandboxId: '', workflowId: opts.metadata.workflowId, op: 'createBegin', t0, t1: t0 });
      const sb = await inner.create(opts);
      record({ sandboxId: sb.sandboxId, workflowId: opts.metadata.workflowId, op: 'create', t0, t1: nowMs() });
      return wrap(sb);
    },
    async connect(sandboxId) {
      // Recorded up front too: every activity on a sandbox starts with connect, so this marks
      // when an activity attempt really began running in the worker.
      const t0 = nowMs();
      record({ sandboxId, op: 'connectBegin', t0, t1: t0 });
      return wrap(await timed(sandboxId, 'connect', () => inner.connect(sandboxId)));
    },
    async destroy(sandboxId) {
      await timed(sandboxId, 'destroy', () => inner.destroy(sandboxId));
      seen.delete(sandboxId);
    },
    list: (filter) => inner.list(filter),
  };
}

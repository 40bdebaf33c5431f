import { spawn } from 'node:child_process';

export interface RunProcessOpts {
  cwd?: string;
  /** The whole environment of the child: nothing else is inherited. */
  env: Record<string, string>;
  /** Fed to stdin; stdin is closed (empty) when absent. */
  input?: Buffer | string;
  /**
   * Killed (the whole process group) past this.
   * @default 600_000 // 10 minutes
   */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * More stdout than this kills the process and fails.
   * @default 64 * 1024 * 1024
   */
  maxOutputBytes?: number;
}

export interface ProcessResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
  /** Why the process was stopped, when it was. */
  killed?: 'timeout' | 'aborted' | 'output-limit';
}

/** stderr is kept to its tail: git's progress output can be long, and only the end matters. */
const STDERR_KEEP = 64 * 1024;

/**
 * Runs a program with an argv array (never a shell string) and collects its output. The
 * child leads a new session: it has no controlling terminal, so nothing it starts (ssh, a
 * credential helper) can stop to ask for a password, and a timeout or abort kills the whole
 * group, helpers included.
 */
export function runProcess(file: string, args: readonly string[], opts: RunProcessOpts): Promise<ProcessResult> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const maxOut = opts.maxOutputBytes ?? 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      return;
    }
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let killed: ProcessResult['killed'];
    const stop = (why: NonNullable<ProcessResult['killed']>) => {
      if (killed) return;
      killed = why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = () => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > maxOut) stop('output-limit');
      else out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString('utf8');
      if (err.length > 2 * STDERR_KEEP) err = err.slice(-STDERR_KEEP);
    });
    // A child that exits before reading its stdin makes the write fail with EPIPE: harmless.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    child.once('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode: code ?? (signal ? 128 + 9 : -1),
        stdout: Buffer.concat(out),
        stderr: err.slice(-STDERR_KEEP),
        ...(killed ? { killed } : {}),
      });
    });
  });
}

/**
 * The envd subset of the E2B test double: Connect RPC `process.Process/{Start,Connect,List,
 * SendSignal}`, `filesystem.Filesystem/{Stat,ListDir,MakeDir,Move,Remove}`, `GET/POST /files`
 * and `/health`, for the sandbox named by the `E2b-Sandbox-Id` header.
 *
 * It keeps envd's documented behaviour, because that is what ccflow must survive: a command
 * started with a `Connect-Timeout-Ms` deadline (the SDK sends 60 s unless `timeoutMs: 0`) is
 * killed when it passes, whether or not a client is still connected; output produced while no
 * client is subscribed is dropped; an exit code is remembered only for a while; every request
 * needs the sandbox's access token (or, for /files, a URL signature).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, readdir, readlink, rename, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

import { SandboxInputError } from '../../src/sandbox/errors.js';
import { mkdirContained, openContained, toHost, writeContained, type HostLocation } from '../../src/sandbox/local/fs.js';
import { SANDBOX_HOME } from '../../src/sandbox/layout.js';
import { readBody, readStreamRequest, readUnaryRequest, RpcError, sendUnary, sendUnaryError, ServerStream } from './connect.js';
import type { ProcessConfig, ProcessEventJson, ProcessRecord, SandboxVm, Subscriber } from './sandbox-vm.js';

export interface EnvdSandbox {
  vm: SandboxVm;
  accessToken: string;
  envVars: Record<string, string>;
  /** Open RPC streams, dropped when the sandbox goes away. */
  streams: Set<ServerStream>;
}

export interface EnvdOptions {
  /** Looks up a live sandbox by id. */
  sandbox(id: string): EnvdSandbox | undefined;
  /** Replaces any command deadline a client asks for (tests); undefined honours the header. */
  commandDeadlineMs(): number | undefined;
}

/** The envd request handler. Answers 502 for unknown sandboxes, like E2B's proxy. */
export function envdHandler(opts: EnvdOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://envd');
    const id = header(req, 'e2b-sandbox-id');
    const sbx = id === undefined ? undefined : opts.sandbox(id);
    if (!sbx || !sbx.vm.running) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`sandbox ${id ?? '(no E2b-Sandbox-Id header)'} not found`);
      return;
    }
    if (url.pathname === '/health') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === '/files') {
      await files(req, res, url, sbx);
      return;
    }
    const method = url.pathname.slice(1);
    const streaming = method === 'process.Process/Start' || method === 'process.Process/Connect';
    try {
      if (header(req, 'x-access-token') !== sbx.accessToken) throw new RpcError('unauthenticated', 'invalid access token');
      if (streaming) {
        const msg = await readStreamRequest(req);
        if (method === 'process.Process/Start') await start(req, res, msg, sbx, opts);
        else connect(req, res, msg, sbx);
        return;
      }
      const msg = await readUnaryRequest(req);
      sendUnary(res, await unary(method, msg, sbx));
    } catch (err) {
      const rpcErr = toRpcError(err);
      if (streaming && res.headersSent) return;
      if (streaming) {
        const stream = new ServerStream(res);
        stream.end(rpcErr);
      } else sendUnaryError(res, rpcErr);
    }
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof SandboxInputError) return new RpcError('invalid_argument', err.message);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new RpcError('not_found', (err as Error).message);
  if (code === 'EEXIST') return new RpcError('already_exists', (err as Error).message);
  return new RpcError('internal', err instanceof Error ? err.message : String(err));
}

// --- process.Process -------------------------------------------------------------------

function subscriber(stream: ServerStream, req: IncomingMessage): Subscriber {
  const seconds = Number(header(req, 'keepalive-ping-interval') ?? 0);
  const timer = seconds > 0 ? setInterval(() => stream.send({ event: { keepalive: {} } }), seconds * 1000) : undefined;
  stream.onClose(() => clearInterval(timer));
  return { event: (e: ProcessEventJson) => stream.send({ event: e }), done: () => stream.end() };
}

function track(sbx: EnvdSandbox, stream: ServerStream): void {
  sbx.streams.add(stream);
  stream.onClose(() => sbx.streams.delete(stream));
}

/** The request's deadline: the client's Connect-Timeout-Ms, or the test override for it. */
function deadlineOf(req: IncomingMessage, opts: EnvdOptions): number | undefined {
  const raw = header(req, 'connect-timeout-ms');
  if (raw === undefined) return undefined;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return opts.commandDeadlineMs() ?? ms;
}

async function start(
  req: IncomingMessage,
  res: ServerResponse,
  msg: Record<string, unknown>,
  sbx: EnvdSandbox,
  opts: EnvdOptions,
): Promise<void> {
  const p = (msg.process ?? {}) as Partial<ProcessConfig>;
  if (typeof p.cmd !== 'string' || p.cmd === '') throw new RpcError('invalid_argument', 'process.cmd is required');
  if (msg.pty !== undefined) throw new RpcError('unimplemented', 'pty is not supported by the test double');
  const cwd = p.cwd ? resolveInside(p.cwd) : undefined;
  const config: ProcessConfig = { cmd: p.cmd, args: p.args ?? [], envs: { ...sbx.envVars, ...(p.envs ?? {}) }, cwd };
  const deadline = deadlineOf(req, opts);

  const stream = new ServerStream(res);
  track(sbx, stream);
  const sub = subscriber(stream, req);
  let record: ProcessRecord;
  try {
    record = await sbx.vm.start(config, msg.stdin === true, sub);
  } catch (err) {
    stream.end(new RpcError('invalid_argument', err instanceof Error ? err.message : String(err)));
    return;
  }
  // The client going away only unsubscribes it: the process keeps running.
  stream.onClose(() => record.subscribers.delete(sub));
  if (deadline !== undefined && !record.exit) {
    // envd runs the process under a context with the request's deadline: when it passes the
    // process is killed (just that pid), connected client or not.
    record.deadline = setTimeout(() => {
      sbx.vm.stats.deadlineKills += 1;
      void sbx.vm.signal(record.pid, 'SIGKILL').catch(() => undefined);
      stream.end(new RpcError('deadline_exceeded', `the command's ${deadline} ms deadline passed; it was killed`));
    }, deadline);
    record.deadline.unref();
  }
}

function selectedPid(msg: Record<string, unknown>): number {
  const sel = (msg.process ?? {}) as { pid?: unknown; tag?: unknown };
  if (typeof sel.pid === 'number') return sel.pid;
  throw new RpcError('invalid_argument', 'select the process by pid (tags are not supported by the test double)');
}

function connect(req: IncomingMessage, res: ServerResponse, msg: Record<string, unknown>, sbx: EnvdSandbox): void {
  const pid = selectedPid(msg);
  const record = sbx.vm.processes.get(pid);
  if (!record) throw new RpcError('not_found', `process with pid ${pid} not found`);
  const stream = new ServerStream(res);
  track(sbx, stream);
  stream.send({ event: { start: { pid } } });
  if (record.exit) {
    const { at: _at, ...end } = record.exit;
    stream.send({ event: { end } });
    stream.end();
    return;
  }
  const sub = subscriber(stream, req);
  record.subscribers.add(sub);
  stream.onClose(() => record.subscribers.delete(sub));
  // A Connect stream's own deadline ends the stream, not the process.
  const raw = Number(header(req, 'connect-timeout-ms') ?? 0);
  if (raw > 0) {
    const t = setTimeout(() => stream.end(new RpcError('deadline_exceeded', 'stream deadline passed')), raw);
    t.unref();
    stream.onClose(() => clearTimeout(t));
  }
}

const SIGNALS: Record<string, 'SIGKILL' | 'SIGTERM'> = {
  SIGNAL_SIGKILL: 'SIGKILL',
  SIGNAL_SIGTERM: 'SIGTERM',
  '9': 'SIGKILL',
  '15': 'SIGTERM',
};

async function unary(method: string, msg: Record<string, unknown>, sbx: EnvdSandbox): Promise<unknown> {
  switch (method) {
    case 'process.Process/List':
      return {
        processes: [...sbx.vm.processes.values()]
          .filter((r) => !r.exit)
          .map((r) => ({
            pid: r.pid,
            config: { cmd: r.config.cmd, args: r.config.args, envs: r.config.envs, ...(r.config.cwd ? { cwd: r.config.cwd } : {}) },
          })),
      };
    case 'process.Process/SendSignal': {
      const pid = selectedPid(msg);
      const signal = SIGNALS[String(msg.signal)];
      if (!signal) throw new RpcError('invalid_argument', `unsupported signal ${String(msg.signal)}`);
      const record = sbx.vm.processes.get(pid);
      if (!record || record.exit) throw new RpcError('not_found', `process with pid ${pid} not found`);
      const r = await sbx.vm.signal(pid, signal);
      if (!r.ok) throw new RpcError('not_found', r.message ?? `process with pid ${pid} not found`);
      return {};
    }
    case 'filesystem.Filesystem/Stat': {
      const loc = location(sbx, String(msg.path ?? ''));
      return { entry: await entryInfo(loc, insidePath(String(msg.path ?? ''))) };
    }
    case 'filesystem.Filesystem/ListDir': {
      const inside = insidePath(String(msg.path ?? ''));
      const loc = location(sbx, inside);
      const st = await lstat(loc.hostPath);
      if (!st.isDirectory()) throw new RpcError('invalid_argument', `path '${inside}' is not a directory`);
      const entries = [];
      for (const name of (await readdir(loc.hostPath)).sort()) {
        entries.push(await entryInfo({ hostPath: path.join(loc.hostPath, name), areaRoot: loc.areaRoot }, path.posix.join(inside, name)));
      }
      return { entries };
    }
    case 'filesystem.Filesystem/MakeDir': {
      const inside = insidePath(String(msg.path ?? ''));
      const loc = location(sbx, inside);
      if (await lstat(loc.hostPath).catch(() => undefined)) throw new RpcError('already_exists', `directory '${inside}' already exists`);
      await mkdirContained(loc);
      return { entry: await entryInfo(loc, inside) };
    }
    case 'filesystem.Filesystem/Move': {
      const from = location(sbx, String(msg.source ?? ''));
      const toInside = insidePath(String(msg.destination ?? ''));
      const to = location(sbx, toInside);
      await mkdirContained({ hostPath: path.dirname(to.hostPath), areaRoot: to.areaRoot });
      await rename(from.hostPath, to.hostPath);
      return { entry: await entryInfo(to, toInside) };
    }
    case 'filesystem.Filesystem/Remove': {
      const loc = location(sbx, String(msg.path ?? ''));
      if (loc.hostPath === loc.areaRoot) throw new RpcError('invalid_argument', 'refusing to remove a root directory');
      await rm(loc.hostPath, { recursive: true, force: true });
      return {};
    }
    default:
      throw new RpcError('unimplemented', `${method} is not implemented by the E2B test double`);
  }
}

// --- paths and files -------------------------------------------------------------------

/** envd resolves relative paths against the user's home. */
function insidePath(p: string): string {
  if (p === '') throw new RpcError('invalid_argument', 'path is required');
  return p.startsWith('/') ? p : path.posix.join(SANDBOX_HOME, p);
}

function resolveInside(p: string): string {
  return path.posix.normalize(insidePath(p));
}

function location(sbx: EnvdSandbox, p: string): HostLocation {
  try {
    return toHost({ home: sbx.vm.homeDir, tmp: sbx.vm.tmpDir }, insidePath(p));
  } catch (err) {
    // Everything else in the sandbox is the read-only system.
    throw new RpcError('permission_denied', err instanceof Error ? err.message : String(err));
  }
}

async function entryInfo(loc: HostLocation, inside: string): Promise<Record<string, unknown>> {
  const st = await lstat(loc.hostPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new RpcError('not_found', `path '${inside}' does not exist`);
    throw err;
  });
  const type = st.isSymbolicLink() ? 'FILE_TYPE_SYMLINK' : st.isDirectory() ? 'FILE_TYPE_DIRECTORY' : 'FILE_TYPE_FILE';
  return {
    name: path.posix.basename(inside),
    type,
    path: inside,
    size: String(st.size),
    mode: st.mode & 0o777,
    permissions: modeString(st.mode, st.isDirectory()),
    owner: 'user',
    group: 'user',
    modifiedTime: st.mtime.toISOString(),
    ...(st.isSymbolicLink() ? { symlinkTarget: await readlink(loc.hostPath) } : {}),
  };
}

function modeString(mode: number, dir: boolean): string {
  const bits = 'rwxrwxrwx';
  let s = dir ? 'd' : '-';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-';
  return s;
}

function jsonError(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ code: status, message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** A /files URL signature as the SDK computes it: v1_ + base64(sha256(path:op:user:token[:exp])). */
function signatureValid(url: URL, op: 'read' | 'write', token: string): boolean {
  const sig = url.searchParams.get('signature');
  if (!sig) return false;
  const p = url.searchParams.get('path') ?? '';
  const user = url.searchParams.get('username') ?? '';
  const exp = url.searchParams.get('signature_expiration');
  if (exp !== null && Number(exp) * 1000 < Date.now()) return false;
  const raw = exp === null ? `${p}:${op}:${user}:${token}` : `${p}:${op}:${user}:${token}:${exp}`;
  const expected = `v1_${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
  return sig === expected;
}

async function files(req: IncomingMessage, res: ServerResponse, url: URL, sbx: EnvdSandbox): Promise<void> {
  const op = req.method === 'GET' ? 'read' : 'write';
  if (header(req, 'x-access-token') !== sbx.accessToken && !signatureValid(url, op, sbx.accessToken)) {
    jsonError(res, 401, 'invalid access token or signature');
    return;
  }
  try {
    if (req.method === 'GET') await download(req, res, url, sbx);
    else if (req.method === 'POST') await upload(req, res, url, sbx);
    else jsonError(res, 405, `method ${req.method} not allowed`);
  } catch (err) {
    if (err instanceof RpcError) jsonError(res, err.code === 'not_found' ? 404 : err.code === 'permission_denied' ? 403 : 400, err.message);
    else if (err instanceof SandboxInputError) jsonError(res, 400, err.message);
    else jsonError(res, 500, err instanceof Error ? err.message : String(err));
  }
}

async function download(req: IncomingMessage, res: ServerResponse, url: URL, sbx: EnvdSandbox): Promise<void> {
  const inside = insidePath(url.searchParams.get('path') ?? '');
  const loc = location(sbx, inside);
  const st = await lstat(loc.hostPath).catch(() => undefined);
  if (!st) throw new RpcError('not_found', `path '${inside}' does not exist`);
  if (st.isDirectory()) throw new RpcError('invalid_argument', `path '${inside}' is a directory`);
  const fh = await openContained(loc, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    // Range requests are answered like Go's http.ServeContent (envd uses it).
    const range = /^bytes=(\d*)-(\d*)$/.exec(header(req, 'range') ?? '');
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range) {
      const [, a = '', b = ''] = range;
      if (a === '') {
        start = Math.max(0, size - Number(b));
      } else {
        start = Number(a);
        end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
      }
      if (start >= size || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-type': 'text/plain' });
        res.end('invalid range: failed to overlap');
        return;
      }
      status = 206;
    }
    const length = Math.max(0, end - start + 1);
    const buf = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await fh.read(buf, filled, length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': filled,
      'accept-ranges': 'bytes',
    };
    if (status === 206) headers['content-range'] = `bytes ${start}-${start + filled - 1}/${size}`;
    res.writeHead(status, headers);
    res.end(buf.subarray(0, filled));
  } finally {
    await fh.close();
  }
}

async function upload(req: IncomingMessage, res: ServerResponse, url: URL, sbx: EnvdSandbox): Promise<void> {
  const type = header(req, 'content-type') ?? '';
  const body = await readBody(req);
  const written: Array<{ name: string; type: 'file'; path: string }> = [];
  const put = async (p: string, content: Buffer) => {
    const inside = path.posix.normalize(insidePath(p));
    await writeContained(location(sbx, inside), content);
    written.push({ name: path.posix.basename(inside), type: 'file', path: inside });
  };
  if (type.startsWith('multipart/form-data')) {
    const form = await new Request('http://envd/files', { method: 'POST', headers: { 'content-type': type }, body }).formData();
    for (const value of form.getAll('file')) {
      if (typeof value === 'string') continue;
      await put(url.searchParams.get('path') ?? value.name, Buffer.from(await value.arrayBuffer()));
    }
  } else {
    if (header(req, 'content-encoding') !== undefined)
      throw new RpcError('invalid_argument', 'content-encoding is not supported by the test double');
    await put(url.searchParams.get('path') ?? '', body);
  }
  if (written.length === 0) throw new RpcError('invalid_argument', 'no file in the upload');
  const out = JSON.stringify(written);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);
}

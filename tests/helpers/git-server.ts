import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * A real git server for tests: `git daemon` (git://, anonymous, push enabled) and smart HTTP
 * through `git http-backend` behind a small Node server with basic auth. Both serve the bare
 * repositories under `root`. Every HTTP request is recorded, so a test can count pushes.
 */

export interface GitServer {
  root: string;
  username: string;
  password: string;
  /** `http://127.0.0.1:<port>/<repo>` (basic auth required). */
  httpUrl(repo: string): string;
  /** `git://127.0.0.1:<port>/<repo>` (no auth). */
  daemonUrl(repo: string): string;
  /** HTTP requests seen, in order (authorized or not). */
  readonly requests: ReadonlyArray<{ method: string; path: string; authorized: boolean; authorization?: string }>;
  /** How many pushes reached the backend (POST .../git-receive-pack, authorized). */
  receivePackPosts(): number;
  close(): Promise<void>;
}

const run = promisify(execFile);

export async function startGitServer(o: { root: string; username?: string; password?: string }): Promise<GitServer> {
  const username = o.username ?? 'alice';
  const password = o.password ?? 's3cret-git-password';
  await mkdir(o.root, { recursive: true });
  const execPath = (await run('git', ['--exec-path'])).stdout.trim();
  const backend = path.join(execPath, 'git-http-backend');
  const requests: Array<{ method: string; path: string; authorized: boolean; authorization?: string }> = [];

  const authorized = (req: http.IncomingMessage): string | undefined => {
    const m = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const u = decoded.slice(0, colon);
    const p = decoded.slice(colon + 1);
    const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
    return colon >= 0 && same(u, username) && same(p, password) ? u : undefined;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const user = authorized(req);
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      authorized: user !== undefined,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    if (!user) {
      // 401 + WWW-Authenticate makes git ask its credential helpers (and fail without one).
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: o.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      // With REMOTE_USER set, git-http-backend enables receive-pack (push).
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
    };
    // Chunked requests (big pushes) have no Content-Length; the backend then reads to EOF.
    if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
    if (typeof req.headers['content-encoding'] === 'string') env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    if (typeof req.headers['git-protocol'] === 'string') env.GIT_PROTOCOL = req.headers['git-protocol'];
    const cgi = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => undefined);
    cgi.stderr.resume();
    let head = Buffer.alloc(0);
    let headersDone = false;
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      let idx = head.indexOf('\r\n\r\n');
      let sep = 4;
      if (idx < 0) {
        idx = head.indexOf('\n\n');
        sep = 2;
      }
      if (idx < 0) return;
      headersDone = true;
      cgi.stdout.off('data', onData);
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, idx).toString('latin1').split(/\r?\n/)) {
        const c = line.indexOf(':');
        if (c < 0) continue;
        const k = line.slice(0, c).trim();
        const v = line.slice(c + 1).trim();
        if (k.toLowerCase() === 'status') status = parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      const rest = head.subarray(idx + sep);
      if (rest.length > 0) res.write(rest);
      cgi.stdout.pipe(res);
    };
    cgi.stdout.on('data', onData);
    cgi.on('close', (code) => {
      if (!headersDone) {
        res.writeHead(502);
        res.end(`git-http-backend exited with ${code}\n`);
      }
    });
    req.on('aborted', () => cgi.kill());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const httpPort = (server.address() as net.AddressInfo).port;

  const daemon = await startDaemon(o.root).catch(async (err: unknown) => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err;
  });
  return {
    root: o.root,
    username,
    password,
    httpUrl: (repo) => `http://127.0.0.1:${httpPort}/${repo}`,
    daemonUrl: (repo) => `git://127.0.0.1:${daemon.port}/${repo}`,
    requests,
    receivePackPosts: () => requests.filter((r) => r.authorized && r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length,
    async close() {
      daemon.child.kill('SIGTERM');
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * `git daemon` on a free port. It cannot pick one itself (`--port=0` binds 9418), so take a
 * free port and try again if someone else took it in between.
 */
async function startDaemon(root: string): Promise<{ child: ChildProcess; port: number }> {
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      'git',
      [
        'daemon',
        '--verbose',
        '--export-all',
        `--base-path=${root}`,
        '--enable=receive-pack',
        '--reuseaddr',
        '--listen=127.0.0.1',
        `--port=${port}`,
        '--informative-errors',
        root,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: root } },
    );
    const ready = await new Promise<boolean>((resolve) => {
      let err = '';
      const onData = (d: Buffer) => {
        err += d.toString('utf8');
        // With --verbose it says so on stderr once it listens.
        if (err.includes('Ready to rumble')) {
          child.stderr?.off('data', onData);
          child.stderr?.resume();
          resolve(true);
        }
      };
      child.stderr?.on('data', onData);
      child.once('exit', () => {
        lastError = err;
        resolve(false);
      });
    });
    if (ready) return { child, port };
  }
  throw new Error(`git daemon did not start: ${lastError.slice(-500)}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Where a proxy listens: one TCP address (for E2B sandboxes, tests and benchmarks) and one Unix
 * socket per local sandbox, bound into that sandbox's jail. A connection that came in on a
 * sandbox's socket is tagged with that sandbox, so the proxy knows who is asking without
 * trusting anything the client says.
 */
import { chmod, unlink } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import net, { type AddressInfo } from 'node:net';

/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

const sandboxBySocket = new WeakMap<net.Socket, string>();

/** The sandbox whose Unix socket a connection came in on; undefined for TCP. */
export function sandboxOfSocket(socket: net.Socket): string | undefined {
  return sandboxBySocket.get(socket);
}

interface SandboxListener {
  sandboxId: string;
  server: net.Server;
  sockets: Set<net.Socket>;
}

export class ProxyListeners {
  private tcp: net.Server | undefined;
  /** Tracked here: an http.Server that never listens itself does not track what it is handed. */
  private readonly tcpSockets = new Set<net.Socket>();
  private readonly bySandbox = new Map<string, SandboxListener[]>();

  constructor(private readonly http: HttpServer) {}

  /** Listens on TCP; returns the bound address (port 0 picks a free one). */
  async listenTcp(host: string, port: number): Promise<AddressInfo> {
    if (this.tcp !== undefined) throw new Error('already listening on TCP');
    const server = net.createServer({ noDelay: true }, (socket) => {
      this.tcpSockets.add(socket);
      socket.once('close', () => this.tcpSockets.delete(socket));
      this.http.emit('connection', socket);
    });
    this.tcp = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /**
   * Listens on a Unix socket for one sandbox (replacing a stale socket file left by an
   * earlier worker). The socket is world-connectable: the directory it is in decides who sees it.
   */
  async addSandbox(socketPath: string, sandboxId: string): Promise<void> {
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(
        `socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter sandbox root (CCFLOW_SANDBOX_ROOT)`,
      );
    }
    await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sandboxBySocket.set(socket, sandboxId);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      this.http.emit('connection', socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(socketPath, 0o666);
    const list = this.bySandbox.get(sandboxId) ?? [];
    list.push({ sandboxId, server, sockets });
    this.bySandbox.set(sandboxId, list);
  }

  hasSandbox(sandboxId: string): boolean {
    return this.bySandbox.has(sandboxId);
  }

  /** Stops listening for a sandbox and cuts its open connections. */
  async removeSandbox(sandboxId: string): Promise<void> {
    const list = this.bySandbox.get(sandboxId) ?? [];
    this.bySandbox.delete(sandboxId);
    await Promise.all(list.map((l) => closeServer(l.server, l.sockets)));
  }

  async close(): Promise<void> {
    const all = [...this.bySandbox.keys()];
    await Promise.all(all.map((id) => this.removeSandbox(id)));
    if (this.tcp !== undefined) await closeServer(this.tcp, this.tcpSockets);
    this.tcp = undefined;
  }
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

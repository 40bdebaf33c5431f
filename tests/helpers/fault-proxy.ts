import net from 'node:net';

/**
 * A TCP proxy in front of a real server that breaks connections on demand, for tests of what
 * a client does when the network fails half way through a request.
 */
export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /**
   * The next `times` connections that send more than `afterBytes` bytes toward the server are
   * closed at that point (the client's request dies half way: "socket hang up", ECONNRESET).
   */
  interrupt(o: { afterBytes: number; times: number }): void;
  /** Every connection is closed at once, and new ones as soon as they open, until up(). */
  down(): void;
  up(): void;
  /** Connections cut so far. */
  readonly resets: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let pending: { afterBytes: number; times: number } | undefined;
  let isDown = false;
  let resets = 0;
  const open = new Set<net.Socket>();

  const reset = (client: net.Socket, upstream: net.Socket) => {
    resets += 1;
    // Closed, not reset: after socket.resetAndDestroy() Node 20 was seen to spin forever at
    // process exit. The client sees the same thing either way: its request dies half way.
    client.destroy();
    upstream.destroy();
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    open.add(client);
    client.once('close', () => open.delete(client));
    if (isDown) return reset(client, upstream);
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      if (isDown) return reset(client, upstream);
      const cut = pending && sent + chunk.length > pending.afterBytes ? pending : undefined;
      if (cut) {
        // Part of the chunk goes through, so the server has seen a truncated body.
        upstream.write(chunk.subarray(0, Math.max(0, cut.afterBytes - sent)));
        cut.times -= 1;
        if (cut.times <= 0) pending = undefined;
        return reset(client, upstream);
      }
      sent += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    interrupt(o) {
      pending = { ...o };
    },
    down() {
      isDown = true;
      for (const s of open) {
        resets += 1;
        s.destroy();
      }
    },
    up() {
      isDown = false;
    },
    get resets() {
      return resets;
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// The relay inside a local sandbox's network namespace, where only loopback exists: it listens
// on 127.0.0.1:<port> and carries each connection to a Unix socket that the worker bound into
// the jail (the model proxy, the egress proxy). Arguments: `<port>=<socket path>` pairs.
//
// It writes `ok` and closes its stdout once every port listens: the wrapper that started it
// waits for that (`ready=$(node relay.mjs ... &)`) before it starts the agent.
import fs from 'node:fs';
import net from 'node:net';

// ccflow stops an agent with TERM to the whole process group; the relay keeps carrying the
// agent's last requests and goes when the jail's pid 1 exits.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => {});

const pairs = process.argv.slice(2).map((arg) => {
  const i = arg.indexOf('=');
  const port = Number(arg.slice(0, i));
  if (i < 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`relay: bad argument ${JSON.stringify(arg)} (want <port>=<socket path>)\n`);
    process.exit(2);
  }
  return { port, socket: arg.slice(i + 1) };
});

let pending = pairs.length;
for (const { port, socket } of pairs) {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ path: socket, allowHalfOpen: true });
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut);
    upstream.on('error', cut);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on('error', (err) => {
    process.stderr.write(`relay: 127.0.0.1:${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    pending -= 1;
    if (pending > 0) return;
    fs.writeSync(1, 'ok\n');
    fs.closeSync(1);
    // Keep fd 1 taken: stream code that touches process.stdout would throw on a closed fd.
    fs.openSync('/dev/null', 'w');
  });
}

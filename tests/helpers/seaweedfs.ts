import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { cachedWeedPath, isPinnedBuild } from '../../scripts/seaweedfs.mjs';

/**
 * A real SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process) on free
 * loopback ports, with authentication on, for tests of the S3 artifact store. Built by
 * `npm install` (scripts/seaweedfs.mjs); CCFLOW_WEED_BIN points at another build.
 */

// The pinned AWS SDK warns on Node 20 that later releases will need Node 22 (see src/artifacts/s3.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const TEST_S3_CREDENTIALS = { accessKeyId: 'ccflowtestkey', secretAccessKey: 'ccflowtestsecret0123456789' } as const;

export interface SeaweedServer {
  /** The S3 endpoint, http://127.0.0.1:<port>. */
  endpoint: string;
  credentials: typeof TEST_S3_CREDENTIALS;
  /** Creates a bucket (ccflow never does). */
  createBucket(name: string): Promise<void>;
  /** The environment a ccflow process needs to use `s3://<bucket>/<prefix>` here. */
  env(bucket: string, prefix?: string): Record<string, string>;
  /** The server's output so far (shown when a test fails). */
  log(): string;
  stop(): Promise<void>;
}

export function weedBinary(): string {
  const bin = process.env.CCFLOW_WEED_BIN ?? cachedWeedPath();
  if (!process.env.CCFLOW_WEED_BIN && !isPinnedBuild(bin)) {
    throw new Error(`SeaweedFS is not built at ${bin}: run \`npm install\` (or \`node scripts/seaweedfs.mjs\`; it needs Go 1.26+)`);
  }
  return bin;
}

/** Component ports `weed mini` listens on. Every one is given: unset gRPC ports default to port + 10000, which may not exist. */
const PORT_NAMES = ['master', 'masterGrpc', 'volume', 'volumeGrpc', 'filer', 'filerGrpc', 's3', 's3Grpc', 'admin', 'adminGrpc'] as const;
type Ports = Record<(typeof PORT_NAMES)[number], number>;

export async function startSeaweed(o: { readyTimeoutMs?: number } = {}): Promise<SeaweedServer> {
  const bin = weedBinary();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-weed-'));
  // A port taken between choosing and binding makes weed exit at once: choose again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, dir, o.readyTimeoutMs ?? 60_000);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof EarlyExit)) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

class EarlyExit extends Error {}

async function startOnce(bin: string, dir: string, readyTimeoutMs: number): Promise<SeaweedServer> {
  const data = path.join(dir, 'data');
  await mkdir(data, { recursive: true });
  const ports = await freePorts();
  const config = path.join(dir, 's3.json');
  // With no identities SeaweedFS accepts any key: the wrong-key test would pass for nothing.
  const identities = {
    identities: [
      {
        name: 'ccflow',
        credentials: [{ accessKey: TEST_S3_CREDENTIALS.accessKeyId, secretKey: TEST_S3_CREDENTIALS.secretAccessKey }],
        actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'],
      },
    ],
  };
  await writeFile(config, JSON.stringify(identities), { mode: 0o600 });
  const args = [
    '-logtostderr',
    `-config_dir=${dir}`,
    'mini',
    `-dir=${data}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${ports.master}`,
    `-master.port.grpc=${ports.masterGrpc}`,
    `-volume.port=${ports.volume}`,
    `-volume.port.grpc=${ports.volumeGrpc}`,
    `-filer.port=${ports.filer}`,
    `-filer.port.grpc=${ports.filerGrpc}`,
    `-s3.port=${ports.s3}`,
    `-s3.port.grpc=${ports.s3Grpc}`,
    `-admin.port=${ports.admin}`,
    `-admin.port.grpc=${ports.adminGrpc}`,
    // Features with fixed default ports that parallel servers would fight over, and telemetry.
    '-admin.port.legacy=0',
    '-admin.ui=false',
    '-webdav=false',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-master.telemetry=false',
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
    `-s3.config=${config}`,
    // Otherwise a PUT into a missing bucket creates it, and "missing bucket" cannot be tested.
    '-s3.autoCreateBucket=false',
  ];
  // weed turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into an extra admin identity: never pass them.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GOMEMLIMIT: '192MiB' };
  // setpriv: weed is killed with the test process, even when that dies by SIGKILL.
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  const child = setpriv
    ? spawn(setpriv, ['--pdeathsig', 'KILL', '--', bin, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = `exited with ${signal ?? code}`));
  child.once('error', (err) => (exit = err.message));

  const endpoint = `http://127.0.0.1:${ports.s3}`;
  const stop = () => stopWeed(child, ports, dir);
  const deadline = Date.now() + readyTimeoutMs;
  try {
    // 1. The S3 listener is up.
    for (;;) {
      if (exit) throw new EarlyExit(`weed ${exit} before it was ready:\n${output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`weed was not ready within ${readyTimeoutMs} ms:\n${output.slice(-3000)}`);
      const ok = await fetch(`${endpoint}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(100);
    }
    // 2. Writes work: the first one waits until the filer has joined the lock ring (~1-5 s).
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: TEST_S3_CREDENTIALS });
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'ccflow-ready' }), {
        abortSignal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())),
      });
      await client.send(new PutObjectCommand({ Bucket: 'ccflow-ready', Key: 'ready', Body: 'ok' }), {
        abortSignal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())),
      });
    } finally {
      client.destroy();
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    endpoint,
    credentials: TEST_S3_CREDENTIALS,
    async createBucket(name) {
      const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: TEST_S3_CREDENTIALS });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    env(bucket, prefix = '') {
      return {
        CCFLOW_ARTIFACTS: `s3://${bucket}/${prefix}`,
        CCFLOW_S3_ENDPOINT: endpoint,
        AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
      };
    },
    log: () => output,
    stop,
  };
}

async function stopWeed(child: ChildProcess, ports: Ports, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // mini exits cleanly on SIGTERM in ~1.5 s; SIGKILL if it does not.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  // weed puts its gRPC sockets in /tmp whatever it is told; a clean exit removes them, a kill does not.
  for (const [name, port] of Object.entries(ports)) {
    if (name.endsWith('Grpc')) {
      await rm(`/tmp/seaweedfs-${name.slice(0, -'Grpc'.length)}-grpc-${port}.sock`, { force: true });
    }
  }
  await rm(dir, { recursive: true, force: true });
}

async function freePorts(): Promise<Ports> {
  const taken = new Set<number>();
  const ports: Partial<Ports> = {};
  for (const name of PORT_NAMES) {
    let port: number;
    do port = await freePort();
    while (taken.has(port));
    taken.add(port);
    ports[name] = port;
  }
  return ports as Ports;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * docker-compose.yml and the worker Dockerfile, checked without a Docker engine: the services
 * and their wiring (depends_on, ports, addresses), that every variable the worker gets is one
 * ccflow reads, that every `${VAR}` is documented in .env.example, and that the image carries
 * the claude CLI version package.json pins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../../src/home.js';

const read = (file: string) => readFileSync(path.join(PACKAGE_ROOT, file), 'utf8');

const Service = z.object({
  image: z.string().optional(),
  build: z.union([z.string(), z.object({ context: z.string(), dockerfile: z.string().optional() })]).optional(),
  depends_on: z.union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string() }))]).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  ports: z.array(z.string()).optional(),
  expose: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  deploy: z.object({ replicas: z.number() }).optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
});
const Compose = z.object({
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.unknown().nullable()).optional(),
});

const composeText = read('docker-compose.yml');
const compose = Compose.parse(parse(composeText));
const services = compose.services;
const env = (name: string): Record<string, string> =>
  Object.fromEntries(Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, String(v)]));

/** Every source file's text, to check that a variable given to the worker is read somewhere. */
function sourceText(dir = path.join(PACKAGE_ROOT, 'src')): string {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

test('compose has PostgreSQL, Temporal, its Web UI, SeaweedFS, NATS, ccflow workers and the NATS front end, wired to each other', () => {
  assert.deepEqual(Object.keys(services).sort(), [
    'nats',
    'nats-frontend',
    'postgresql',
    'seaweedfs',
    'seaweedfs-init',
    'temporal',
    'temporal-ui',
    'worker',
  ]);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image || s.build, `${name} has an image or a build`);
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) assert.ok(services[d], `${name} depends on ${d}, which is not a service`);
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0] ?? '';
      if (!source.startsWith('.') && !source.startsWith('/'))
        assert.ok(compose.volumes && source in compose.volumes, `volume ${source} is declared`);
    }
  }
  // Temporal stores in PostgreSQL, with the same credentials.
  const temporal = env('temporal');
  assert.equal(temporal.DB, 'postgres12');
  assert.equal(temporal.POSTGRES_SEEDS, 'postgresql');
  assert.equal(temporal.DB_PORT, '5432');
  assert.equal(temporal.POSTGRES_USER, env('postgresql').POSTGRES_USER);
  assert.equal(temporal.POSTGRES_PWD, env('postgresql').POSTGRES_PASSWORD);
  assert.deepEqual(services.temporal?.depends_on, { postgresql: { condition: 'service_healthy' } });
  assert.ok(services.temporal?.ports?.includes('127.0.0.1:7233:7233'));
  assert.ok(services['temporal-ui']?.ports?.includes('127.0.0.1:8080:8080'));
  // Nothing is published beyond the host's loopback.
  for (const [name, svc] of Object.entries(services))
    for (const p of svc.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p}`);

  // The UI and the workers reach the frontend by service name and its gRPC port.
  const frontend = `temporal:${(services.temporal?.ports?.[0] ?? '').split(':').at(-1)}`;
  assert.equal(env('temporal-ui').TEMPORAL_ADDRESS, frontend);
  assert.equal(env('worker').TEMPORAL_ADDRESS, frontend);
  assert.deepEqual(services.worker?.depends_on, {
    temporal: { condition: 'service_started' },
    'seaweedfs-init': { condition: 'service_completed_successfully' },
    nats: { condition: 'service_started' },
  });

  // Images pinned to the versions ccflow is tested with (the dev server's server and UI).
  assert.match(services.temporal?.image ?? '', /^temporalio\/auto-setup:\d+\.\d+\.\d+$/);
  assert.match(services['temporal-ui']?.image ?? '', /^temporalio\/ui:\d+\.\d+\.\d+$/);
  assert.match(services.seaweedfs?.image ?? '', /^chrislusf\/seaweedfs:\d+\.\d+$/);
});

test('the deployment is scaled out: two worker replicas sharing SeaweedFS, not a disk', () => {
  const worker = env('worker');
  assert.equal(services.worker?.deploy?.replicas, 2);
  // Each replica is a host: its sandboxes must not be visible to (or swept by) another one.
  assert.deepEqual(services.worker?.volumes ?? [], [], 'workers share no volume');
  assert.match(worker.CCFLOW_ARTIFACTS ?? '', /^s3:\/\/ccflow\//);
  const s3Port = (services.seaweedfs?.ports?.[0] ?? '').split(':').at(-1);
  assert.equal(worker.CCFLOW_S3_ENDPOINT, `http://seaweedfs:${s3Port}`);
  // The workers sign with the identity SeaweedFS is started with; both come from .env only.
  const store = env('seaweedfs');
  assert.equal(worker.AWS_ACCESS_KEY_ID, store.AWS_ACCESS_KEY_ID);
  assert.equal(worker.AWS_SECRET_ACCESS_KEY, store.AWS_SECRET_ACCESS_KEY);
  assert.match(worker.AWS_SECRET_ACCESS_KEY ?? '', /^\$\{S3_SECRET_ACCESS_KEY:\?/);
  // The bucket the workers use is the one the init job creates, and SeaweedFS keeps its data.
  assert.match(String(services['seaweedfs-init']?.command ?? ''), /s3\.bucket\.create -name ccflow\b/);
  assert.deepEqual(services['seaweedfs-init']?.depends_on, { seaweedfs: { condition: 'service_healthy' } });
  assert.ok(services.seaweedfs?.volumes?.some((v) => v.endsWith(':/data')));
});

test('the NATS front end and the workers meet on the nats service, pinned to the tested version', () => {
  const pkg = JSON.parse(read('package.json')) as { ccflow: { tools: Record<string, string> } };
  assert.equal(services.nats?.image, `nats:${pkg.ccflow.tools['nats-server']}`);
  assert.ok(services.nats?.ports?.includes('127.0.0.1:4222:4222'));
  const url = 'nats://nats:4222';
  assert.equal(env('worker').CCFLOW_NATS_URL, url);
  const frontend = services['nats-frontend'];
  assert.equal(frontend?.image, services.worker?.image, 'the front end runs the ccflow image');
  assert.deepEqual(frontend?.command?.slice(0, 3), ['nats', '--server', url]);
  assert.equal(env('nats-frontend').TEMPORAL_ADDRESS, env('worker').TEMPORAL_ADDRESS);
  assert.deepEqual(frontend?.depends_on, ['temporal', 'nats']);
});

test('every variable the worker gets is one ccflow reads; every ${VAR} is in .env.example', () => {
  const src = sourceText();
  const worker = env('worker');
  for (const name of Object.keys(worker)) {
    assert.ok(new RegExp(`env\\.${name}\\b`).test(src), `${name} is given to the worker but ccflow never reads it`);
  }
  // The metrics port the worker serves is the one the image exposes.
  assert.ok(services.worker?.expose?.includes(worker.CCFLOW_METRICS_PORT ?? ''), 'worker exposes its metrics port');
  assert.equal(worker.CCFLOW_HOME, '/var/lib/ccflow');

  const interpolated = [...composeText.matchAll(/\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}/g)].map((m) => ({ name: m[1] ?? '', rest: m[2] }));
  assert.ok(interpolated.length > 0);
  const example = read('.env.example');
  for (const { name, rest } of interpolated) {
    assert.match(example, new RegExp(`^${name}=`, 'm'), `${name} is documented in .env.example`);
    assert.ok(rest, `\${${name}} has a default or says it is required`);
  }
  assert.match(composeText, /\$\{ANTHROPIC_API_KEY:\?[^}]+\}/, 'the API key is required, not defaulted');
});

test('the worker image builds from files that exist and carries the pinned claude CLI', () => {
  assert.equal(services.worker?.build, '.');
  const dockerfile = read('Dockerfile');
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; engines: { node: string } };

  const claudeArg = /^ARG CLAUDE_CODE_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
  assert.equal(claudeArg, pkg.dependencies['@anthropic-ai/claude-code']);
  assert.match(dockerfile, /apt-get install[^\n]*\bbubblewrap\b/);
  assert.match(dockerfile, /require\("@anthropic-ai\/claude-code\/package\.json"\)\.version[^\n]*\$\{CLAUDE_CODE_VERSION\}/);

  const nodeMajor = Number(/^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile)?.[1]);
  const required = Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
  assert.ok(nodeMajor >= required, `node ${nodeMajor} satisfies engines ${pkg.engines.node}`);

  // Every COPY from the build context names something in the repository.
  const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
  assert.ok(copies.length >= 4);
  for (const source of copies) assert.ok(existsSync(path.join(PACKAGE_ROOT, source)), `COPY ${source} exists`);
  const ignored = read('.dockerignore').split('\n').filter(Boolean);
  for (const source of copies) assert.ok(!ignored.includes(source), `${source} is not excluded by .dockerignore`);

  // The image's metrics port is the compose worker's.
  assert.equal(/^EXPOSE (\d+)$/m.exec(dockerfile)?.[1], env('worker').CCFLOW_METRICS_PORT);
  assert.match(dockerfile, /^CMD \["worker"\]$/m);
  // The worker runs as a non-root user, and the bundled result server is built into it.
  const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
  assert.ok(user !== undefined && user !== 'root' && user !== '0', `USER ${user}`);
  assert.match(dockerfile, /bundle-result-server\.mjs/);
});

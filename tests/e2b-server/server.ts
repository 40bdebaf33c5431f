/**
 * A local E2B-compatible server for tests: the control plane (the `E2B_API_URL` API) and envd
 * (the `E2B_SANDBOX_URL` side) over plain http, with sandboxes that are bubblewrap jails on this
 * host laid out like ccflow's E2B template (see `sandbox-vm.ts`).
 *
 * It models the behaviour of the real service that ccflow has to survive, with the real
 * service's numbers by default and shorter ones for tests:
 * - a sandbox expires at its timeout (300 s when create or connect leave it out) unless
 *   renewed with `POST /sandboxes/{id}/timeout`; connect only ever extends it;
 * - a command started with a deadline is killed when it passes (see `envd.ts`);
 * - output produced while no client is subscribed is dropped; an exit code is kept ~30 s;
 * - the API key (`X-API-KEY`) and each sandbox's envd access token are checked.
 *
 * Not implemented: pause/resume, snapshots, template builds, pty, stdin, watchers, metrics,
 * network rules, volumes, process selection by tag, gzip transfers, pagination tokens.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { localSandboxMounts } from '../../src/worker/index.js';
import { readBody } from './connect.js';
import { envdHandler, type EnvdSandbox } from './envd.js';
import { SandboxVm, type VmMounts } from './sandbox-vm.js';

/** The envd version the double reports (new enough for octet-stream uploads, default user). */
export const TEST_ENVD_VERSION = '0.5.7';

export interface E2BTestServerOpts {
  /** Where sandbox directories are created. */
  rootDir: string;
  /** The API key the control plane accepts. @default a random `e2b_...` key */
  apiKey?: string;
  /** Template names (or ids) that exist. @default ['ccflow'] */
  templates?: string[];
  /** What /opt/ccflow holds in each sandbox. @default localSandboxMounts() */
  mounts?: VmMounts;
  bwrapPath?: string;
  /**
   * Sandbox lifetime when create leaves `timeout` out, and the extension connect applies.
   * @default 300_000 // 300 seconds, as the real API
   */
  defaultSandboxTimeoutMs?: number;
  /**
   * Replaces the deadline of every command started with one (the SDK asks for 60 s unless
   * `timeoutMs: 0`). Commands started without a deadline are unaffected.
   * @default undefined // honour the client's Connect-Timeout-Ms, as envd does
   */
  commandDeadlineMs?: number;
  /**
   * How long an exited process's exit code stays available to Connect.
   * @default 30_000 // 30 seconds
   */
  exitCodeRetentionMs?: number;
}

export interface TestSandbox extends EnvdSandbox {
  id: string;
  templateID: string;
  metadata: Record<string, string>;
  startedAt: number;
  endAt: number;
  expiry?: NodeJS.Timeout;
}

export interface E2BTestServerStats {
  created: number;
  killed: number;
  expired: number;
  /** setTimeout calls (renewals). */
  timeoutUpdates: number;
  /** Over all sandboxes, including gone ones. */
  deadlineKills: number;
  droppedOutputBytes: number;
}

export interface E2BTestServer {
  /** For `E2B_API_URL` / the SDK's `apiUrl`. */
  apiUrl: string;
  /** For `E2B_SANDBOX_URL` / the SDK's `sandboxUrl`. */
  sandboxUrl: string;
  apiKey: string;
  /** Live sandboxes by id. */
  sandboxes: ReadonlyMap<string, TestSandbox>;
  stats(): E2BTestServerStats;
  /** Kills a sandbox as if it expired (tests of a sandbox lost under a running agent). */
  expireSandbox(id: string): void;
  /** Drops every open envd stream without an end message (a network failure). */
  dropStreams(): number;
  setCommandDeadlineMs(ms: number | undefined): void;
  close(): Promise<void>;
}

export async function startE2BTestServer(opts: E2BTestServerOpts): Promise<E2BTestServer> {
  const apiKey = opts.apiKey ?? `e2b_${randomBytes(20).toString('hex')}`;
  const templates = new Set(opts.templates ?? ['ccflow']);
  const mounts = opts.mounts ?? localSandboxMounts();
  const defaultTimeoutMs = opts.defaultSandboxTimeoutMs ?? 300_000;
  const exitCodeRetentionMs = opts.exitCodeRetentionMs ?? 30_000;
  let commandDeadlineMs = opts.commandDeadlineMs;
  const sandboxes = new Map<string, TestSandbox>();
  const counters = { created: 0, killed: 0, expired: 0, timeoutUpdates: 0, deadlineKills: 0, droppedOutputBytes: 0 };

  const remove = (sbx: TestSandbox, why: 'killed' | 'expired') => {
    if (sandboxes.get(sbx.id) !== sbx) return;
    sandboxes.delete(sbx.id);
    clearTimeout(sbx.expiry);
    counters[why] += 1;
    counters.deadlineKills += sbx.vm.stats.deadlineKills;
    counters.droppedOutputBytes += sbx.vm.stats.droppedOutputBytes;
    sbx.vm.kill();
    // Like a VM going away: open connections break.
    for (const s of sbx.streams) s.destroy();
    void rm(sbx.vm.dir, { recursive: true, force: true }).catch(() => undefined);
  };
  const schedule = (sbx: TestSandbox, endAt: number) => {
    sbx.endAt = endAt;
    clearTimeout(sbx.expiry);
    sbx.expiry = setTimeout(() => remove(sbx, 'expired'), Math.max(0, endAt - Date.now()));
    sbx.expiry.unref();
  };

  const api = createServer((req, res) => {
    controlPlane(req, res).catch((err: unknown) => apiError(res, 500, err instanceof Error ? err.message : String(err)));
  });

  async function controlPlane(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers['x-api-key'] !== apiKey) {
      apiError(res, 401, 'Invalid API key, please check your E2B_API_KEY');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://api');
    const parts = url.pathname.split('/').filter(Boolean);
    const body = async (): Promise<Record<string, unknown>> => {
      const raw = await readBody(req);
      if (raw.length === 0) return {};
      return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    };
    const live = (id: string | undefined): TestSandbox | undefined => (id === undefined ? undefined : sandboxes.get(id));

    // POST /v2/sandboxes
    if (req.method === 'POST' && url.pathname === '/v2/sandboxes') {
      const b = await body();
      const templateID = String(b.templateID ?? '');
      if (!templates.has(templateID)) return apiError(res, 404, `template '${templateID}' not found`);
      const id = `i${randomBytes(10).toString('hex')}`;
      const vm = new SandboxVm(id, path.join(opts.rootDir, id), { mounts, bwrapPath: opts.bwrapPath, exitCodeRetentionMs });
      const now = Date.now();
      const sbx: TestSandbox = {
        id,
        templateID,
        metadata: { ...((b.metadata as Record<string, string> | undefined) ?? {}) },
        envVars: { ...((b.envVars as Record<string, string> | undefined) ?? {}) },
        accessToken: randomBytes(16).toString('hex'),
        streams: new Set(),
        vm,
        startedAt: now,
        endAt: now,
      };
      try {
        await vm.boot();
      } catch (err) {
        vm.kill();
        return apiError(res, 500, `sandbox failed to start: ${err instanceof Error ? err.message : String(err)}`);
      }
      sandboxes.set(id, sbx);
      counters.created += 1;
      schedule(sbx, Date.now() + (typeof b.timeout === 'number' ? b.timeout * 1000 : defaultTimeoutMs));
      return json(res, 201, sandboxJson(sbx, true));
    }
    // GET /v2/sandboxes
    if (req.method === 'GET' && url.pathname === '/v2/sandboxes') {
      const want = new URLSearchParams(url.searchParams.get('metadata') ?? '');
      const states = url.searchParams.get('state')?.split(',');
      const list = [...sandboxes.values()].filter((s) => {
        if (states && !states.includes('running')) return false;
        for (const [k, v] of want) if (s.metadata[decodeURIComponent(k)] !== decodeURIComponent(v)) return false;
        return true;
      });
      return json(
        res,
        200,
        list.map((s) => listedJson(s)),
      );
    }
    // POST /v2/sandboxes/{id}/connect
    if (req.method === 'POST' && parts[0] === 'v2' && parts[1] === 'sandboxes' && parts[3] === 'connect') {
      const sbx = live(parts[2]);
      if (!sbx) return apiError(res, 404, `sandbox '${parts[2]}' not found`);
      const b = await body();
      const ms = typeof b.timeout === 'number' ? b.timeout * 1000 : defaultTimeoutMs;
      // "TTL is only extended."
      if (Date.now() + ms > sbx.endAt) schedule(sbx, Date.now() + ms);
      return json(res, 200, sandboxJson(sbx, true));
    }
    if (parts[0] === 'sandboxes' && parts[1] !== undefined) {
      const sbx = live(parts[1]);
      if (!sbx) return apiError(res, 404, `sandbox '${parts[1]}' not found`);
      // GET /sandboxes/{id}
      if (req.method === 'GET' && parts.length === 2)
        return json(res, 200, { ...listedJson(sbx), envdAccessToken: sbx.accessToken, domain: null });
      // DELETE /sandboxes/{id}
      if (req.method === 'DELETE' && parts.length === 2) {
        remove(sbx, 'killed');
        res.writeHead(204);
        res.end();
        return;
      }
      // POST /sandboxes/{id}/timeout: sets the end from now, shorter or longer.
      if (req.method === 'POST' && parts[2] === 'timeout') {
        const b = await body();
        if (typeof b.timeout !== 'number' || b.timeout < 0) return apiError(res, 400, 'timeout (seconds) is required');
        counters.timeoutUpdates += 1;
        schedule(sbx, Date.now() + b.timeout * 1000);
        res.writeHead(204);
        res.end();
        return;
      }
      if (req.method === 'POST' && parts[2] === 'pause') return apiError(res, 501, 'pause is not implemented by the E2B test double');
    }
    apiError(res, 404, `${req.method} ${url.pathname} is not implemented by the E2B test double`);
  }

  const envd = createServer((req, res) => {
    handleEnvd(req, res).catch((err: unknown) => {
      if (!res.headersSent) apiError(res, 500, err instanceof Error ? err.message : String(err));
      else res.destroy();
    });
  });
  const handleEnvd = envdHandler({ sandbox: (id) => sandboxes.get(id), commandDeadlineMs: () => commandDeadlineMs });

  await Promise.all([listen(api), listen(envd)]);
  const base = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

  return {
    apiUrl: base(api),
    sandboxUrl: base(envd),
    apiKey,
    sandboxes,
    stats() {
      let deadlineKills = counters.deadlineKills;
      let droppedOutputBytes = counters.droppedOutputBytes;
      for (const s of sandboxes.values()) {
        deadlineKills += s.vm.stats.deadlineKills;
        droppedOutputBytes += s.vm.stats.droppedOutputBytes;
      }
      return { ...counters, deadlineKills, droppedOutputBytes };
    },
    expireSandbox(id) {
      const sbx = sandboxes.get(id);
      if (sbx) remove(sbx, 'expired');
    },
    dropStreams() {
      let n = 0;
      for (const s of sandboxes.values()) {
        for (const stream of [...s.streams]) {
          stream.destroy();
          n += 1;
        }
      }
      return n;
    },
    setCommandDeadlineMs(ms) {
      commandDeadlineMs = ms;
    },
    async close() {
      for (const s of [...sandboxes.values()]) remove(s, 'killed');
      api.closeAllConnections();
      envd.closeAllConnections();
      await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => envd.close(r))]);
    },
  };
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function apiError(res: ServerResponse, code: number, message: string): void {
  json(res, code, { code, message });
}

function sandboxJson(s: TestSandbox, withToken: boolean) {
  return {
    sandboxID: s.id,
    templateID: s.templateID,
    clientID: 'e2b-test-double',
    envdVersion: TEST_ENVD_VERSION,
    ...(withToken ? { envdAccessToken: s.accessToken } : {}),
    domain: null,
  };
}

function listedJson(s: TestSandbox) {
  return {
    sandboxID: s.id,
    templateID: s.templateID,
    clientID: 'e2b-test-double',
    cpuCount: 2,
    memoryMB: 2048,
    diskSizeMB: 10_240,
    envdVersion: TEST_ENVD_VERSION,
    metadata: s.metadata,
    startedAt: new Date(s.startedAt).toISOString(),
    endAt: new Date(s.endAt).toISOString(),
    state: 'running',
  };
}

/**
 * Where and how to connect to NATS, resolved the way the `nats` CLI does it: a context (`--context`
 * or `NATS_CONTEXT`, else the one `nats context select` chose) supplies defaults, and each flag or
 * its `NATS_*` variable overrides the matching field. Credentials are read from files here and go
 * straight into the connection; they are never logged (`describeTarget` says what is used).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credsAuthenticator, nkeyAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { z } from 'zod';

export interface NatsConnectFlags {
  /** `--server`, `NATS_URL`; comma-separated URLs allowed. */
  server?: string;
  /** `--context`, `NATS_CONTEXT`: a name under `~/.config/nats/context/`, or a path to a context file. */
  context?: string;
  user?: string;
  password?: string;
  token?: string;
  /** A `.creds` file (user JWT + seed). */
  creds?: string;
  /** A file holding an nkey seed. */
  nkey?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsFirst?: boolean;
  inboxPrefix?: string;
}

/** The `NATS_*` variables the `nats` CLI reads, as flags. */
export function flagsFromEnv(env: NodeJS.ProcessEnv): NatsConnectFlags {
  const pick = (k: string): string | undefined => (env[k] ? env[k] : undefined);
  const flags: NatsConnectFlags = {};
  const set = <K extends keyof NatsConnectFlags>(k: K, v: NatsConnectFlags[K] | undefined): void => {
    if (v !== undefined) flags[k] = v;
  };
  set('server', pick('NATS_URL'));
  set('context', pick('NATS_CONTEXT'));
  set('user', pick('NATS_USER'));
  set('password', pick('NATS_PASSWORD'));
  set('token', pick('NATS_TOKEN'));
  set('creds', pick('NATS_CREDS'));
  set('nkey', pick('NATS_NKEY'));
  set('tlsCert', pick('NATS_CERT'));
  set('tlsKey', pick('NATS_KEY'));
  set('tlsCa', pick('NATS_CA'));
  set('inboxPrefix', pick('NATS_INBOX_PREFIX'));
  return flags;
}

/** The fields of a `nats` CLI context file that a client connection uses. */
const ContextFile = z.looseObject({
  url: z.string().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
  creds: z.string().optional(),
  nkey: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  ca: z.string().optional(),
  tls_first: z.boolean().optional(),
  inbox_prefix: z.string().optional(),
});

function configDir(env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config'), 'nats');
}

/** The context to use: the named one, else the selected one, else none. */
async function loadContext(name: string | undefined, env: NodeJS.ProcessEnv): Promise<NatsConnectFlags> {
  const dir = configDir(env);
  let chosen = name;
  if (!chosen) {
    const selected = await readFile(path.join(dir, 'context.txt'), 'utf8').catch(() => '');
    chosen = selected.trim() || undefined;
    if (!chosen) return {};
  }
  const file = chosen.includes('/') || chosen.endsWith('.json') ? chosen : path.join(dir, 'context', `${chosen}.json`);
  if (!existsSync(file)) throw new Error(`nats context "${chosen}" not found (looked for ${file})`);
  const parsed = ContextFile.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`nats context ${file} is not a valid context file: ${parsed.error.issues[0]?.message ?? ''}`);
  const c = parsed.data;
  const out: NatsConnectFlags = {};
  const entries: [keyof NatsConnectFlags, string | boolean | undefined][] = [
    ['server', c.url],
    ['user', c.user],
    ['password', c.password],
    ['token', c.token],
    ['creds', c.creds],
    ['nkey', c.nkey],
    ['tlsCert', c.cert],
    ['tlsKey', c.key],
    ['tlsCa', c.ca],
    ['tlsFirst', c.tls_first],
    ['inboxPrefix', c.inbox_prefix],
  ];
  for (const [k, v] of entries) if (v !== undefined && v !== '') Object.assign(out, { [k]: v });
  return out;
}

const DEFAULT_SERVER = 'nats://127.0.0.1:4222';

/** Merges context, environment and flags (in rising precedence) into the flags to connect with. */
export async function resolveNatsFlags(flags: NatsConnectFlags, env: NodeJS.ProcessEnv = process.env): Promise<NatsConnectFlags> {
  const fromEnv = flagsFromEnv(env);
  const contextName = flags.context ?? fromEnv.context;
  const ctx = await loadContext(contextName, env);
  return { ...ctx, ...fromEnv, ...flags, server: flags.server ?? fromEnv.server ?? ctx.server ?? DEFAULT_SERVER };
}

/** Connection options for `connect()`, reading the credential files the flags name. */
export async function connectionOptions(resolved: NatsConnectFlags, name: string): Promise<NodeConnectionOptions> {
  const opts: NodeConnectionOptions = {
    name,
    servers: (resolved.server ?? DEFAULT_SERVER)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
  if (resolved.creds) opts.authenticator = credsAuthenticator(await readFile(resolved.creds));
  else if (resolved.nkey) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode((await readFile(resolved.nkey, 'utf8')).trim()));
  if (resolved.token) opts.token = resolved.token;
  if (resolved.user) {
    opts.user = resolved.user;
    if (resolved.password) opts.pass = resolved.password;
  }
  if (resolved.tlsCert || resolved.tlsKey || resolved.tlsCa || resolved.tlsFirst) {
    opts.tls = {
      ...(resolved.tlsCert ? { certFile: resolved.tlsCert } : {}),
      ...(resolved.tlsKey ? { keyFile: resolved.tlsKey } : {}),
      ...(resolved.tlsCa ? { caFile: resolved.tlsCa } : {}),
      ...(resolved.tlsFirst ? { handshakeFirst: true } : {}),
    };
  }
  if (resolved.inboxPrefix) opts.inboxPrefix = resolved.inboxPrefix;
  return opts;
}

/** The server and how this connection authenticates, without any secret. */
export function describeTarget(resolved: NatsConnectFlags): string {
  const auth = resolved.creds
    ? `creds ${resolved.creds}`
    : resolved.nkey
      ? `nkey ${resolved.nkey}`
      : resolved.token
        ? 'token'
        : resolved.user
          ? `user ${resolved.user}`
          : 'no credentials';
  const servers = (resolved.server ?? DEFAULT_SERVER).split(',').map((s) => s.replace(/\/\/[^@/]*@/, '//***@'));
  return `${servers.join(',')} (${auth}${resolved.context ? `, context ${resolved.context}` : ''})`;
}

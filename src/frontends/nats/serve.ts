/**
 * `ccflow nats` put together: a NATS connection, the ccflow client, and the host that serves
 * seed 002's controller and one agent per open session. Used by the CLI command and by
 * `ccflow dev --nats`.
 */
import os from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { CcflowClient, TaskSpecInput } from '../../client/index.js';
import { CcflowSessionBackend } from './ccflow-backend.js';
import { connectionOptions, describeTarget, resolveNatsFlags, type NatsConnectFlags } from './connection.js';
import type { SpawnDefaults } from './controller-requests.js';
import type { FrontendLogger, HostTiming } from './host-context.js';
import { NatsHost } from './host.js';
import { DEFAULT_AGENT_TOKEN, sanitizeToken, subjectFor } from './subjects.js';

export interface NatsFrontendOpts {
  client: CcflowClient;
  nats: NatsConnectFlags;
  /** Subject token 4; the user's name (made a valid token) when absent. */
  owner?: string;
  /** The controller's name; `control` (or the next free `control-N`) when absent. */
  name?: string;
  /** @default 'cc-headless' */
  agent?: string;
  defaults?: Partial<SpawnDefaults>;
  /** TaskSpec fields every session's task gets (sandbox provider, timeouts). */
  taskDefaults?: Partial<TaskSpecInput>;
  /** Must match the workers' CCFLOW_LIVE_SUBJECT_PREFIX. @default 'ccflow.live' */
  liveSubjectPrefix?: string;
  timing?: Partial<HostTiming>;
  log: FrontendLogger;
}

export interface NatsFrontend {
  host: NatsHost;
  nc: NatsConnection;
  /** Where it connected, without secrets. */
  target: string;
  /** Leaves NATS (sessions stay open in Temporal) and closes the connection. */
  stop(): Promise<void>;
}

/** The default owner token: the user's name as a valid token, as seed 002 picks it. */
export function defaultOwner(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.USER;
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      user = undefined;
    }
  }
  return sanitizeToken(user ?? '') || 'anon';
}

export async function startNatsFrontend(o: NatsFrontendOpts): Promise<NatsFrontend> {
  const resolved = await resolveNatsFlags(o.nats);
  const target = describeTarget(resolved);
  const nc = await connect(await connectionOptions(resolved, 'ccflow-nats'));
  try {
    const host = await NatsHost.start({
      nc,
      owner: o.owner ?? defaultOwner(),
      agent: o.agent ?? DEFAULT_AGENT_TOKEN,
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.defaults ? { defaults: o.defaults } : {}),
      ...(o.timing ? { timing: o.timing } : {}),
      log: o.log,
      backend: (identity) =>
        new CcflowSessionBackend({
          client: o.client,
          nc,
          identity,
          ...(o.taskDefaults ? { taskDefaults: o.taskDefaults } : {}),
          ...(o.liveSubjectPrefix ? { liveSubjectPrefix: o.liveSubjectPrefix } : {}),
        }),
    });
    const id = host.controller.identity;

    o.log.info(
      `nats: connected to ${target}; control endpoints ${['spawn', 'stop', 'list'].map((v) => subjectFor(v as 'spawn', id)).join(' ')}`,
    );
    return {
      host,
      nc,
      target,
      stop: async () => {
        await host.stop();
        await nc.drain().catch(() => undefined);
      },
    };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

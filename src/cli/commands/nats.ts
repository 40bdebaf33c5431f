/** `ccflow nats`: seed 002's Claude Code agent host on NATS, with every session a durable ccflow task. */
import { CcflowClient } from '../../client/index.js';
import type { ProviderName } from '../../domain/constants.js';
import type { SeedPermissionMode, SpawnDefaults } from '../../frontends/nats/controller-requests.js';
import { startNatsFrontend, type NatsFrontend } from '../../frontends/nats/serve.js';
import type { NatsConnectFlags } from '../../frontends/nats/connection.js';
import { EXIT } from '../errors.js';
import { defaultIo, waitForSignal, type Io } from '../output.js';

export interface NatsCommandOptions extends NatsConnectFlags {
  owner?: string;
  name?: string;
  agent: string;
  defaultModel?: string;
  defaultAllowedTools?: string;
  defaultPermissionMode?: SeedPermissionMode;
  defaultMaxTurns?: number;
  defaultMaxLifetime?: number;
  provider?: ProviderName;
  liveSubjectPrefix?: string;
}

/** The spawn defaults the flags set (the rest stay seed 002's). */
export function spawnDefaults(o: NatsCommandOptions): Partial<SpawnDefaults> {
  return {
    ...(o.defaultModel ? { model: o.defaultModel } : {}),
    ...(o.defaultAllowedTools !== undefined
      ? {
          allowedTools: o.defaultAllowedTools
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
        }
      : {}),
    ...(o.defaultPermissionMode ? { permissionMode: o.defaultPermissionMode } : {}),
    ...(o.defaultMaxTurns !== undefined ? { maxTurns: o.defaultMaxTurns } : {}),
    ...(o.defaultMaxLifetime !== undefined ? { maxLifetimeS: o.defaultMaxLifetime } : {}),
  };
}

/** Starts the front end with a connected client; the caller stops both. */
export async function startFrontend(o: NatsCommandOptions, client: CcflowClient, io: Io): Promise<NatsFrontend> {
  const { owner, name, agent, provider, liveSubjectPrefix } = o;
  return startNatsFrontend({
    client,
    nats: o,
    agent,
    ...(owner !== undefined ? { owner } : {}),
    ...(name !== undefined ? { name } : {}),
    defaults: spawnDefaults(o),
    ...(provider ? { taskDefaults: { sandbox: { provider } } } : {}),
    ...(liveSubjectPrefix ? { liveSubjectPrefix } : {}),
    log: {
      info: (m) => io.stderr.write(`ccflow ${m}\n`),
      warn: (m, d) => io.stderr.write(`ccflow ${m}${d === undefined ? '' : `: ${d instanceof Error ? d.message : String(d)}`}\n`),
    },
  });
}

export async function natsCommand(o: NatsCommandOptions, io: Io = defaultIo): Promise<number> {
  const client = await CcflowClient.connect();
  try {
    const frontend = await startFrontend(o, client, io);
    await waitForSignal();
    io.stderr.write('ccflow nats: leaving NATS; the sessions stay open in Temporal\n');
    await frontend.stop();
    return EXIT.ok;
  } finally {
    await client.disconnect();
  }
}

import { Client, Connection } from '@temporalio/client';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE } from '../domain/constants.js';
import { ServerUnreachableError } from './errors.js';

/** Where the client connects and which queue it starts work on. */
export interface ConnectOpts {
  /** @default process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' */
  address?: string;
  /** @default process.env.TEMPORAL_NAMESPACE ?? 'default' */
  namespace?: string;
  /** The task queue ccflow's workers poll. @default process.env.CCFLOW_TASK_QUEUE ?? 'ccflow' */
  taskQueue?: string;
  /** How long to wait for the server to answer. @default 5_000 // ms */
  connectTimeoutMs?: number;
}

/** The settings a client uses: given ones, else the environment's, else ccflow's defaults. */
export function resolveConnectOpts(o: ConnectOpts = {}, env: NodeJS.ProcessEnv = process.env): Required<ConnectOpts> {
  return {
    address: o.address ?? env.TEMPORAL_ADDRESS ?? DEFAULT_ADDRESS,
    namespace: o.namespace ?? env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    taskQueue: o.taskQueue ?? env.CCFLOW_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    connectTimeoutMs: o.connectTimeoutMs ?? 5_000,
  };
}

/** A Temporal client, or ServerUnreachableError when nothing answers at the address. */
export async function connectTemporal(o: Required<ConnectOpts>): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: o.address, connectTimeout: o.connectTimeoutMs });
  } catch (err) {
    throw new ServerUnreachableError(o.address, { cause: err });
  }
  return new Client({ connection, namespace: o.namespace });
}

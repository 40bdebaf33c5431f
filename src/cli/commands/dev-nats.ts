/** The NATS half of `ccflow dev --nats`: a nats-server and `ccflow nats` on it, in this process. */
import { CcflowClient } from '../../client/index.js';
import { startNatsServer } from '../../testing/nats-server.js';
import { ensureSearchAttributes } from '../../worker/search-attributes.js';
import type { Io } from '../output.js';
import { startFrontend } from './nats.js';

export async function startDevNats(o: {
  port: number;
  temporalAddress: string;
  io: Io;
}): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = await startNatsServer({ port: o.port });
  o.io.stderr.write(`nats-server on ${server.url}\n`);
  try {
    const client = await CcflowClient.connect({ address: o.temporalAddress });
    // The front end lists its sessions by CcflowOrigin at once, before the worker (which adds
    // missing search attributes) has started: a dev database made by an older ccflow lacks it.
    await ensureSearchAttributes(client.temporal.connection.operatorService, client.temporal.options.namespace);
    const frontend = await startFrontend({ server: server.url, agent: 'cc-headless' }, client, o.io).catch(async (err: unknown) => {
      await client.disconnect();
      throw err;
    });
    return {
      url: server.url,
      stop: async () => {
        await frontend.stop();
        await client.disconnect();
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

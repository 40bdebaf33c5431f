import { CcflowClient, resolveConnectOpts, type ConnectOpts } from '../../client/index.js';

/**
 * The MCP server's one connection to Temporal, made on first use rather than at start: the
 * server must come up (and list its tools) even while Temporal is down, and then answer each
 * call with "no Temporal server answers at ..." until it is up. A failed connect is retried
 * by the next call.
 */
export class ClientGateway {
  #client: Promise<CcflowClient> | undefined;
  readonly opts: Required<ConnectOpts>;

  constructor(opts: ConnectOpts = {}) {
    this.opts = resolveConnectOpts(opts);
  }

  /** Where Temporal is and which queue tasks go to, for messages. */
  get where(): string {
    return `task queue "${this.opts.taskQueue}" at ${this.opts.address}`;
  }

  async client(): Promise<CcflowClient> {
    this.#client ??= CcflowClient.connect(this.opts);
    try {
      return await this.#client;
    } catch (err) {
      this.#client = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    const client = await pending?.catch(() => undefined);
    await client?.disconnect();
  }
}

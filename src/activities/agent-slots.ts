/**
 * Caps the agents one worker runs at once. A run waits for a slot inside its (started,
 * heartbeating) activity rather than in the task queue: the worker can then take many more
 * activities than agents, so a quick activity on a host queue (fetch a result, save a session)
 * never waits behind agents long enough to look like a lost host.
 */
export class AgentSlots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`agent slots must be a positive integer, not ${size}`);
    this.#free = size;
  }

  /** Agents running now. */
  get inUse(): number {
    return this.size - this.#free;
  }

  /**
   * Resolves with a release function once a slot is free. `onWait` runs every `intervalMs`
   * while waiting (the activity heartbeats there); an abort gives up the place in line.
   */
  async acquire(o: { signal: AbortSignal; onWait: () => void; intervalMs: number }): Promise<() => void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        cleanup();
        resolve();
      };
      const timer = setInterval(o.onWait, o.intervalMs);
      const onAbort = () => {
        const i = this.#waiting.indexOf(wake);
        if (i >= 0) this.#waiting.splice(i, 1);
        cleanup();
        reject(o.signal.reason instanceof Error ? o.signal.reason : new Error('aborted while waiting for an agent slot'));
      };
      const cleanup = () => {
        clearInterval(timer);
        o.signal.removeEventListener('abort', onAbort);
      };
      if (o.signal.aborted) return onAbort();
      o.signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(wake);
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // A waiting run takes the slot over directly, so nobody can jump the line.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free += 1;
    };
  }
}

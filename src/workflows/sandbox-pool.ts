import { CancellationScope, isCancellation, log } from '@temporalio/workflow';
import type { CreatedSandbox } from '../schemas/activities.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import { createSandbox, sandboxActivities, type SandboxActivities } from './activities.js';

/** One sandbox of a task and the agent runs made in it (teardown archives them). */
export interface SandboxEntry {
  sandbox: CreatedSandbox;
  runNames: string[];
  /** Destroyed before the task ended (its session saved first), while a call waited for a human. */
  released?: boolean;
}

/**
 * The sandboxes of one task: the one it works in now, and every one it made, so teardown
 * destroys them all (a lost sandbox's replacement, a follow-up's restored one).
 */
export class SandboxPool {
  readonly entries: SandboxEntry[];
  /** Where a released sandbox's transcripts went. */
  private artifactsDir: string | undefined;

  constructor(
    private readonly spec: TaskSpec,
    carried: readonly SandboxEntry[] = [],
  ) {
    this.entries = carried.map((e) => ({ sandbox: e.sandbox, runNames: [...e.runNames], ...(e.released ? { released: true } : {}) }));
  }

  /** The sandbox the task works in now. */
  get current(): SandboxEntry | undefined {
    return this.entries[this.entries.length - 1];
  }

  /** A new sandbox (seeded with the task's files on the first), which becomes the current one. */
  async create(seed: boolean): Promise<SandboxEntry> {
    const sandbox = await createSandbox({
      provider: this.spec.sandbox?.provider,
      timeoutSeconds: this.spec.sandbox?.timeoutSeconds,
      ...(seed ? { files: this.spec.files } : {}),
    });
    const entry = { sandbox, runNames: [] };
    this.entries.push(entry);
    return entry;
  }

  activities(entry: SandboxEntry): SandboxActivities {
    return sandboxActivities(entry.sandbox, this.spec.timeouts);
  }

  /**
   * Destroys a sandbox before the task ends (its transcripts archived first), so a task that
   * waits long holds none. A failure is logged, not fatal: the sweeper removes what is left.
   */
  async release(entry: SandboxEntry): Promise<void> {
    const { sandboxId, provider } = entry.sandbox;
    try {
      const destroyed = await this.activities(entry).destroySandbox({ sandboxId, provider, runNames: entry.runNames });
      entry.released = true;
      this.artifactsDir = destroyed.artifactsDir;
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.error('could not release the sandbox of a waiting task', { sandboxId, error: String(err) });
    }
  }

  /**
   * Saves the transcripts and destroys every sandbox, whatever happened, cancellation
   * included. Returns where the transcripts went.
   */
  async teardown(): Promise<string | undefined> {
    let artifactsDir = this.artifactsDir;
    await CancellationScope.nonCancellable(async () => {
      for (const entry of this.entries) {
        if (entry.released) continue;
        const { sandboxId, provider } = entry.sandbox;
        try {
          const destroyed = await this.activities(entry).destroySandbox({ sandboxId, provider, runNames: entry.runNames });
          artifactsDir = destroyed.artifactsDir;
        } catch (err) {
          // Keep the task's own outcome; the sweeper removes what teardown could not.
          log.error('sandbox teardown failed', { sandboxId, error: String(err) });
        }
      }
    });
    return artifactsDir;
  }
}

import { CancellationScope, log } from '@temporalio/workflow';
import type { CreatedSandbox } from '../schemas/activities.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import { createSandbox, sandboxActivities, type SandboxActivities } from './activities.js';

/** One sandbox of a task and the agent runs made in it (teardown archives them). */
export interface SandboxEntry {
  sandbox: CreatedSandbox;
  runNames: string[];
}

/**
 * The sandboxes of one task: the one it works in now, and every one it made, so teardown
 * destroys them all (a lost sandbox's replacement, a follow-up's restored one).
 */
export class SandboxPool {
  readonly entries: SandboxEntry[];

  constructor(
    private readonly spec: TaskSpec,
    carried: readonly SandboxEntry[] = [],
  ) {
    this.entries = carried.map((e) => ({ sandbox: e.sandbox, runNames: [...e.runNames] }));
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
   * Saves the transcripts and destroys every sandbox, whatever happened, cancellation
   * included. Returns where the transcripts went.
   */
  async teardown(): Promise<string | undefined> {
    let artifactsDir: string | undefined;
    await CancellationScope.nonCancellable(async () => {
      for (const entry of this.entries) {
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

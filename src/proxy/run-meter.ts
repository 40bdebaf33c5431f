/**
 * Per-run accounting for the model proxy: cost and tokens from each response's usage, budget
 * refusals, upstream errors. In memory for speed, written through to the state store so a
 * restarted worker picks up where it left off.
 */
import { costOf, priceOf } from './prices.js';
import { emptyRunUsage, type ProxyStateStore, type RunUsage, type UpstreamError } from './state.js';
import type { ResponseUsage } from './usage.js';

const MAX_UPSTREAM_ERRORS = 20;

interface Entry {
  usage: RunUsage;
  /** Writes to the store, one after another so an older snapshot never lands last. */
  saving: Promise<void>;
}

export class RunMeters {
  private readonly entries = new Map<string, Promise<Entry>>();

  constructor(
    private readonly store: ProxyStateStore,
    private readonly onSaveError: (err: unknown) => void,
  ) {}

  /** The run's usage so far (a copy), or undefined when the proxy never saw it. */
  async get(sandboxId: string, run: string): Promise<RunUsage | undefined> {
    const live = this.entries.get(key(sandboxId, run));
    if (live !== undefined) return structuredClone((await live).usage);
    return this.store.loadRun(sandboxId, run);
  }

  /** Whether the run has spent its budget (refusals are counted by the caller via `refused`). */
  async overBudget(sandboxId: string, run: string, budgetUsd: number | undefined): Promise<boolean> {
    if (budgetUsd === undefined) return false;
    const e = await this.entry(sandboxId, run, budgetUsd);
    return e.usage.costUsd >= budgetUsd;
  }

  async refused(sandboxId: string, run: string, budgetUsd: number | undefined): Promise<void> {
    await this.update(sandboxId, run, budgetUsd, (u) => {
      u.budgetRefusals += 1;
    });
  }

  /** Adds one finished response. Returns its cost. */
  async record(sandboxId: string, run: string, budgetUsd: number | undefined, r: ResponseUsage): Promise<number> {
    const cost = costOf(r.model, r.usage);
    await this.update(sandboxId, run, budgetUsd, (u) => {
      u.requests += 1;
      u.costUsd += cost;
      u.tokens.input += r.usage.input_tokens ?? 0;
      u.tokens.output += r.usage.output_tokens ?? 0;
      u.tokens.cacheRead += r.usage.cache_read_input_tokens ?? 0;
      u.tokens.cacheCreation += r.usage.cache_creation_input_tokens ?? 0;
      if (r.model !== undefined) {
        if (!u.models.includes(r.model) && u.models.length < 10) u.models.push(r.model);
        if (priceOf(r.model).estimated) u.estimated = true;
      }
    });
    return cost;
  }

  async upstreamError(sandboxId: string, run: string, budgetUsd: number | undefined, e: UpstreamError): Promise<void> {
    await this.update(sandboxId, run, budgetUsd, (u) => {
      u.upstreamErrors.push(e);
      if (u.upstreamErrors.length > MAX_UPSTREAM_ERRORS) u.upstreamErrors.shift();
      if (e.status === 429) u.rateLimited += 1;
      if (e.status === 529 || e.errorType === 'overloaded_error') u.overloaded += 1;
    });
  }

  /** Forgets a sandbox's runs (its tokens are revoked; the store drops them too). */
  forgetSandbox(sandboxId: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(`${sandboxId}\0`)) this.entries.delete(k);
  }

  /** Waits for pending writes (tests, shutdown). */
  async flush(): Promise<void> {
    for (const p of this.entries.values()) await (await p).saving;
  }

  private entry(sandboxId: string, run: string, budgetUsd: number | undefined): Promise<Entry> {
    const k = key(sandboxId, run);
    let p = this.entries.get(k);
    if (p === undefined) {
      p = this.store.loadRun(sandboxId, run).then((saved) => ({
        usage: saved ?? emptyRunUsage(budgetUsd),
        saving: Promise.resolve(),
      }));
      this.entries.set(k, p);
    }
    return p;
  }

  private async update(sandboxId: string, run: string, budgetUsd: number | undefined, fn: (u: RunUsage) => void): Promise<void> {
    const e = await this.entry(sandboxId, run, budgetUsd);
    fn(e.usage);
    const snapshot = structuredClone(e.usage);
    e.saving = e.saving.then(() => this.store.saveRun(sandboxId, run, snapshot)).catch(this.onSaveError);
  }
}

function key(sandboxId: string, run: string): string {
  return `${sandboxId}\0${run}`;
}

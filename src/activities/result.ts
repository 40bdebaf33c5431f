import { SANDBOX_FILES } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';
import type { FetchResultInput, FetchedResult } from '../schemas/activities.js';
import { checkResult, compileResultSchema } from '../schemas/result-schema.js';
import { translated } from './failures.js';
import type { SandboxAccess } from './sandboxes.js';

/** Reading back the result the agent submitted through the result MCP server, and judging it. */
export const createResultActivities = (sandboxes: SandboxAccess) => ({
  async fetchResult(input: FetchResultInput): Promise<FetchedResult> {
    const sandbox = await sandboxes.connect(input.provider, input.sandboxId);
    const validator = compileResultSchema(input.resultSchema);
    const lastAttempt = await readLastAttempt(sandbox);
    const raw = await translated(() => sandbox.readFile(SANDBOX_FILES.result));
    if (raw) {
      let value: unknown;
      try {
        value = JSON.parse(raw.toString('utf8'));
      } catch {
        return { status: 'invalid', errors: ['(result): the submitted result is not valid JSON'], lastAttempt };
      }
      const check = checkResult(validator, value);
      return check.ok ? { status: 'valid', result: check.value } : { status: 'invalid', errors: check.errors, lastAttempt: value };
    }
    // No accepted submission: if the agent tried and was refused, quote why.
    if (lastAttempt && typeof lastAttempt === 'object' && 'arguments' in lastAttempt) {
      const check = checkResult(validator, (lastAttempt as { arguments: unknown }).arguments);
      if (!check.ok) return { status: 'invalid', errors: check.errors, lastAttempt };
    }
    return { status: 'missing', lastAttempt };
  },
});

async function readLastAttempt(sandbox: Sandbox): Promise<unknown> {
  const raw = await sandbox.readFile(SANDBOX_FILES.attempts).catch(() => undefined);
  const lines = raw?.toString('utf8').trim().split('\n').filter(Boolean) ?? [];
  const last = lines.at(-1);
  if (!last) return undefined;
  try {
    return JSON.parse(last);
  } catch {
    return last.slice(0, 2_000);
  }
}

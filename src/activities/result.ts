import { FileTooLargeError, readBounded, readTail } from '../sandbox/bounded.js';
import { SandboxInputError } from '../sandbox/errors.js';
import { SANDBOX_FILES } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';
import type { FetchResultInput, FetchedResult } from '../schemas/activities.js';
import { checkResult, compileResultSchema } from '../schemas/result-schema.js';
import { translated } from './failures.js';
import type { SandboxAccess } from './sandboxes.js';

/**
 * The most of a result file ccflow reads. A result travels through workflow history, whose
 * payloads Temporal caps at 2 MB; a bigger submission is refused and the agent asked for less.
 */
export const MAX_RESULT_BYTES = 1024 * 1024;
/** How much of the attempts log's end is read for its last line. */
const ATTEMPTS_TAIL_BYTES = 64 * 1024;

/** Reading back the result the agent submitted through the result MCP server, and judging it. */
export const createResultActivities = (sandboxes: SandboxAccess) => ({
  async fetchResult(input: FetchResultInput): Promise<FetchedResult> {
    const sandbox = await sandboxes.connect(input.provider, input.sandboxId);
    const validator = compileResultSchema(input.resultSchema);
    const lastAttempt = await readLastAttempt(sandbox);
    let raw: Buffer | undefined;
    try {
      raw = await translated(async () => {
        try {
          return await readBounded(sandbox, SANDBOX_FILES.result, MAX_RESULT_BYTES);
        } catch (err) {
          // The agent owns the file: a giant one, a symlink or a FIFO in its place is a bad
          // submission, which it is asked to correct, not a reason to read it anyway.
          if (err instanceof FileTooLargeError || err instanceof SandboxInputError) throw new BadResultFile(err.message);
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof BadResultFile) {
        return {
          status: 'invalid',
          errors: [`(result): the result file cannot be used: ${err.message}; submit the result again with submit_result`],
          lastAttempt,
        };
      }
      throw err;
    }
    if (raw !== undefined && raw.length > 0) {
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

class BadResultFile extends Error {}

async function readLastAttempt(sandbox: Sandbox): Promise<unknown> {
  const raw = await readTail(sandbox, SANDBOX_FILES.attempts, ATTEMPTS_TAIL_BYTES).catch(() => undefined);
  const lines = raw?.toString('utf8').trim().split('\n').filter(Boolean) ?? [];
  const last = lines.at(-1);
  if (!last) return undefined;
  try {
    return JSON.parse(last);
  } catch {
    return last.slice(0, 2_000);
  }
}

/**
 * How a run ended, read from its `result` line, with a third outcome beside success and
 * failure: the run is waiting. When ccflow's approval hook defers a call, `claude -p` 2.1.330
 * ends with `subtype: "success"`, `is_error: false`, `result: ""`,
 * `stop_reason: "tool_deferred"` and `deferred_tool_use: {id, name, input}`. Read as a plain
 * success it would look like an agent that stopped without submitting a result; it is a
 * call waiting for a human.
 */
import { z } from 'zod';
import type { FailureType } from '../domain/failures.js';
import { classifyResult } from './classify.js';
import type { ResultEvent } from './events.js';
import { inputSha256 } from './approval-settings.js';

/** The fields of a result line that only deferred runs carry. The CLI adds them to `result`. */
const DeferralFields = z.looseObject({
  stop_reason: z.string().nullable().optional(),
  deferred_tool_use: z
    .looseObject({ id: z.string().min(1), name: z.string().min(1), input: z.unknown() })
    .nullable()
    .optional(),
});

/** A tool call the CLI holds until the session is resumed. */
export interface DeferredCall {
  toolUseId: string;
  toolName: string;
  /** The input exactly as the CLI holds it; callers bound it before it reaches history. */
  input: unknown;
  /** Binds a human's decision to this input (the hook refuses a call whose input differs). */
  inputSha256: string;
}

export type RunEnd =
  { kind: 'completed' } | { kind: 'deferred'; call: DeferredCall } | { kind: 'failed'; type: FailureType; message: string };

export function classifyRunEnd(result: ResultEvent): RunEnd {
  const fields = DeferralFields.safeParse(result);
  const stop = fields.success ? fields.data.stop_reason : undefined;
  const deferred = fields.success ? fields.data.deferred_tool_use : undefined;
  if (stop === 'tool_deferred_unavailable') {
    // Resumed without the tool the call needs (an MCP server missing from this run's config).
    return {
      kind: 'failed',
      type: 'AgentFailed',
      message: `the held call ${deferred?.name ?? ''} could not be resumed: ${(result.result ?? 'its tool is not available').slice(0, 300)}`,
    };
  }
  if (stop === 'tool_deferred' && !result.is_error) {
    if (!deferred) {
      return { kind: 'failed', type: 'AgentFailed', message: 'the run ended with a deferred tool call but did not say which one' };
    }
    return {
      kind: 'deferred',
      call: { toolUseId: deferred.id, toolName: deferred.name, input: deferred.input, inputSha256: inputSha256(deferred.input) },
    };
  }
  const failure = classifyResult(result);
  return failure ? { kind: 'failed', ...failure } : { kind: 'completed' };
}

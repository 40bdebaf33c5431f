import { z } from 'zod';

/**
 * A task's live stream: what the agent is doing right now (text as it is generated, tool calls
 * and their results), published by the worker that follows the agent's stream-json output, for
 * front ends that relay it (the NATS front end turns it into protocol chunks). It is deliberately
 * not in Temporal: per-token events would swamp a workflow's history. Delivery is at most once
 * and only to whoever listens at the time; the task's result stays the record.
 *
 * One subject per task, `<prefix>.<task token>`; each event names the turn it belongs to (`key`),
 * so a listener can follow its own prompt while other turns of the same task run.
 */

export const LIVE_EVENTS_VERSION = 1;
/** @default 'ccflow.live' */
export const DEFAULT_LIVE_SUBJECT_PREFIX = 'ccflow.live';

/** Caps applied by the publisher: generous, so relays can apply their own smaller ones exactly. */
export const LIVE_TOOL_INPUT_MAX_CHARS = 16_000;
export const LIVE_TOOL_RESULT_MAX_CHARS = 16_000;
export const LIVE_INPUT_PREVIEW_CHARS = 1_000;
export const TRUNCATION_MARKER = '…[truncated]';

const Base = {
  v: z.literal(LIVE_EVENTS_VERSION),
  taskId: z.string(),
  /** The turn: the follow-up Update's id, or `start` for the task's first prompt. */
  key: z.string(),
  /** Unique per event and stable when a retried attempt re-reads the same output: dedupe on it. */
  eid: z.string(),
};

export const LiveEvent = z.discriminatedUnion('type', [
  z.object({ ...Base, type: z.literal('text'), text: z.string() }),
  z.object({ ...Base, type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown() }),
  z.object({ ...Base, type: z.literal('tool_result'), toolUseId: z.string(), output: z.string(), isError: z.boolean() }),
]);
export type LiveEvent = z.infer<typeof LiveEvent>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event without its envelope: what the stream-json follower produces. */
export type LiveEventBody = DistributiveOmit<LiveEvent, 'v' | 'taskId' | 'key' | 'eid'>;

/**
 * Where a worker sends live events. Publishing never throws and never waits: a slow or absent
 * broker must not slow the agent down. `flush` resolves once what was published has reached the
 * broker (or after a bounded wait when it is unreachable); the run calls it before it reports its
 * end, so a relay that sees the turn end after a round trip of its own has seen every event.
 */
export interface LiveSink {
  publish(event: LiveEvent): void;
  flush(): Promise<void>;
  /** Releases the sink's connection when the worker stops. */
  close?(): Promise<void>;
}

/** A task id as one subject token: as it is when it is a plain token, else `=` + base64url. */
export function liveSubjectToken(taskId: string): string {
  return /^[A-Za-z0-9_-]+$/.test(taskId) ? taskId : `=${Buffer.from(taskId, 'utf8').toString('base64url')}`;
}

export function liveSubject(prefix: string, taskId: string): string {
  return `${prefix}.${liveSubjectToken(taskId)}`;
}

/** A tool input small enough for one message; a big one becomes the preview object relays expect. */
export function capToolInput(input: unknown): unknown {
  const json = JSON.stringify(input ?? {});
  if (json.length <= LIVE_TOOL_INPUT_MAX_CHARS) return input ?? {};
  return { _truncated: true, _original_size_bytes: json.length, _preview: json.slice(0, LIVE_INPUT_PREVIEW_CHARS) + TRUNCATION_MARKER };
}

/**
 * A tool_result block's content as one string: text items as they are, other items as JSON,
 * joined by newlines; a missing content is empty.
 */
export function toolResultText(content: unknown): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((item: unknown) => {
        if (typeof item === 'object' && item !== null && (item as { type?: unknown }).type === 'text') {
          const text = (item as { text?: unknown }).text;
          if (typeof text === 'string') return text;
        }
        return JSON.stringify(item);
      })
      .join('\n');
  }
  return JSON.stringify(content);
}

export function capText(text: string, max: number): string;
export function capText(text: string | undefined, max: number): string | undefined;
export function capText(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  return text.length > max ? text.slice(0, max) + TRUNCATION_MARKER : text;
}

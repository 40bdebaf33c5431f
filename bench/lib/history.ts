/** Reading workflow histories: size, event types, and activity timelines. */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { google, temporal } from '@temporalio/proto';

const { temporal: pb } = proto;

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export async function fetchHistory(client: Client, workflowId: string): Promise<History> {
  return client.workflow.getHandle(workflowId).fetchHistory();
}

export interface HistorySize {
  events: number;
  /** Protobuf-encoded size (what the server stores and sends). */
  protoBytes: number;
  /** JSON size (what `temporal workflow show --output json` prints). */
  jsonBytes: number;
  /** Event types in order, e.g. `WorkflowExecutionStarted`. */
  eventTypes: string[];
  /** The largest events, by encoded size. */
  largest: Array<{ eventId: number; type: string; protoBytes: number }>;
}

const typeName = (e: HistoryEvent): string =>
  (pb.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType))
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase());

export function historySize(history: History): HistorySize {
  const events = history.events ?? [];
  const sized = events.map((e) => ({
    eventId: Number(e.eventId ?? 0),
    type: typeName(e),
    protoBytes: pb.api.history.v1.HistoryEvent.encode(e).finish().byteLength,
  }));
  return {
    events: events.length,
    protoBytes: pb.api.history.v1.History.encode(history).finish().byteLength,
    jsonBytes: Buffer.byteLength(JSON.stringify(toPlain(history))),
    eventTypes: sized.map((s) => s.type),
    largest: [...sized].sort((a, b) => b.protoBytes - a.protoBytes).slice(0, 5),
  };
}

/** The history as plain JSON: longs and enums as strings, bytes as base64 (as the CLI prints it). */
function toPlain(history: History): unknown {
  const History = pb.api.history.v1.History;
  return History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
}

/** A protobuf Timestamp as ms since epoch. */
function tsToMs(ts: google.protobuf.ITimestamp | null | undefined): number {
  if (!ts) return Number.NaN;
  return Number(String(ts.seconds ?? 0)) * 1000 + (ts.nanos ?? 0) / 1e6;
}

export interface ActivitySpan {
  name: string;
  scheduled: number;
  /** When the worker picked it up (the attempt that completed). */
  started?: number;
  completed?: number;
  attempt?: number;
  /** Why the attempt before the last one failed (heartbeat timeout, ...), when there was a retry. */
  lastFailure?: string;
  outcome: 'completed' | 'failed' | 'timedOut' | 'canceled' | 'pending';
}

export interface Timeline {
  workflowStarted: number;
  workflowClosed?: number;
  activities: ActivitySpan[];
  /** Activity failures and timeouts (heartbeat timeouts included). */
  activityProblems: string[];
}

/** Event times (ms since epoch) of the workflow and each of its activities. */
export function timeline(history: History): Timeline {
  const events = history.events ?? [];
  const byScheduledId = new Map<number, ActivitySpan>();
  const activities: ActivitySpan[] = [];
  const problems: string[] = [];
  let workflowStarted = Number.NaN;
  let workflowClosed: number | undefined;
  for (const e of events) {
    const t = tsToMs(e.eventTime);
    if (e.workflowExecutionStartedEventAttributes) workflowStarted = t;
    if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes) workflowClosed = t;
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched) {
      const span: ActivitySpan = { name: sched.activityType?.name ?? '?', scheduled: t, outcome: 'pending' };
      byScheduledId.set(Number(e.eventId), span);
      activities.push(span);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const span = byScheduledId.get(Number(started.scheduledEventId));
      if (span) {
        span.started = t;
        span.attempt = started.attempt ?? 1;
        // A retried attempt: the failure that caused the retry (a heartbeat timeout, say).
        if (started.lastFailure) {
          span.lastFailure = started.lastFailure.message ?? 'a failure';
          problems.push(`${span.name}: retried after ${span.lastFailure}`);
        }
      }
    }
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    if (done) {
      const span = byScheduledId.get(Number(done.scheduledEventId));
      if (span) {
        span.completed = t;
        span.outcome = e.activityTaskCompletedEventAttributes
          ? 'completed'
          : e.activityTaskFailedEventAttributes
            ? 'failed'
            : e.activityTaskTimedOutEventAttributes
              ? 'timedOut'
              : 'canceled';
        if (span.outcome !== 'completed') problems.push(`${span.name}: ${span.outcome}`);
        if ((span.attempt ?? 1) > 1) problems.push(`${span.name}: completed on attempt ${span.attempt}`);
      }
    }
  }
  return { workflowStarted, workflowClosed, activities, activityProblems: problems };
}

/**
 * The front end's side of a task's live stream: it listens on the task's subject for the events
 * of one turn and hands them on as turn events, in order, once each.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { DEFAULT_LIVE_SUBJECT_PREFIX, LiveEvent, liveSubject } from '../../schemas/live-events.js';
import type { TurnEvent } from './backend.js';

export interface LiveTap {
  /** Whether any text arrived; when none did, the turn's final text is sent whole instead. */
  readonly textSeen: boolean;
  /**
   * Waits until every event the worker published before it completed the turn has been handed
   * on. The worker flushes its connection before it reports a run's end, so by the time the turn
   * is complete those events are at the server, queued for this connection ahead of the reply to
   * this round trip. No timer is involved. (Across a cluster, routes add a hop this cannot see.)
   */
  drain(): Promise<void>;
  close(): void;
}

export class LiveRelay {
  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string = DEFAULT_LIVE_SUBJECT_PREFIX,
  ) {}

  /** Starts listening; resolves once the subscription is active, so call it before sending the turn. */
  async tap(taskId: string, key: string, onEvent: (e: TurnEvent) => void): Promise<LiveTap> {
    const seen = new Set<string>();
    let textSeen = false;
    const sub: Subscription = this.nc.subscribe(liveSubject(this.prefix, taskId), {
      callback: (err, msg) => {
        if (err) return;
        let parsed;
        try {
          parsed = LiveEvent.safeParse(msg.json());
        } catch {
          return; // not JSON: not ours
        }
        if (!parsed.success) return;
        const e = parsed.data;
        if (e.taskId !== taskId || e.key !== key || seen.has(e.eid)) return;
        seen.add(e.eid);
        switch (e.type) {
          case 'text':
            textSeen = true;
            return onEvent({ type: 'text', text: e.text });
          case 'tool_use':
            return onEvent({ type: 'tool_use', id: e.id, name: e.name, input: e.input });
          case 'tool_result':
            return onEvent({ type: 'tool_result', toolUseId: e.toolUseId, content: e.output, isError: e.isError });
        }
      },
    });
    await this.nc.flush();
    return {
      get textSeen() {
        return textSeen;
      },
      drain: () => this.nc.flush(),
      close: () => sub.unsubscribe(),
    };
  }
}

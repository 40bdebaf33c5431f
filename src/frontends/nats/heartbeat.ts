/**
 * Liveness (§8): every instance publishes a beat on `agents.hb.<agent>.<owner>.<name>` every
 * 5 s, and its `status` endpoint answers with a freshly built beat. Callers drop an instance
 * after three missed beats.
 */
import { HEARTBEAT_INTERVAL_S } from './subjects.js';

export interface Heartbeat {
  agent: string;
  owner: string;
  instance_id: string;
  ts: string;
  interval_s: number;
  /** Sessions only. */
  session?: string;
}

export function heartbeat(agent: string, owner: string, instanceId: string, session?: string, now = new Date()): Heartbeat {
  return {
    agent,
    owner,
    instance_id: instanceId,
    ts: now.toISOString(),
    interval_s: HEARTBEAT_INTERVAL_S,
    ...(session !== undefined ? { session } : {}),
  };
}

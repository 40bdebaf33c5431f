/** Messages between the benchmark and its worker process (Node IPC channel). */
import type { TimingRecord } from '../timing-provider.js';

export interface EventLoopDelayStats {
  /** Milliseconds of lag: how late a 10 ms timer fired (the resolution is subtracted). */
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Samples taken (one per 10 ms resolution tick, roughly). */
  count: number;
}

export interface WorkerStats {
  /** Bytes, now and the highest sampled (every 500 ms) since the last reset. */
  rss: number;
  rssPeak: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  eventLoopDelay: EventLoopDelayStats;
}

export type ToWorker =
  | { type: 'stats'; reset: boolean }
  | { type: 'timings' }
  | { type: 'profile-start'; intervalUs: number }
  | { type: 'profile-stop'; file: string }
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ready'; startupMs: number; bundleMs: number }
  | { type: 'stats'; stats: WorkerStats }
  | { type: 'timings'; records: TimingRecord[] }
  | { type: 'profile-started' }
  | { type: 'profile-stopped' }
  | { type: 'error'; message: string };

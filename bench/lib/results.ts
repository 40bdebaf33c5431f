/** The shape of a benchmark run's results (bench/results.json), shared by the runner and the report. */
import type { ConcurrencyLevel } from '../concurrency.js';
import type { GitResult } from '../git.js';
import type { HistoryResult } from '../history-size.js';
import type { OverheadResult } from '../overhead.js';
import type { ParseResult } from '../parse.js';
import type { ProfileSummary } from './cpu-profile.js';
import type { WorkerStats } from './ipc.js';
import type { MachineInfo, Versions } from './machine.js';
import type { RssStep } from './worker-handle.js';

export const SECTIONS = ['overhead', 'history', 'concurrency', 'parse', 'git'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchConfig {
  quick: boolean;
  render: boolean;
  iterations: number;
  concurrencyLevels: number[];
  parseSizesMiB: number[];
  sections: Section[];
}

export interface WorkerInfo {
  maxConcurrentAgents: number;
  startupMs: number;
  bundleMs: number;
  idle: WorkerStats;
}

export interface ConcurrencyResult {
  worker: WorkerInfo;
  levels: ConcurrencyLevel[];
  /** The worker's CPU profile during the largest level (10 ms sampling). */
  profile?: ProfileSummary;
  /** The largest level again on a worker given a prebuilt workflow bundle (no webpack in the worker). */
  variant?: { worker: WorkerInfo; level: ConcurrencyLevel };
  /** RSS after each start-up step of a worker, as shipped and with a prebuilt bundle. */
  rssSteps: { shipped: RssStep[]; prebuilt: RssStep[] };
}

export interface BenchResults {
  meta: {
    mode: 'full' | 'quick';
    startedAt: string;
    durationS: number;
    machine: MachineInfo;
    versions: Versions;
    /** 1-minute load average when each section started and ended (other work on the machine shows here). */
    load: Record<string, { start: number; end: number }>;
    config: BenchConfig;
  };
  overhead?: OverheadResult;
  concurrency?: ConcurrencyResult;
  parse?: ParseResult;
  history?: HistoryResult;
  git?: GitResult;
}

import { ApplicationFailure } from '@temporalio/common';
import type { MetricMeter } from '@temporalio/common';
import {
  DefaultLogger,
  Runtime,
  makeTelemetryFilterString,
  type ActivityInterceptorsFactory,
  type LogEntry,
  type LogLevel,
} from '@temporalio/worker';
import type { CreatedSandbox, DestroySandboxInput, RunClaudeOutput } from '../schemas/activities.js';

/**
 * A worker's telemetry: JSON log lines (with the workflow and activity ids the SDK attaches)
 * and one Prometheus endpoint with Temporal's runtime metrics plus ccflow's own, recorded on
 * Temporal's metric meter (the workflow-side counters are in src/workflows/observability.ts).
 */

export type LogFormat = 'json' | 'text';

export interface TelemetryConfig {
  /** Serve Prometheus metrics at `http://<metricsHost>:<metricsPort>/metrics`; off when absent. */
  metricsPort?: number;
  /** @default '0.0.0.0' */
  metricsHost?: string;
  /** @default 'INFO' */
  logLevel?: LogLevel;
  /** @default 'json' */
  logFormat?: LogFormat;
  /** Where log lines go. @default process.stderr */
  write?: (line: string) => void;
}

/** Histogram buckets that fit what ccflow measures (Temporal's defaults are for milliseconds of RPCs). */
export const HISTOGRAM_BUCKETS: Record<string, number[]> = {
  ccflow_sandbox_create_latency_ms: [10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000],
  ccflow_sandbox_destroy_latency_ms: [10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000],
  ccflow_agent_run_cost_usd: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ccflow_agent_run_duration_ms: [1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000],
};

/** JSON.stringify that never throws: bigints as strings, errors as {name, message}, cycles cut. */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Error) return { name: v.name, message: v.message };
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[circular]';
        seen.add(v);
      }
      return v;
    });
  } catch (err) {
    return JSON.stringify({ msg: 'unserializable log entry', error: String(err) });
  }
}

/** One JSON object per log line: time, level, message, then the SDK's metadata (workflowId, activityId, ...). */
export function jsonLogLine(entry: LogEntry): string {
  const ms = Number(entry.timestampNanos / 1_000_000n);
  // An activity's task token lets its holder complete the activity: not for log files.
  const { taskToken: _taskToken, ...meta } = entry.meta ?? {};
  return safeJson({ time: new Date(ms).toISOString(), level: entry.level.toLowerCase(), msg: entry.message, ...meta });
}

function textLogLine(entry: LogEntry): string {
  const meta = entry.meta && Object.keys(entry.meta).length > 0 ? ` ${safeJson(entry.meta)}` : '';
  return `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} ${entry.level} ${entry.message}${meta}`;
}

/**
 * SDK warnings that describe how ccflow is meant to run, not a problem: the host-queue worker
 * serves activities only, so it never polls for workflow tasks.
 */
const EXPECTED_SDK_WARNINGS = new Set(['No workflows registered, not polling for workflow tasks']);

/** Temporal's logger, with the SDK's expected warnings demoted to DEBUG so a first run shows none. */
class CcflowLogger extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: Record<string, unknown>): void {
    super.log(level === 'WARN' && EXPECTED_SDK_WARNINGS.has(message) ? 'DEBUG' : level, message, meta);
  }
}

export function createLogger(o: Pick<TelemetryConfig, 'logLevel' | 'logFormat' | 'write'> = {}): DefaultLogger {
  const write = o.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const format = o.logFormat === 'text' ? textLogLine : jsonLogLine;
  return new CcflowLogger(o.logLevel ?? 'INFO', (entry) => write(format(entry)));
}

/**
 * Installs Temporal's runtime with ccflow's logger and metrics. Call once per process, before
 * any connection to Temporal is made.
 */
export function installRuntime(o: TelemetryConfig = {}): Runtime {
  return Runtime.install({
    logger: createLogger(o),
    telemetryOptions: {
      // The SDK core's own logs go through the same logger (so they are JSON too).
      logging: {
        forward: {},
        filter: makeTelemetryFilterString({ core: o.logLevel === 'DEBUG' || o.logLevel === 'TRACE' ? o.logLevel : 'WARN' }),
      },
      ...(o.metricsPort !== undefined
        ? {
            metrics: {
              prometheus: { bindAddress: `${o.metricsHost ?? '0.0.0.0'}:${o.metricsPort}`, histogramBucketOverrides: HISTOGRAM_BUCKETS },
            },
          }
        : {}),
    },
  });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function failureLabel(err: unknown): string {
  return err instanceof ApplicationFailure ? (err.type ?? 'ApplicationFailure') : err instanceof Error ? err.name : 'unknown';
}

/**
 * ccflow's activity metrics, as an activity interceptor (the activities themselves stay
 * metric-free): agents running now, agent runs by outcome, tokens and cost, sandbox
 * create/destroy latency. One instance per worker process, shared by its workers.
 */
export function createActivityMetrics(meter: MetricMeter = Runtime.instance().metricMeter): { interceptor: ActivityInterceptorsFactory } {
  const running = meter.createGauge('ccflow_agents_running', 'int', 'agents', 'Agent processes this worker follows right now');
  const runs = meter.createCounter('ccflow_agent_runs_total', 'runs', 'Agent runs finished, by outcome (success or failure type)');
  const tokens = meter.createCounter('ccflow_tokens_total', 'tokens', 'Tokens used by agent runs, by kind');
  const cost = meter.createHistogram('ccflow_agent_run_cost_usd', 'float', 'usd', 'Cost of each agent run; _sum is the total spent');
  const duration = meter.createHistogram('ccflow_agent_run_duration_ms', 'int', 'ms', 'Wall time of each agent run attempt');
  const createLatency = meter.createHistogram('ccflow_sandbox_create_latency_ms', 'int', 'ms', 'Time to create a sandbox');
  const destroyLatency = meter.createHistogram(
    'ccflow_sandbox_destroy_latency_ms',
    'int',
    'ms',
    'Time to save transcripts and destroy a sandbox',
  );
  const sandboxFailures = meter.createCounter('ccflow_sandbox_failures_total', 'operations', 'Sandbox create/destroy attempts that failed');
  let agents = 0;
  running.set(0);

  const interceptor: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const type = ctx.info.activityType;
        const started = performance.now();
        const elapsed = () => Math.round(performance.now() - started);
        if (type === 'runClaude') running.set(++agents);
        try {
          const out = await next(input);
          if (type === 'createSandbox' && isRecord(out)) {
            createLatency.record(elapsed(), { provider: String((out as Partial<CreatedSandbox>).provider ?? 'unknown') });
          } else if (type === 'destroySandbox') {
            const arg = input.args[0];
            destroyLatency.record(elapsed(), {
              provider: String(isRecord(arg) ? ((arg as Partial<DestroySandboxInput>).provider ?? 'unknown') : 'unknown'),
            });
          } else if (type === 'runClaude' && isRecord(out)) {
            const run = out as Partial<RunClaudeOutput>;
            runs.add(1, { outcome: 'success' });
            duration.record(elapsed());
            if (typeof run.costUsd === 'number') cost.record(run.costUsd);
            const u = run.usage;
            if (u) {
              for (const [kind, n] of [
                ['input', u.inputTokens],
                ['output', u.outputTokens],
                ['cache_read', u.cacheReadTokens],
                ['cache_creation', u.cacheCreationTokens],
              ] as const) {
                if (n > 0) tokens.add(n, { kind });
              }
            }
          }
          return out;
        } catch (err) {
          if (type === 'runClaude') {
            runs.add(1, { outcome: failureLabel(err) });
            duration.record(elapsed());
          } else if (type === 'createSandbox' || type === 'destroySandbox') {
            sandboxFailures.add(1, { operation: type === 'createSandbox' ? 'create' : 'destroy', type: failureLabel(err) });
          }
          throw err;
        } finally {
          if (type === 'runClaude') running.set(--agents);
        }
      },
    },
  });
  return { interceptor };
}

/**
 * Concurrency: N agentTasks submitted at once to one worker process. Measures wall time,
 * throughput, the worker's own RSS (from /proc and from inside) and its event-loop lag, and
 * checks every task succeeded on its first attempts (no heartbeat timeouts, no retries).
 */
import { readdir, readFile } from 'node:fs/promises';
import type { TaskResult } from '../src/schemas/task-spec.js';
import { TASK_QUEUE, type BenchEnv } from './lib/env.js';
import type { WorkerStats } from './lib/ipc.js';
import { fetchHistory, timeline } from './lib/history.js';
import { summarize, type Summary } from './lib/stats.js';
import { procMemory, type WorkerProcess } from './lib/worker-handle.js';
import { OVERHEAD_PROMPT, OVERHEAD_RESULT } from './scenario.js';
import { nowMs, type TimingRecord } from './timing-provider.js';

const SAMPLE_MS = 250;

export interface ConcurrencyLevel {
  tasks: number;
  succeeded: number;
  failed: number;
  failures: string[];
  /** Activity timeouts, retries and failures found in the histories (heartbeat timeouts included). */
  activityProblems: string[];
  /**
   * Every retried activity: did its earlier attempt begin in the worker at all? (An activity on
   * a sandbox begins with a connect, createSandbox with a create; the timing wrapper records both
   * before they run.)
   */
  retries: Array<{ workflowId: string; activity: string; attempt: number; cause: string; earlierAttemptRanInWorker: boolean }>;
  /** For up to 3 tasks with problems: their activity timeline and the worker's sandbox operations. */
  diagnosis: Array<{ workflowId: string; activities: string[]; workerOps: string[] }>;
  wallMs: number;
  throughputPerMin: number;
  taskLatencyMs: Summary;
  /** Worker process RSS (bytes) sampled from /proc/<pid>/status every 250 ms. */
  workerRssPeak: number;
  /** What the worker reports of itself for this level (RSS peak sampled every 500 ms, ELD). */
  worker: WorkerStats;
  /** claude processes seen at once, and their summed RSS (bytes) at that moment. */
  peakClaudeProcesses: number;
  peakClaudeRss: number;
  /** Lowest MemAvailable (bytes) seen on the machine. */
  minMemAvailable: number;
  /** CPU the worker process used during the level (all its threads), and per task. */
  workerCpuMs: number;
  workerCpuMsPerTask: number;
  /** Time the worker's event-loop thread was runnable but waiting for a CPU, during the level. */
  mainThreadRunqueueWaitMs: number;
}

interface Sample {
  workerRss: number;
  claude: number;
  claudeRss: number;
  memAvailable: number;
}

/** Parent pid of a process, from /proc/<pid>/stat. */
async function parentOf(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** claude processes started by this worker (its descendants; other claude processes on the machine are not counted). */
async function claudeProcesses(workerPid: number): Promise<{ count: number; rss: number }> {
  let count = 0;
  let rss = 0;
  for (const name of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'claude') continue;
    let ancestor: number | undefined = Number(name);
    for (let depth = 0; depth < 8 && ancestor !== undefined && ancestor > 1 && ancestor !== workerPid; depth++)
      ancestor = await parentOf(ancestor);
    if (ancestor !== workerPid) continue;
    count += 1;
    // A process that just exited has no VmRSS line any more.
    const mem = (await procMemory(Number(name)))?.rss;
    rss += mem !== undefined && Number.isFinite(mem) ? mem : 0;
  }
  return { count, rss };
}

/**
 * CPU time of the whole worker process (utime + stime, all threads) and how long its main
 * thread (the event loop) waited for a CPU while runnable (/proc/<pid>/task/<pid>/schedstat).
 */
async function workerCpu(pid: number): Promise<{ cpuMs: number; mainThreadWaitMs: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const sched = (await readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')).trim().split(' ');
  return { cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND, mainThreadWaitMs: Number(sched[1]) / 1e6 };
}

/** USER_HZ: /proc times are in these (100 on Linux on every common architecture). */
const CLOCK_TICKS_PER_SECOND = 100;

async function memAvailable(): Promise<number> {
  const text = await readFile('/proc/meminfo', 'utf8');
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(text)?.[1] ?? Number.NaN) * 1024;
}

function startSampler(pid: number): { stop: () => Promise<Sample[]> } {
  const samples: Sample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [mem, claude, avail] = await Promise.all([procMemory(pid), claudeProcesses(pid), memAvailable()]);
      samples.push({ workerRss: mem?.rss ?? 0, claude: claude.count, claudeRss: claude.rss, memAvailable: avail });
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

export async function concurrencyLevel(
  env: BenchEnv,
  worker: WorkerProcess,
  tasks: number,
  o: { idPrefix: string; log: (s: string) => void },
): Promise<ConcurrencyLevel> {
  await worker.stats(true);
  const cpu0 = await workerCpu(worker.pid);
  const sampler = startSampler(worker.pid);
  const t0 = nowMs();
  const runs = await Promise.allSettled(
    Array.from({ length: tasks }, async (_, i) => {
      const s0 = nowMs();
      const handle = await env.client.workflow.start('agentTask', {
        taskQueue: TASK_QUEUE,
        workflowId: `${o.idPrefix}-${tasks}-${i}`,
        args: [{ prompt: OVERHEAD_PROMPT }],
      });
      const result = (await handle.result()) as TaskResult;
      if (JSON.stringify(result.result) !== JSON.stringify(OVERHEAD_RESULT))
        throw new Error(`unexpected result ${JSON.stringify(result.result)}`);
      return { workflowId: handle.workflowId, latencyMs: nowMs() - s0 };
    }),
  );
  const wallMs = nowMs() - t0;
  const stats = await worker.stats(false);
  const cpu1 = await workerCpu(worker.pid);
  const samples = await sampler.stop();
  const records = await worker.timings();

  const ok = runs.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = runs.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error)?.message ?? r.reason).slice(0, 300)] : []));
  const problems: string[] = [];
  const diagnosis: ConcurrencyLevel['diagnosis'] = [];
  const retries: ConcurrencyLevel['retries'] = [];
  for (let i = 0; i < tasks; i++) {
    const id = `${o.idPrefix}-${tasks}-${i}`;
    const tl = timeline(await fetchHistory(env.client, id));
    for (const p of tl.activityProblems) problems.push(`${id}: ${p}`);
    const sandboxId = records.find((r) => r.op === 'create' && r.workflowId === id)?.sandboxId;
    for (const a of tl.activities) {
      if ((a.attempt ?? 1) <= 1) continue;
      const before = (r: TimingRecord) => r.t0 >= a.scheduled - 5 && r.t0 < (a.started ?? Number.POSITIVE_INFINITY) - 5;
      const ran =
        a.name === 'createSandbox'
          ? records.some((r) => r.op === 'createBegin' && r.workflowId === id && before(r))
          : records.some((r) => r.op === 'connectBegin' && r.sandboxId === sandboxId && before(r));
      retries.push({
        workflowId: id,
        activity: a.name,
        attempt: a.attempt ?? 1,
        cause: a.lastFailure ?? '?',
        earlierAttemptRanInWorker: ran,
      });
    }
    if (tl.activityProblems.length > 0 && diagnosis.length < 3) {
      const at = (t: number | undefined) => (t === undefined ? '–' : `+${((t - tl.workflowStarted) / 1000).toFixed(2)}s`);
      diagnosis.push({
        workflowId: id,
        activities: tl.activities.map(
          (a) =>
            `${a.name}: scheduled ${at(a.scheduled)}, started ${at(a.started)} (attempt ${a.attempt ?? '?'}), ${a.outcome} ${at(a.completed)}`,
        ),
        workerOps: records
          .filter((r) => r.sandboxId === sandboxId)
          .map((r) => `${at(r.t0)} ${r.op}${r.path ? ` ${r.path}` : ''} (${(r.t1 - r.t0).toFixed(0)} ms)`),
      });
    }
  }
  const peak = samples.reduce((best, s) => (s.claude > best.claude ? s : best), {
    workerRss: 0,
    claude: 0,
    claudeRss: 0,
    memAvailable: Number.POSITIVE_INFINITY,
  });
  const level: ConcurrencyLevel = {
    tasks,
    succeeded: ok.length,
    failed: failures.length,
    failures: failures.slice(0, 5),
    activityProblems: problems.slice(0, 20),
    retries,
    diagnosis,
    wallMs,
    throughputPerMin: (ok.length / wallMs) * 60_000,
    taskLatencyMs: summarize(ok.map((r) => r.latencyMs)),
    workerRssPeak: Math.max(stats.rssPeak, ...samples.map((s) => s.workerRss)),
    worker: stats,
    peakClaudeProcesses: peak.claude,
    peakClaudeRss: peak.claudeRss,
    minMemAvailable: Math.min(...samples.map((s) => s.memAvailable)),
    workerCpuMs: cpu1.cpuMs - cpu0.cpuMs,
    workerCpuMsPerTask: (cpu1.cpuMs - cpu0.cpuMs) / tasks,
    mainThreadRunqueueWaitMs: cpu1.mainThreadWaitMs - cpu0.mainThreadWaitMs,
  };
  o.log(
    `  concurrency ${tasks}: ${level.succeeded}/${tasks} ok in ${(wallMs / 1000).toFixed(1)} s, worker RSS peak ${(level.workerRssPeak / 1e6).toFixed(0)} MB, ` +
      `lag p99 ${stats.eventLoopDelay.p99.toFixed(1)} ms, ${level.peakClaudeProcesses} claude at once, worker CPU ${level.workerCpuMsPerTask.toFixed(0)} ms/task, ` +
      `event loop waited ${(level.mainThreadRunqueueWaitMs / 1000).toFixed(1)} s for a CPU, ${problems.length} activity problems`,
  );
  return level;
}

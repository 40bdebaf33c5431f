/** Targets and the Markdown report of a benchmark run. */
import type { ConcurrencyLevel } from './concurrency.js';
import type { ProfileSummary } from './lib/cpu-profile.js';
import { fmt } from './lib/stats.js';
import type { BenchResults } from './lib/results.js';
import { CAPTURE_TARGET_MS } from './lib/targets.js';

/** Memory and throughput are in decimal units (MB = 10^6 bytes), as the targets are. */
const MB = 1e6;
const mb = (bytes: number, digits = 0) => fmt(bytes / MB, digits);
const ms = (v: number | undefined, digits = 0) => fmt(v, digits);

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean;
  /** Why it was missed, from the measurements and profiles. */
  reason?: string;
}

/** What each part of an agentTask does, for the reasons of an overhead miss. */
const PART_EXPLAINED: Array<[RegExp, string]> = [
  [
    /^saveSession\./,
    'saveSession archives the session after every turn: it copies the transcript to the artifact store and runs tar over the workspace in the sandbox (a jailed process, whose exit wakes runTool)',
  ],
  [
    /^destroySandbox\.exec$/,
    "destroySandbox streams transcripts to the artifact store and revokes the sandbox's model tokens, then the provider detaches its proxies, SIGKILLs its process groups, waits for them by scanning /proc, removes its limits, unmounts its disk image and removes the directory",
  ],
  [/\.poll$/, 'the wait for the process is woken by its exit (the worker started it), then one look at its process state'],
  [/^runClaude\.prep$/, 'connect to the sandbox and write the schema, MCP config and prompt before spawning'],
  [/^wft\./, 'a workflow task round trip (server → worker → server) between two activities'],
  [/\.queue$/, 'activity dispatch: scheduled on the server until a worker poller picks it up'],
  [
    /^createSandbox\.exec$/,
    'the local provider creates the sandbox directory, its disk image (mkfs.ext4, loop-mounted), its limits, the proxy sockets and its record',
  ],
];

function explain(key: string): string {
  return PART_EXPLAINED.find(([re]) => re.test(key))?.[1] ?? '';
}

function topProfile(p: ProfileSummary | undefined, n = 5): string {
  if (!p) return 'no profile';
  const fns = p.topFunctions
    .slice(0, n)
    .map((f) => `${f.name}${f.where ? ` (${where(f.where)})` : ''} ${(f.share * 100).toFixed(0)}%`)
    .join(', ');
  const pk = p.byPackage
    .slice(0, n)
    .map((x) => `${x.name} ${(x.share * 100).toFixed(0)}%`)
    .join(', ');
  const callers = p.byCcflowCaller
    .slice(0, n)
    .map((f) => `${f.name}${f.where ? ` (${where(f.where)})` : ''} ${(f.share * 100).toFixed(0)}%`)
    .join(', ');
  return `self time by function: ${fns}; by package: ${pk}; charged to the ccflow code that asked for it: ${callers}`;
}

export function evaluateTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const o = r.overhead?.summary;
  if (o) {
    const causes = o.causes
      .slice(0, 4)
      .map((x) => `${x.cause} ${ms(x.mean)} ms`)
      .join('; ');
    const reason =
      `measured directly, everything outside claude adds up to ${ms(o.overheadMs.mean)} ms per task on average (p50 ${ms(o.overheadMs.p50)} ms): ${causes}. ` +
      `The largest single part is ${o.biggestPart.key} (${ms(o.biggestPart.meanMs)} ms): ${explain(o.biggestPart.key)}.`;
    out.push({ name: 'overhead ratio', target: 'p50(c) / p50(b) ≤ 1.15', measured: fmt(o.ratioCB, 3), met: o.ratioCB <= 1.15, reason });
    out.push({ name: 'overhead', target: 'p50(c) − p50(b) ≤ 300 ms', measured: `${ms(o.diffCB)} ms`, met: o.diffCB <= 300, reason });
  }
  const c = r.concurrency;
  if (c) {
    for (const level of c.levels) {
      const ok = level.failed === 0 && level.activityProblems.length === 0;
      out.push({
        name: `${level.tasks} concurrent tasks`,
        target: 'all succeed, no heartbeat timeouts or retries',
        measured: `${level.succeeded}/${level.tasks} succeeded, ${level.activityProblems.length} activity problems`,
        met: ok,
        reason: ok ? undefined : concurrencyReason(level),
      });
      const rssOk = level.workerRssPeak <= 250 * MB;
      out.push({
        name: `worker RSS at ${level.tasks}`,
        target: '≤ 250 MB',
        measured: `${mb(level.workerRssPeak)} MB`,
        met: rssOk,
        reason: rssOk ? undefined : rssReason(r),
      });
      const lagOk = level.worker.eventLoopDelay.p99 <= 100;
      out.push({
        name: `event-loop lag p99 at ${level.tasks}`,
        target: '≤ 100 ms',
        measured: `${ms(level.worker.eventLoopDelay.p99, 1)} ms`,
        met: lagOk,
        reason: lagOk ? undefined : lagReason(r, level),
      });
    }
  }
  const p = r.parse;
  if (p) {
    const largest = p.runs.at(-1);
    const smallest = p.runs[0];
    if (largest) {
      const rate = largest.bytes / MB / (largest.totalMs / 1000);
      const parseOnly = largest.bytes / MB / (largest.parseMs / 1000);
      const floor = largest.jsonOnlyMibPerSec * (2 ** 20 / MB);
      out.push({
        name: `stream parsing (${mb(largest.bytes)} MB, reads + parse)`,
        target: '≥ 150 MB/s',
        measured: `${fmt(rate)} MB/s (parse only ${fmt(parseOnly)} MB/s)`,
        met: rate >= 150,
        reason:
          rate >= 150
            ? undefined
            : `decoding and JSON.parse of the same lines alone run at ${fmt(floor)} MB/s on this machine; reads took ${ms(largest.readMs)} ms of ${ms(largest.totalMs)} ms. Profile of the parse loop: ${topProfile(p.profile)}.`,
      });
    }
    if (largest && smallest && largest !== smallest) {
      // Flat: the parser keeps nothing (heap retained after a GC) and its peak heap does not
      // follow the input; RSS is shown too (it also holds pages V8 has freed but not returned).
      const flat = largest.retainedHeap < 2 * MB && largest.peakHeapUsed <= 2 * smallest.peakHeapUsed;
      out.push({
        name: 'parser memory flat in input size',
        target: `retained heap < 2 MB; peak heap at ${mb(largest.bytes)} MB ≤ 2 × at ${mb(smallest.bytes)} MB`,
        measured:
          `retained ${mb(smallest.retainedHeap, 1)} / ${mb(largest.retainedHeap, 1)} MB, peak heap ${mb(smallest.peakHeapUsed, 1)} / ${mb(largest.peakHeapUsed, 1)} MB, ` +
          `peak RSS over baseline +${mb(smallest.peakRss - smallest.baselineRss, 1)} / +${mb(largest.peakRss - largest.baselineRss, 1)} MB`,
        met: flat,
      });
    }
  }
  const h = r.history;
  if (h) {
    const [one, many] = h.runs;
    if (one && many) {
      out.push({
        name: 'history events',
        target: 'same event count for 1 and 200 tool turns',
        measured: `${one.events} vs ${many.events}`,
        met: h.sameEventCount,
        reason: h.sameEventCount ? undefined : `the histories differ ${h.difference ?? ''}`,
      });
      const biggest = Math.max(one.protoBytes, many.protoBytes);
      out.push({
        name: 'history size',
        target: '< 50 KB',
        measured: `${fmt(one.protoBytes / 1000, 1)} KB and ${fmt(many.protoBytes / 1000, 1)} KB (JSON ${fmt(one.jsonBytes / 1000, 1)} / ${fmt(many.jsonBytes / 1000, 1)} KB)`,
        met: biggest < 50_000,
        reason: biggest < 50_000 ? undefined : `largest events: ${many.largest.map((e) => `${e.type} ${e.protoBytes} B`).join(', ')}`,
      });
    }
  }
  const g = r.git;
  if (g) {
    out.push({
      name: `change capture, ${fmt(g.capture.files)} files (p50)`,
      target: `≤ ${CAPTURE_TARGET_MS} ms`,
      measured: `${ms(g.capture.sandbox.p50)} ms in bwrap (git alone on the host: ${ms(g.capture.host.p50)} ms)`,
      met: g.capture.sandbox.p50 <= CAPTURE_TARGET_MS,
      reason:
        g.capture.sandbox.p50 <= CAPTURE_TARGET_MS
          ? undefined
          : `the git work alone took ${ms(g.capture.host.p50)} ms p50 on the host; the rest is the jailed process's start and the wait for its exit (see section 5)`,
    });
    out.push({
      name: `added time to first agent output, ${fmt(g.firstOutput.repoPackMiB)} MiB repository`,
      target: 'reported',
      measured: `${ms(g.firstOutput.addedMs)} ms (prepareRepo p50 ${ms(g.firstOutput.prepareRepo.p50)} ms)`,
      met: true,
    });
  }
  return out;
}

function concurrencyReason(level: ConcurrencyLevel): string {
  const kinds = new Map<string, number>();
  for (const p of level.activityProblems) {
    const k = p.replace(/^[^:]+: /, '');
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  const lost = level.retries.filter((x) => !x.earlierAttemptRanInWorker);
  const ran = level.retries.filter((x) => x.earlierAttemptRanInWorker);
  const lostText = lost.length
    ? ` ${lost.length} of the ${level.retries.length} retried activities (${[...new Set(lost.map((x) => `${x.activity} after ${x.cause}`))].join(', ')}) ` +
      'were recorded as started by the server but never began in the worker (no create/connect call was made for that attempt): ' +
      'the task was lost between server and worker, and only its timeout (heartbeat 60 s for runClaude, start-to-close 2 min for the short activities) brought the retry.'
    : '';
  const ranText = ran.length
    ? ` ${ran.length} retried after an attempt that did run: ${[...new Set(ran.map((x) => `${x.activity}: ${x.cause}`))].join('; ')}.`
    : '';
  const d = level.diagnosis[0];
  const evidence = d
    ? ` E.g. ${d.workflowId}: ${d.activities.join('; ')}. Worker-side sandbox operations: ${d.workerOps.slice(0, 12).join('; ')}.`
    : '';
  return `${[...kinds].map(([k, n]) => `${n}× ${k}`).join('; ')}.${lostText}${ranText}${evidence}`;
}

function rssReason(r: BenchResults): string {
  const c = r.concurrency;
  if (!c) return '';
  const steps = (xs: typeof c.rssSteps.shipped) => xs.map((s) => `${s.step} ${mb(s.rss)} MB`).join(' → ');
  const pre = c.variant
    ? ` With a prebuilt workflow bundle the worker idles at ${mb(c.variant.worker.idle.rss)} MB and peaks at ${mb(c.variant.level.workerRssPeak)} MB under ${c.variant.level.tasks} tasks.`
    : '';
  return `The worker idles at ${mb(c.worker.idle.rss)} MB before any task. Start-up, RSS after each step: ${steps(c.rssSteps.shipped)}; with a prebuilt bundle: ${steps(c.rssSteps.prebuilt)}.${pre}`;
}

function lagReason(r: BenchResults, level: ConcurrencyLevel): string {
  const cpus = r.meta.machine.cpus;
  const c = r.concurrency;
  const profiled = c?.profile && level.tasks === Math.max(...(c?.levels.map((l) => l.tasks) ?? [0]));
  const v = c?.variant;
  return (
    `${level.peakClaudeProcesses} claude processes shared ${cpus} cores with the worker (max lag ${ms(level.worker.eventLoopDelay.max)} ms); ` +
    `the worker itself used ${ms(level.workerCpuMsPerTask)} ms of CPU per task, while its event-loop thread spent ${fmt(level.mainThreadRunqueueWaitMs / 1000, 1)} s ` +
    `runnable but waiting for a CPU (/proc schedstat) over the ${fmt(level.wallMs / 1000, 1)} s level. ` +
    (profiled
      ? `Worker CPU profile during this level: ${topProfile(c?.profile)} (under CPU contention the time a thread waits to be rescheduled after a system call is sampled on that call). `
      : '') +
    (v && v.level.tasks === level.tasks
      ? `On the worker with a prebuilt bundle the lag p99 at ${v.level.tasks} tasks was ${ms(v.level.worker.eventLoopDelay.p99, 1)} ms (event loop waited ${fmt(v.level.mainThreadRunqueueWaitMs / 1000, 1)} s for a CPU).`
      : '')
  );
}

/** Profiles of compiled ccflow code carry the compiled file's line numbers: show the file only. */
const where = (w: string): string => w.replace(/^((?:src|bench)\/.*\.ts):\d+$/, '$1');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

export function renderMarkdown(r: BenchResults): string {
  const targets = evaluateTargets(r);
  const m = r.meta;
  const L: string[] = [];
  L.push('# ccflow benchmark results', '');
  L.push(
    `Generated by \`npm run bench${m.mode === 'quick' ? ' -- --quick' : ''}\` on ${m.startedAt} (${m.mode} run, ${fmt(m.durationS)} s). ` +
      'Everything runs on one machine with the scripted model (so model time is the same for every variant), ' +
      'a real Temporal dev server, the real claude CLI and real bubblewrap. Memory and throughput in MB = 10^6 bytes.',
    '',
  );
  L.push(
    table(
      ['machine', ''],
      [
        ['CPU', `${m.machine.cpus} × ${m.machine.cpuModel}`],
        ['memory', `${fmt(m.machine.memoryBytes / 2 ** 30, 1)} GiB`],
        ['OS', `${m.machine.os} (${m.machine.kernel})`],
        ['node', m.versions.node],
        ['claude CLI', m.versions.claude],
        ['Temporal CLI', m.versions.temporalCli],
        ['Temporal TypeScript SDK', m.versions.temporalSdk],
        ['bubblewrap', m.versions.bubblewrap],
        ['ccflow', m.versions.ccflow],
        [
          'load average (1 min) per section',
          Object.entries(m.load)
            .map(([k, v]) => `${k} ${v.start.toFixed(1)}→${v.end.toFixed(1)}`)
            .join(', '),
        ],
      ],
    ),
    '',
  );
  const busy = Object.values(m.load).some((v) => Math.max(v.start, v.end) > m.machine.cpus);
  if (busy)
    L.push(
      `> Other work ran on the machine during this run (load above ${m.machine.cpus} cores at times): absolute times are inflated; side-by-side comparisons (interleaved) less so.`,
      '',
    );

  L.push('## Targets', '');
  L.push(
    table(
      ['', 'target', 'measured', ''],
      targets.map((t) => [t.name, t.target, t.measured, t.met ? 'met' : '**missed**']),
    ),
    '',
  );
  const missed = targets.filter((t) => !t.met && t.reason);
  if (missed.length) {
    L.push('Why the missed targets were missed (from the breakdown and profiles below):', '');
    const seen = new Set<string>();
    for (const t of missed) {
      if (seen.has(t.reason ?? '')) continue;
      seen.add(t.reason ?? '');
      L.push(`- **${t.name}**: ${t.reason}`);
    }
    L.push('');
  }

  const o = r.overhead;
  if (o) {
    const s = o.summary;
    L.push('## 1. Overhead per task', '');
    L.push(
      `The same scenario (Bash writes a file, \`submit_result\`, a closing text: 3 model turns), ${o.iterations} times each way, interleaved a → b → c, after one untimed round: ` +
        '(a) `claude -p` in a plain directory; (b) `claude -p` in the bubblewrap sandbox ccflow uses, started with `LocalSandbox.execDetached` and the argv/env/MCP config builders of the runClaude activity, reaching the model as (c) does, through a model proxy over the socket bound into the jail (its only network; about 1 ms per model request), timed from the spawn to the exit of the jail; ' +
        '(c) a full `agentTask` through Temporal with one worker process as `ccflow worker` runs it (compiled, default settings), timed from `workflow.start` to the result in the client.',
      '',
    );
    L.push(
      table(
        ['', 'p50 ms', 'p95 ms', 'mean ms', 'min ms', 'max ms', 'first output p50 ms'],
        [
          ['(a) raw claude -p', ms(s.a.p50), ms(s.a.p95), ms(s.a.mean), ms(s.a.min), ms(s.a.max), ms(s.firstOutput.a)],
          ['(b) raw claude -p in bwrap', ms(s.b.p50), ms(s.b.p95), ms(s.b.mean), ms(s.b.min), ms(s.b.max), ms(s.firstOutput.b)],
          ['(c) agentTask via Temporal', ms(s.c.p50), ms(s.c.p95), ms(s.c.mean), ms(s.c.min), ms(s.c.max), ms(s.firstOutput.c)],
        ],
      ),
      '',
    );
    L.push(
      `c/a = **${fmt(s.ratioCA, 3)}**, c/b = **${fmt(s.ratioCB, 3)}**, p50(c) − p50(b) = **${ms(s.diffCB)} ms** (mean difference ${ms(s.c.mean - s.b.mean)} ms). (b) also spent ${ms(s.bSandboxCreateMs, 1)} ms creating and ${ms(s.bSandboxDestroyMs, 1)} ms destroying its sandbox, outside its timing.`,
      '',
    );
    L.push('### Where the milliseconds of (c) go', '');
    L.push(
      "Consecutive parts of each run, from the workflow history (activity scheduled / started / completed) and the worker's own timings (a pass-through wrapper around the sandbox provider); they add up to the wall time of each run.",
      '',
    );
    L.push(
      table(
        ['part', 'p50 ms', 'mean ms'],
        [
          ...s.segments.map((x) => [x.key.startsWith('runClaude.claude') ? `**${x.label}**` : x.label, ms(x.p50, 1), ms(x.mean, 1)]),
          ['total (c)', ms(s.c.p50, 1), ms(s.c.mean, 1)],
        ],
      ),
      '',
    );
    L.push(
      `Everything outside claude adds up to **${ms(s.overheadMs.p50)} ms p50 / ${ms(s.overheadMs.mean)} ms mean per task**: ccflow's overhead measured directly, ` +
        `free of claude's own run-to-run spread (which the difference of (c) and (b) above carries). By cause:`,
      '',
    );
    L.push(
      table(
        ['cause', 'p50 ms', 'mean ms', 'share of the overhead'],
        s.causes.map((x) => [x.cause, ms(x.p50, 1), ms(x.mean, 1), `${fmt((x.mean / s.overheadMs.mean) * 100)}%`]),
      ),
      '',
    );
    L.push(
      `**Biggest cost: ${s.biggestCost.cause}**, ${ms(s.biggestCost.meanMs)} ms on average (${fmt(s.biggestCost.shareOfOverhead * 100)}% of the overhead). ` +
        `Largest single part: ${s.biggestPart.label}, ${ms(s.biggestPart.meanMs)} ms: ${explain(s.biggestPart.key)}.`,
      '',
    );
    const w = s.worker;
    L.push('Worker-side detail (p50):', '');
    L.push(
      table(
        ['', 'ms'],
        [
          ['sandbox create (provider)', ms(w.sandboxCreateMs, 1)],
          ['files written before the spawn', ms(w.filesWrittenMs, 1)],
          ['execDetached (bwrap spawn, proc record)', ms(w.execDetachedMs, 1)],
          ['spawn → first output seen by the runner', ms(w.firstOutputMs)],
          ["result line written → process exit (the CLI's own shutdown, in (a) and (b) too)", ms(w.resultToExitMs)],
          ['process exit → noticed by the runner', ms(w.exitNoticedMs, 1)],
          ['output reads + process-state polls per run', ms(w.polls)],
          ['artifact save and token revocation (before the provider destroys)', ms(w.artifactSaveMs, 1)],
          ['sandbox destroy (provider)', ms(w.sandboxDestroyMs, 1)],
        ],
      ),
      '',
    );
  }

  const c = r.concurrency;
  if (c) {
    L.push('## 2. Concurrency', '');
    L.push(
      `N agentTasks of the same scenario submitted at once to one worker process with CCFLOW_MAX_CONCURRENT_AGENTS=${c.worker.maxConcurrentAgents}. ` +
        'Worker RSS is the worker process alone (VmRSS from /proc every 250 ms and its own samples every 500 ms; claude processes are counted separately). ' +
        'Event-loop lag is measured inside the worker with monitorEventLoopDelay (10 ms resolution, subtracted). ' +
        `The worker idled at ${mb(c.worker.idle.rss)} MB RSS after start-up (${ms(c.worker.startupMs)} ms, of which bundling the workflow code ${ms(c.worker.bundleMs)} ms).`,
      '',
    );
    const row = (l: ConcurrencyLevel, label = String(l.tasks)) => [
      label,
      `${l.succeeded}/${l.tasks}`,
      fmt(l.wallMs / 1000, 1),
      fmt(l.throughputPerMin, 1),
      `${fmt(l.taskLatencyMs.p50 / 1000, 1)} / ${fmt(l.taskLatencyMs.p95 / 1000, 1)}`,
      mb(l.workerRssPeak),
      mb(l.worker.heapUsed),
      `${ms(l.worker.eventLoopDelay.p50, 1)} / ${ms(l.worker.eventLoopDelay.p99, 1)} / ${ms(l.worker.eventLoopDelay.max)}`,
      fmt(l.workerCpuMsPerTask),
      fmt(l.mainThreadRunqueueWaitMs / 1000, 1),
      String(l.peakClaudeProcesses),
      // (null in the JSON of a run that met a process without VmRSS while summing)
      typeof l.peakClaudeRss === 'number' && l.peakClaudeRss > 0 ? fmt(l.peakClaudeRss / 1e9, 1) : '–',
      fmt((r.meta.machine.memoryBytes - l.minMemAvailable) / 1e9, 1),
      String(l.activityProblems.length),
    ];
    L.push(
      table(
        [
          'tasks',
          'ok',
          'wall s',
          'tasks/min',
          'task p50 / p95 s',
          'worker RSS peak MB',
          'worker heap MB (end)',
          'lag p50 / p99 / max ms',
          'worker CPU ms/task',
          'event loop waiting for a CPU s',
          'claude at once',
          'their RSS GB',
          'machine memory in use GB (peak)',
          'activity retries/timeouts',
        ],
        [...c.levels.map((l) => row(l)), ...(c.variant ? [row(c.variant.level, `${c.variant.level.tasks}, prebuilt bundle*`)] : [])],
      ),
      '',
    );
    if (c.variant) {
      L.push(
        `\\* a worker given a workflow bundle built beforehand (no webpack in the worker process: the change proposed for the RSS miss); ` +
          `it idled at ${mb(c.variant.worker.idle.rss)} MB.`,
        '',
      );
    }
    for (const l of [...c.levels, ...(c.variant ? [c.variant.level] : [])]) {
      if (l.activityProblems.length === 0 && l.failed === 0) continue;
      L.push(
        `Problems at ${l.tasks}${l === c.variant?.level ? ' (prebuilt bundle)' : ''}: ${concurrencyReason(l).replace(/ E\.g\. .*$/, '')}`,
        '',
      );
      for (const d of l.diagnosis) {
        L.push(`- ${d.workflowId}: ${d.activities.join('; ')}`);
        L.push(`  - worker: ${d.workerOps.slice(0, 16).join('; ') || 'no sandbox operation recorded'}`);
      }
      L.push('');
    }
    L.push('RSS of a worker after each start-up step (fresh process each, after a GC):', '');
    const steps = c.rssSteps.shipped.map((x, i) => [
      x.step,
      mb(x.rss),
      c.rssSteps.prebuilt[i] ? `${c.rssSteps.prebuilt[i]?.step}: ${mb(c.rssSteps.prebuilt[i]?.rss ?? 0)}` : '',
    ]);
    L.push(table(['step (as shipped)', 'RSS MB', 'with a prebuilt workflow bundle: RSS MB'], steps), '');
    if (c.profile) {
      L.push(
        `Worker CPU profile during the ${Math.max(...c.levels.map((l) => l.tasks))}-task level (${fmt(c.profile.busyMs / 1000, 1)} s busy of ${fmt(c.profile.totalMs / 1000, 1)} s):`,
        '',
      );
      L.push(
        table(
          ['package', 'self ms', 'share of busy'],
          c.profile.byPackage.slice(0, 8).map((p) => [p.name, ms(p.ms), `${fmt(p.share * 100, 1)}%`]),
        ),
        '',
      );
      L.push(
        table(
          ['function', 'where', 'self ms', 'share'],
          c.profile.topFunctions.slice(0, 8).map((f) => [f.name, where(f.where), ms(f.ms), `${fmt(f.share * 100, 1)}%`]),
        ),
        '',
      );
      L.push('The same samples charged to the innermost ccflow function on their stack (what asked for the work):', '');
      L.push(
        table(
          ['ccflow function', 'where', 'ms', 'share'],
          c.profile.byCcflowCaller.slice(0, 10).map((f) => [f.name, where(f.where), ms(f.ms), `${fmt(f.share * 100, 1)}%`]),
        ),
        '',
      );
    }
  }

  const p = r.parse;
  if (p) {
    L.push('## 3. Stream parsing', '');
    L.push(
      'Synthetic stream-json transcripts (init line; turns of assistant text, a tool call and its result: 70% of results ≤ 2 KB, 25% ≤ 30 KB, 5% 30–256 KB, ' +
        'each carried twice as the CLI writes them; a fifth of texts with some non-ASCII) read with `Sandbox.readFileFrom` in 1 MiB chunks from a local sandbox and fed to ' +
        '`StreamJsonParser` + `RunState`, exactly as `runAgent` follows claude. One fresh process per input.',
      '',
    );
    L.push(
      table(
        [
          'input MB',
          'events',
          'reads + parse MB/s',
          'parse only MB/s',
          'decode + JSON.parse alone MB/s',
          'peak RSS over baseline MB',
          'peak heap MB',
          'heap retained after GC MB',
        ],
        p.runs.map((x) => [
          mb(x.bytes, 1),
          fmt(x.events),
          fmt(x.bytes / MB / (x.totalMs / 1000)),
          fmt(x.bytes / MB / (x.parseMs / 1000)),
          fmt(x.jsonOnlyMibPerSec * (2 ** 20 / MB)),
          mb(x.peakRss - x.baselineRss, 1),
          mb(x.peakHeapUsed, 1),
          mb(x.retainedHeap, 2),
        ]),
      ),
      '',
    );
    if (p.profile) {
      L.push(`Where the parse loop's time goes (largest input, profiled in a separate run):`, '');
      L.push(
        table(
          ['function', 'where', 'self ms', 'share'],
          p.profile.topFunctions.slice(0, 8).map((f) => [f.name, where(f.where), ms(f.ms), `${fmt(f.share * 100, 1)}%`]),
        ),
        '',
      );
    }
  }

  const h = r.history;
  if (h) {
    L.push('## 4. History size', '');
    L.push(
      table(
        ['task', 'claude turns', 'wall s', 'events', 'bytes (protobuf)', 'bytes (JSON)', 'largest events'],
        h.runs.map((x) => [
          x.label,
          String(x.numTurns),
          fmt(x.wallMs / 1000, 1),
          String(x.events),
          fmt(x.protoBytes),
          fmt(x.jsonBytes),
          x.largest
            .slice(0, 3)
            .map((e) => `${e.type} ${e.protoBytes} B`)
            .join(', '),
        ]),
      ),
      '',
    );
    L.push(
      h.sameEventCount && !h.difference
        ? 'Both histories have the same events in the same order: heartbeats and tool calls never reach history.'
        : `The histories differ: ${h.difference ?? 'in event count'}.`,
      '',
    );
  }
  const g = r.git;
  if (g) {
    L.push('## 5. Working on a repository', '');
    L.push(
      `Recording a turn's change (two edited files and a new one) on a repository of ${fmt(g.capture.files)} files, ${g.capture.iterations} turns after an untimed one: ` +
        "the capture script inside a bubblewrap sandbox, run the way captureChanges runs it (the helper process's exit wakes the wait; else it is looked at from 5 ms, doubling up to the worker's " +
        `${g.capture.pollMs} ms), in a sandbox with the worker's disk image and limits, and the same script run directly on the host.`,
      '',
    );
    L.push(
      table(
        ['', 'p50 ms', 'p95 ms', 'mean ms', 'min ms', 'max ms'],
        [
          [
            'in bwrap (what a task pays)',
            ms(g.capture.sandbox.p50),
            ms(g.capture.sandbox.p95),
            ms(g.capture.sandbox.mean),
            ms(g.capture.sandbox.min),
            ms(g.capture.sandbox.max),
          ],
          [
            'git alone, on the host',
            ms(g.capture.host.p50),
            ms(g.capture.host.p95),
            ms(g.capture.host.mean),
            ms(g.capture.host.min),
            ms(g.capture.host.max),
          ],
        ],
      ),
      '',
    );
    const f = g.firstOutput;
    L.push(
      `Time from \`workflow.start\` to the agent's first stream output, for the overhead scenario with \`repo\` naming a local ${fmt(f.repoPackMiB, 1)} MiB ` +
        `repository (${fmt(f.repoTreeMiB, 1)} MiB of files, shallow fetch) and without one, ${f.iterations} times each, interleaved. The difference is fetch, bundle, upload into the sandbox and checkout (the prepareRepo activity).`,
      '',
    );
    L.push(
      table(
        ['', 'p50 ms', 'p95 ms', 'mean ms', 'min ms', 'max ms'],
        [
          ['with the repository', ms(f.withRepo.p50), ms(f.withRepo.p95), ms(f.withRepo.mean), ms(f.withRepo.min), ms(f.withRepo.max)],
          ['without', ms(f.withoutRepo.p50), ms(f.withoutRepo.p95), ms(f.withoutRepo.mean), ms(f.withoutRepo.min), ms(f.withoutRepo.max)],
          [
            'prepareRepo activity',
            ms(f.prepareRepo.p50),
            ms(f.prepareRepo.p95),
            ms(f.prepareRepo.mean),
            ms(f.prepareRepo.min),
            ms(f.prepareRepo.max),
          ],
        ],
      ),
      '',
      `Added time to first output: **${ms(f.addedMs)} ms** (p50 with − p50 without).`,
      '',
    );
  }
  return `${L.join('\n')}\n`;
}

/**
 * Stream parsing: synthetic stream-json transcripts (10 MiB and 100 MiB, a realistic mix of
 * assistant text, tool calls and large tool results) parsed through runAgent's reader, parser
 * and state, each in a fresh process (run from the benchmark's build: call buildWorkerProcess first). Throughput, and memory to show it stays flat.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { summarizeCpuProfile, type ProfileSummary } from './lib/cpu-profile.js';
import { BENCH_TMP, BUILD_DIR, REPO_ROOT } from './lib/paths.js';
import type { ParseChildResult } from './parse-child.js';

const execFileAsync = promisify(execFile);
const MIB = 1 << 20;

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ASCII_WORDS = (
  'the test file src function returns error warning passed failed const let import export ' +
  'async await "quoted" path/to/module.ts line 42: expected received { } [ ] => \t ok 1 - should work'
).split(' ');
/** Test runners and some tools print these; most output is plain ASCII. */
const OTHER_WORDS = ['✓', '✗', '→', '—', 'café', '漢字'];

/** A pool of tool-output-like text (lines, quotes, tabs; optionally some non-ASCII) to slice from. */
function textPool(random: () => number, size: number, nonAscii: boolean): string {
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const words = nonAscii && random() < 0.05 ? OTHER_WORDS : ASCII_WORDS;
    const w = words[Math.floor(random() * words.length)] ?? 'x';
    const sep = random() < 0.12 ? '\n' : ' ';
    parts.push(w, sep);
    len += w.length + 1;
  }
  return parts.join('');
}

/**
 * Writes a transcript of about `mib` MiB: an init line, then turns of assistant text, a tool
 * call and its result (most results small, some large, as file reads and test logs are), and a
 * result line. Tool results carry their output twice, in `message.content` and in
 * `tool_use_result`, as the CLI writes them.
 */
export async function writeTranscript(file: string, mib: number): Promise<number> {
  const random = rng(42);
  // A fifth of the texts and outputs carry some non-ASCII (test marks, arrows, names).
  const ascii = textPool(random, 2 * MIB, false);
  const mixed = textPool(random, 2 * MIB, true);
  const slice = (n: number) => {
    const pool = random() < 0.2 ? mixed : ascii;
    // (pools are 2 MiB; no slice asks for more than 256 KiB)
    const start = Math.floor(random() * (pool.length - n));
    return pool.slice(start, start + n);
  };
  const session = '5b1f2c9e-8d4a-4c1e-9f3b-2a7d6e0c1b4f';
  const out = createWriteStream(file);
  let bytes = 0;
  const write = async (obj: unknown) => {
    const line = `${JSON.stringify(obj)}\n`;
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  await write({
    type: 'system',
    subtype: 'init',
    cwd: '/home/user/workspace',
    session_id: session,
    tools: ['Task', 'Bash', 'Glob', 'Grep', 'LS', 'Read', 'Edit', 'Write', 'WebFetch', 'TodoWrite', 'mcp__ccflow__submit_result'],
    mcp_servers: [{ name: 'ccflow', status: 'connected' }],
    model: 'claude-sonnet-4-5',
    permissionMode: 'dontAsk',
    apiKeySource: 'ANTHROPIC_API_KEY',
  });
  const target = mib * MIB;
  let turn = 0;
  while (bytes < target - 4_096) {
    turn += 1;
    const toolId = `toolu_${turn.toString(16).padStart(20, '0')}`;
    const usage = { input_tokens: 1200 + turn, output_tokens: 85, cache_read_input_tokens: 15_000 };
    await write({
      type: 'assistant',
      message: {
        id: `msg_${turn}`,
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [{ type: 'text', text: slice(100 + Math.floor(random() * 1_400)) }],
        stop_reason: null,
        usage,
      },
      parent_tool_use_id: null,
      session_id: session,
    });
    const tool = ['Bash', 'Read', 'Edit', 'Grep'][turn % 4] ?? 'Bash';
    const input =
      tool === 'Bash'
        ? { command: `npm test -- ${slice(30).replace(/\s+/g, '-')}`, description: 'Run the tests' }
        : tool === 'Read'
          ? { file_path: `/home/user/workspace/src/${turn}.ts` }
          : tool === 'Edit'
            ? { file_path: `/home/user/workspace/src/${turn}.ts`, old_string: slice(200), new_string: slice(220) }
            : { pattern: 'TODO', path: '/home/user/workspace' };
    await write({
      type: 'assistant',
      message: {
        id: `msg_${turn}`,
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [{ type: 'tool_use', id: toolId, name: tool, input }],
        usage,
      },
      parent_tool_use_id: null,
      session_id: session,
    });
    // 70% small (≤2 KiB), 25% medium (≤30 KiB: the CLI cuts Bash output at 30,000 chars),
    // 5% large (30–256 KiB: a Read of a big file).
    const r = random();
    const size =
      r < 0.7
        ? 100 + Math.floor(random() * 2_000)
        : r < 0.95
          ? 2_048 + Math.floor(random() * 28_000)
          : 30_000 + Math.floor(random() * 232_144);
    const output = slice(size);
    await write({
      type: 'user',
      message: { role: 'user', content: [{ tool_use_id: toolId, type: 'tool_result', content: output, is_error: false }] },
      parent_tool_use_id: null,
      session_id: session,
      tool_use_result: { stdout: output, stderr: '', interrupted: false, isImage: false },
    });
  }
  await write({
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: 123_456,
    duration_api_ms: 98_765,
    num_turns: turn * 2,
    result: 'Done.',
    session_id: session,
    total_cost_usd: 1.23,
    usage: { input_tokens: 1, output_tokens: 1 },
    permission_denials: [],
  });
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return bytes;
}

export interface ParseRun extends ParseChildResult {
  sizeMiB: number;
  mibPerSec: number;
  parseOnlyMibPerSec: number;
  /** JSON.parse of the same lines and nothing else: the floor. */
  jsonOnlyMibPerSec: number;
}

export interface ParseResult {
  runs: ParseRun[];
  /** Where the parser's CPU time goes (the largest input, profiled separately). */
  profile?: ProfileSummary;
}

async function child(file: string, scratch: string, extra: { jsonOnly?: boolean; profileOut?: string } = {}): Promise<ParseChildResult> {
  const args = [
    '--expose-gc',
    path.join(BUILD_DIR, 'bench', 'parse-child.js'),
    file,
    scratch,
    extra.jsonOnly ? 'json-only' : 'parse',
    ...(extra.profileOut ? [extra.profileOut] : []),
  ];
  const { stdout } = await execFileAsync(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, BENCH_REPO_ROOT: REPO_ROOT },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ParseChildResult;
}

export async function parseBench(o: { sizesMiB: number[]; log: (s: string) => void }): Promise<ParseResult> {
  const dir = path.join(BENCH_TMP, 'parse');
  await mkdir(dir, { recursive: true });
  const runs: ParseRun[] = [];
  let largest: string | undefined;
  for (const mib of o.sizesMiB) {
    const file = path.join(dir, `transcript-${mib}mib.jsonl`);
    await writeTranscript(file, mib);
    largest = file;
    const r = await child(file, path.join(dir, 'sandboxes'));
    const json = await child(file, path.join(dir, 'sandboxes'), { jsonOnly: true });
    const size = r.bytes / MIB;
    const run: ParseRun = {
      ...r,
      sizeMiB: size,
      mibPerSec: size / (r.totalMs / 1000),
      parseOnlyMibPerSec: size / (r.parseMs / 1000),
      jsonOnlyMibPerSec: size / (json.parseMs / 1000),
    };
    runs.push(run);
    o.log(
      `  parse ${size.toFixed(0)} MiB: ${run.mibPerSec.toFixed(0)} MiB/s (parse only ${run.parseOnlyMibPerSec.toFixed(0)}, reads ${r.readMs.toFixed(0)} ms, JSON.parse floor ${run.jsonOnlyMibPerSec.toFixed(0)}), ` +
        `peak RSS +${((r.peakRss - r.baselineRss) / MIB).toFixed(1)} MiB, ${r.events} events`,
    );
  }
  let profile: ProfileSummary | undefined;
  if (largest) {
    const profileOut = path.join(dir, 'parse.cpuprofile');
    await child(largest, path.join(dir, 'sandboxes'), { profileOut });
    profile = await summarizeCpuProfile(profileOut);
  }
  // The transcripts are big and cheap to make again.
  for (const mib of o.sizesMiB) await rm(path.join(dir, `transcript-${mib}mib.jsonl`), { force: true });
  return { runs, profile };
}

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { LocalArtifactStore } from '../artifacts/local.js';
import { renderTranscript, runHeader } from '../claude/transcript.js';
import { ccflowHome } from '../home.js';
import type { ProgressEvent } from '../schemas/progress.js';

/**
 * A task's transcripts, read from the artifact store the worker writes (a directory on the
 * worker's machine, or one shared with it). Each agent run's stream-json is saved when the
 * sandbox is torn down; a task that stays open for follow-ups also saves claude's session file
 * after every turn, which is what there is to read while it is open.
 */

/** One saved transcript file of a task. */
export interface TranscriptFile {
  /** Path under the task's artifact directory, e.g. `runs/run-1/a1/transcript.jsonl`. */
  name: string;
  /** Where it was read from. */
  kind: 'run' | 'session';
  /** The prompt of that run, when it was saved beside it. */
  prompt?: string;
  bytes: Buffer;
}

export interface TranscriptOpts {
  /** The task's artifact directory. @default from its result, else `$CCFLOW_ARTIFACT_DIR/<id>` (`$CCFLOW_HOME/artifacts/<id>`) */
  dir?: string;
}

/** What `CcflowClient.transcript` found. */
export interface TaskTranscript {
  /** Where the files were looked for. */
  dir: string;
  /** The task was still running (its transcript may grow). */
  running: boolean;
  /** In the order they happened; empty when nothing is saved (yet, or on another machine). */
  files: TranscriptFile[];
}

/** The artifact directory of a task: from its result or failure, else the local artifact store's. */
export function artifactsDirOf(workflowId: string, event: ProgressEvent | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromResult = event?.type === 'result' ? event.result['artifactsDir'] : undefined;
  if (typeof fromResult === 'string') return fromResult;
  if (event?.type === 'failure' && event.artifactsDir) return event.artifactsDir;
  const root = env.CCFLOW_ARTIFACT_DIR ?? path.join(ccflowHome(env), 'artifacts');
  return new LocalArtifactStore(root).location(workflowId);
}

const byRun = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * A task's saved transcripts in the order they happened. While it runs, the session files
 * saved after each turn are the latest whole conversation (run transcripts only appear when a
 * sandbox is torn down); once it ended, every run's stream-json, with its retries and prompts.
 * Each kind stands in for the other when it is missing.
 */
export async function readTranscriptFiles(dir: string, o: { running?: boolean } = {}): Promise<TranscriptFile[]> {
  const entries = (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String);
  const runs = entries.filter((f) => f.endsWith('transcript.jsonl')).sort(byRun);
  const sessions = entries.filter((f) => /^session\/[^/]+\.jsonl$/.test(f.split(path.sep).join('/'))).sort(byRun);
  const preferSessions = (o.running === true && sessions.length > 0) || runs.length === 0;
  const chosen: Array<{ name: string; kind: TranscriptFile['kind'] }> = preferSessions
    ? sessions.map((name) => ({ name, kind: 'session' }))
    : runs.map((name) => ({ name, kind: 'run' }));
  const files: TranscriptFile[] = [];
  for (const { name, kind } of chosen) {
    const bytes = await readFile(path.join(dir, name));
    const prompt =
      kind === 'run' ? await readFile(path.join(dir, path.dirname(name), 'prompt.txt'), 'utf8').catch(() => undefined) : undefined;
    files.push({ name, kind, bytes, ...(prompt !== undefined ? { prompt } : {}) });
  }
  return files;
}

/** Transcript files as people read them: a header per run, its prompt, then the conversation. */
export function renderTranscriptFiles(files: readonly TranscriptFile[]): string {
  const out: string[] = [];
  for (const f of files) {
    out.push(runHeader(f.name));
    if (f.prompt)
      out.push(
        ...f.prompt
          .trim()
          .split('\n')
          .map((l) => `prompt │ ${l}`),
      );
    out.push(...renderTranscript(f.bytes), '');
  }
  return `${out.join('\n')}\n`;
}

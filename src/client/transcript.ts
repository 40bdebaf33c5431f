import path from 'node:path';
import { renderTranscript, runHeader } from '../claude/transcript.js';
import type { ArtifactSource } from './artifact-source.js';

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
  /** The task's artifact directory. @default from its result, else this machine's artifact store (CCFLOW_ARTIFACTS, CCFLOW_ARTIFACT_DIR) */
  dir?: string;
}

/** What `CcflowClient.transcript` found. */
export interface TaskTranscript {
  /** Where the files were looked for: a directory or an `s3://` URI. */
  dir: string;
  /** The task was still running (its transcript may grow). */
  running: boolean;
  /** In the order they happened; empty when nothing is saved (yet, or on another machine). */
  files: TranscriptFile[];
}

const byRun = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * A task's saved transcripts in the order they happened. While it runs, the session files
 * saved after each turn are the latest whole conversation (run transcripts only appear when a
 * sandbox is torn down); once it ended, every run's stream-json, with its retries and prompts.
 * Each kind stands in for the other when it is missing.
 */
export async function readTranscriptFiles(source: ArtifactSource, o: { running?: boolean } = {}): Promise<TranscriptFile[]> {
  const entries = await source.list();
  const runs = entries.filter((f) => f.endsWith('transcript.jsonl')).sort(byRun);
  const sessions = entries.filter((f) => /^session\/[^/]+\.jsonl$/.test(f)).sort(byRun);
  const preferSessions = (o.running === true && sessions.length > 0) || runs.length === 0;
  const chosen: Array<{ name: string; kind: TranscriptFile['kind'] }> = preferSessions
    ? sessions.map((name) => ({ name, kind: 'session' }))
    : runs.map((name) => ({ name, kind: 'run' }));
  const files: TranscriptFile[] = [];
  for (const { name, kind } of chosen) {
    const bytes = (await source.read(name)) ?? Buffer.alloc(0);
    const prompt =
      kind === 'run' ? (await source.read(path.posix.join(path.posix.dirname(name), 'prompt.txt')))?.toString('utf8') : undefined;
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

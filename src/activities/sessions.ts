import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { Context } from '@temporalio/activity';
import type { ArtifactStore, TaskRef } from '../artifacts/types.js';
import type { ProviderName } from '../domain/constants.js';
import { SandboxError, SandboxNotFoundError } from '../sandbox/errors.js';
import { CLAUDE_PROJECT_DIR, SANDBOX_FILES, SANDBOX_WORKDIR } from '../sandbox/layout.js';
import { readBounded } from '../sandbox/bounded.js';
import { sandboxFileStream } from '../sandbox/stream.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import type { SandboxRef } from '../schemas/activities.js';
import type { ProbedSandbox, RestoreSessionInput, RestoredSession, SaveSessionInput, SavedSession } from '../schemas/sessions.js';
import { applicationFailure, translated } from './failures.js';
import { MAX_RESULT_BYTES } from './result.js';
import { runTool } from './sandbox-tool.js';
import type { SandboxAccess } from './sandboxes.js';
import { currentTask } from './task.js';

/**
 * Session persistence: a Claude session outlives its sandbox. After every turn the session's
 * transcript and a tarball of the workspace go to the artifact store; a follow-up that finds
 * its sandbox gone, or a new task continuing an old one, restores both into a fresh sandbox at
 * the same paths, so `claude --resume` finds the conversation and the agent finds its files.
 */

/** Artifact names, under the task's workflow id. */
export const sessionArtifacts = {
  manifest: 'session/session.json',
  transcript: (sessionId: string) => `session/${sessionId}.jsonl`,
  workspace: 'session/workspace.tar.gz',
  turnResult: (turn: number) => `turns/${turn}/result.json`,
};

/**
 * Workspaces larger than this (compressed) are not saved: the session then cannot be restored
 * elsewhere, and a restore says so.
 */
export const MAX_WORKSPACE_TARBALL_BYTES = 256 * 1024 * 1024;
/** A session transcript bigger than this is not saved (the agent can write to it). */
export const MAX_TRANSCRIPT_BYTES = 256 * 1024 * 1024;
const SESSION_ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

interface Manifest {
  sessionId: string;
  turn: number;
  sessionCostUsd?: number;
  savedAt: string;
  transcriptBytes: number;
  workspaceBytes: number | null;
  workspaceError?: string;
}

export interface SessionDeps {
  sandboxes: SandboxAccess;
  /** For probes, which must not fail on a provider that is missing here. */
  providers: Partial<Record<ProviderName, SandboxProvider>>;
  artifacts: ArtifactStore;
  /** How often a helper process in the sandbox (tar, rm) is polled. @default 50 // ms */
  pollIntervalMs?: number;
}

export const createSessionActivities = (deps: SessionDeps) => {
  const pollMs = deps.pollIntervalMs ?? 50;

  const connect = (ref: SandboxRef): Promise<Sandbox> => deps.sandboxes.connect(ref.provider, ref.sandboxId);
  const notFound = (message: string) => applicationFailure('SessionNotFound', message);

  return {
    /** Whether a sandbox still exists (a follow-up restores the session elsewhere when not). */
    async probeSandbox(input: SandboxRef): Promise<ProbedSandbox> {
      const provider = deps.providers[input.provider];
      if (!provider) return { alive: false };
      try {
        const sandbox = await provider.connect(input.sandboxId);
        // A sandbox whose files are gone is as good as gone.
        await sandbox.readFileFrom(SANDBOX_FILES.mcpConfig, 0, 1);
        return { alive: true };
      } catch (err) {
        if (err instanceof SandboxNotFoundError || (err instanceof SandboxError && !err.retryable)) return { alive: false };
        throw err;
      }
    },

    /** Removes the previous turn's result files, so this turn's result is this turn's. */
    async clearResult(input: SandboxRef): Promise<void> {
      const sandbox = await connect(input);
      await runTool(sandbox, ['rm', '-f', '--', SANDBOX_FILES.result, SANDBOX_FILES.attempts], {
        prefix: `${SANDBOX_FILES.session}/rm`,
        pollMs,
      });
    },

    /**
     * Saves the session transcript, a workspace tarball and the turn's result. Files stream
     * from the sandbox to the store; each is stored whole or not at all, and the manifest goes
     * last, so a save that dies half way leaves the previous save readable.
     */
    async saveSession(input: SaveSessionInput): Promise<SavedSession> {
      if (!SESSION_ID_RE.test(input.sessionId)) throw notFound(`"${input.sessionId}" is not a session id`);
      const ctx = Context.current();
      const task = currentTask();
      const sandbox = await connect(input);
      return translated(async () => {
        const transcriptPath = `${CLAUDE_PROJECT_DIR}/${input.sessionId}.jsonl`;
        // A transcript is never empty: its first byte says it is there.
        if ((await sandbox.readFileFrom(transcriptPath, 0, 1)).length === 0) {
          throw notFound(`claude left no transcript for session ${input.sessionId} at ${transcriptPath}; the session cannot be saved`);
        }
        const heartbeat = () => ctx.heartbeat();
        // Bounded: the agent can write to its own transcript.
        const transcript = await deps.artifacts
          .putStream(
            task,
            sessionArtifacts.transcript(input.sessionId),
            pipeline(sandboxFileStream(sandbox, transcriptPath), new SizeLimit(MAX_TRANSCRIPT_BYTES), () => undefined),
            { onProgress: heartbeat },
          )
          .catch((err: unknown) => {
            if (err instanceof TooLargeError) {
              throw notFound(`the transcript of session ${input.sessionId} is too big to save (over ${MAX_TRANSCRIPT_BYTES} bytes)`);
            }
            throw err;
          });

        const result = await readBounded(sandbox, SANDBOX_FILES.result, MAX_RESULT_BYTES).catch(() => undefined);
        if (result) await deps.artifacts.put(task, sessionArtifacts.turnResult(input.turn), result);

        // tar runs inside the sandbox (it is in the read-only system directories of every
        // provider); exit code 1 means "a file changed while it was read", which is fine here.
        const tarball = `${SANDBOX_FILES.session}/workspace.tar.gz`;
        const tar = await runTool(sandbox, ['tar', '-czf', tarball, '-C', SANDBOX_WORKDIR, '.'], {
          prefix: `${SANDBOX_FILES.session}/tar`,
          pollMs,
        });
        let workspaceBytes: number | null = null;
        let workspaceError: string | undefined;
        if (tar.exitCode !== 0 && tar.exitCode !== 1) {
          workspaceError = `tar exited with ${tar.exitCode}: ${tar.stderr.slice(-500)}`;
        } else if ((await sandbox.readFileFrom(tarball, 0, 1)).length === 0) {
          workspaceError = 'tar wrote no tarball';
        } else {
          const limit = new SizeLimit(MAX_WORKSPACE_TARBALL_BYTES);
          try {
            // pipeline() carries a failed read of the tarball through to the upload, which then aborts.
            const body = pipeline(sandboxFileStream(sandbox, tarball), limit, () => undefined);
            const stored = await deps.artifacts.putStream(task, sessionArtifacts.workspace, body, { onProgress: heartbeat });
            workspaceBytes = stored.bytes;
          } catch (err) {
            if (!(err instanceof TooLargeError)) throw err;
            workspaceError = `the workspace tarball is over the ${MAX_WORKSPACE_TARBALL_BYTES}-byte limit`;
          }
        }
        const manifest: Manifest = {
          sessionId: input.sessionId,
          turn: input.turn,
          ...(input.sessionCostUsd !== undefined ? { sessionCostUsd: input.sessionCostUsd } : {}),
          savedAt: new Date().toISOString(),
          transcriptBytes: transcript.bytes,
          workspaceBytes,
          ...(workspaceError ? { workspaceError } : {}),
        };
        await deps.artifacts.put(task, sessionArtifacts.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
        if (workspaceError) ctx.log.warn('workspace not saved', { sessionId: input.sessionId, error: workspaceError });
        return {
          location: deps.artifacts.location(task),
          transcriptBytes: transcript.bytes,
          workspaceBytes,
          ...(workspaceError ? { workspaceError } : {}),
        };
      });
    },

    /**
     * Restores a saved session into a sandbox: the transcript where `claude --resume` looks
     * for it, and the workspace files, streamed from the store. Anything missing is a clear
     * SessionNotFound, never a silent fresh start.
     */
    async restoreSession(input: RestoreSessionInput): Promise<RestoredSession> {
      // Only ever from this task's own namespace: the store files tasks by namespace, so a
      // task of another namespace (another tenant) is simply not there.
      const source: TaskRef = { namespace: currentTask().namespace, workflowId: input.fromWorkflowId };
      const from = input.fromWorkflowId;
      const where = deps.artifacts.location(source);
      const ctx = Context.current();
      const { manifest, saved } = await translated(async () => {
        const raw = await deps.artifacts.get(source, sessionArtifacts.manifest);
        return { manifest: raw && (JSON.parse(raw.toString('utf8')) as Manifest), saved: raw ? await deps.artifacts.list(source) : [] };
      });
      if (!manifest) {
        throw notFound(
          `task ${from} has no saved session in namespace ${source.namespace} (nothing at ${where}/${sessionArtifacts.manifest}): it ` +
            `never finished a turn, its artifacts were deleted, it is not a ccflow task, or it belongs to another namespace`,
        );
      }
      const sessionId = input.sessionId ?? manifest.sessionId;
      if (!SESSION_ID_RE.test(sessionId)) throw notFound(`"${sessionId}" is not a session id`);
      if (!input.workspaceOnly && !saved.includes(sessionArtifacts.transcript(sessionId))) {
        const known = saved
          .filter((n) => n.startsWith('session/') && n.endsWith('.jsonl'))
          .map((n) => n.slice('session/'.length, -'.jsonl'.length));
        throw notFound(
          `no saved transcript for session ${sessionId} of task ${from} (expected ${where}/${sessionArtifacts.transcript(sessionId)}; ` +
            `saved sessions: ${known.length ? known.join(', ') : 'none'})`,
        );
      }
      if (!saved.includes(sessionArtifacts.workspace)) {
        const why = manifest.workspaceError
          ? `: it was not saved (${manifest.workspaceError})`
          : ` (expected ${where}/${sessionArtifacts.workspace})`;
        throw notFound(`no saved workspace for task ${from}${why}`);
      }

      const sandbox = await connect(input);
      /** Streams one stored file into the sandbox; its size. */
      const copyIn = (name: string, to: string) =>
        translated(async () => {
          const opened = await deps.artifacts.getStream(source, name);
          if (!opened) throw notFound(`${where}/${name} disappeared while the session of task ${from} was restored`);
          ctx.heartbeat();
          await sandbox.writeFile(to, opened.body);
          return opened.bytes;
        });
      const transcriptBytes = input.workspaceOnly
        ? 0
        : await copyIn(sessionArtifacts.transcript(sessionId), `${CLAUDE_PROJECT_DIR}/${sessionId}.jsonl`);
      const tarball = `${SANDBOX_FILES.session}/restore.tar.gz`;
      const workspaceBytes = await copyIn(sessionArtifacts.workspace, tarball);
      const tar = await runTool(sandbox, ['tar', '-xzf', tarball, '-C', SANDBOX_WORKDIR], {
        prefix: `${SANDBOX_FILES.session}/untar`,
        pollMs,
      });
      if (tar.exitCode !== 0) {
        throw applicationFailure(
          'SandboxUnavailable',
          `could not unpack the saved workspace of task ${from}: tar exited with ${tar.exitCode}: ${tar.stderr.slice(-500)}`,
        );
      }
      await runTool(sandbox, ['rm', '-f', '--', tarball], { prefix: `${SANDBOX_FILES.session}/rm`, pollMs });
      ctx.log.info('session restored', { from, sessionId, sandboxId: input.sandboxId });
      const cost = !input.workspaceOnly && manifest.sessionId === sessionId ? manifest.sessionCostUsd : undefined;
      return { sessionId, transcriptBytes, workspaceBytes, ...(cost !== undefined ? { sessionCostUsd: cost } : {}) };
    },
  };
};

/** Thrown through a stream that carried more than its limit. */
class TooLargeError extends Error {}

/** Passes bytes through until there are more than `limit`, then fails the stream (and so the upload). */
class SizeLimit extends Transform {
  #seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.limit) done(new TooLargeError(`more than ${this.limit} bytes`));
    else done(null, chunk);
  }
}

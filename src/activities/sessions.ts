import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../artifacts/types.js';
import type { ProviderName } from '../domain/constants.js';
import { SandboxError, SandboxNotFoundError } from '../sandbox/errors.js';
import { CLAUDE_PROJECT_DIR, SANDBOX_FILES, SANDBOX_WORKDIR } from '../sandbox/layout.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import type { SandboxRef } from '../schemas/activities.js';
import type { ProbedSandbox, RestoreSessionInput, RestoredSession, SaveSessionInput, SavedSession } from '../schemas/sessions.js';
import { applicationFailure } from './failures.js';
import { runTool } from './sandbox-tool.js';
import type { SandboxAccess } from './sandboxes.js';

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
const SESSION_ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

interface Manifest {
  sessionId: string;
  turn: number;
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

    /** Saves the session transcript, a workspace tarball and the turn's result. */
    async saveSession(input: SaveSessionInput): Promise<SavedSession> {
      if (!SESSION_ID_RE.test(input.sessionId)) throw notFound(`"${input.sessionId}" is not a session id`);
      const taskId = Context.current().info.workflowExecution?.workflowId ?? input.sessionId;
      const sandbox = await connect(input);
      const transcriptPath = `${CLAUDE_PROJECT_DIR}/${input.sessionId}.jsonl`;
      const transcript = await sandbox.readFile(transcriptPath);
      if (!transcript) {
        throw notFound(`claude left no transcript for session ${input.sessionId} at ${transcriptPath}; the session cannot be saved`);
      }
      await deps.artifacts.put(taskId, sessionArtifacts.transcript(input.sessionId), transcript);

      const result = await sandbox.readFile(SANDBOX_FILES.result);
      if (result) await deps.artifacts.put(taskId, sessionArtifacts.turnResult(input.turn), result);

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
      } else {
        const content = await sandbox.readFile(tarball);
        if (!content) workspaceError = 'tar wrote no tarball';
        else if (content.length > MAX_WORKSPACE_TARBALL_BYTES) {
          workspaceError = `the workspace tarball is ${content.length} bytes, over the ${MAX_WORKSPACE_TARBALL_BYTES}-byte limit`;
        } else {
          await deps.artifacts.put(taskId, sessionArtifacts.workspace, content);
          workspaceBytes = content.length;
        }
      }
      const manifest: Manifest = {
        sessionId: input.sessionId,
        turn: input.turn,
        savedAt: new Date().toISOString(),
        transcriptBytes: transcript.length,
        workspaceBytes,
        ...(workspaceError ? { workspaceError } : {}),
      };
      await deps.artifacts.put(taskId, sessionArtifacts.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
      if (workspaceError) Context.current().log.warn('workspace not saved', { sessionId: input.sessionId, error: workspaceError });
      return {
        location: deps.artifacts.location(taskId),
        transcriptBytes: transcript.length,
        workspaceBytes,
        ...(workspaceError ? { workspaceError } : {}),
      };
    },

    /**
     * Restores a saved session into a sandbox: the transcript where `claude --resume` looks
     * for it, and the workspace files. Anything missing is a clear SessionNotFound, never a
     * silent fresh start.
     */
    async restoreSession(input: RestoreSessionInput): Promise<RestoredSession> {
      const from = input.fromWorkflowId;
      const where = deps.artifacts.location(from);
      const rawManifest = await deps.artifacts.get(from, sessionArtifacts.manifest);
      if (!rawManifest) {
        throw notFound(
          `task ${from} has no saved session (nothing at ${where}/${sessionArtifacts.manifest}): it never finished a turn, ` +
            `its artifacts were deleted, or it is not a ccflow task`,
        );
      }
      const manifest = JSON.parse(rawManifest.toString('utf8')) as Manifest;
      const sessionId = input.sessionId ?? manifest.sessionId;
      if (!SESSION_ID_RE.test(sessionId)) throw notFound(`"${sessionId}" is not a session id`);

      let transcriptBytes = 0;
      if (!input.workspaceOnly) {
        const transcript = await deps.artifacts.get(from, sessionArtifacts.transcript(sessionId));
        if (!transcript) {
          const known = (await deps.artifacts.list(from))
            .filter((n) => n.startsWith('session/') && n.endsWith('.jsonl'))
            .map((n) => n.slice('session/'.length, -'.jsonl'.length));
          throw notFound(
            `no saved transcript for session ${sessionId} of task ${from} (expected ${where}/${sessionArtifacts.transcript(sessionId)}; ` +
              `saved sessions: ${known.length ? known.join(', ') : 'none'})`,
          );
        }
        transcriptBytes = transcript.length;
      }
      const workspace = await deps.artifacts.get(from, sessionArtifacts.workspace);
      if (!workspace) {
        const why = manifest.workspaceError
          ? `: it was not saved (${manifest.workspaceError})`
          : ` (expected ${where}/${sessionArtifacts.workspace})`;
        throw notFound(`no saved workspace for task ${from}${why}`);
      }

      const sandbox = await connect(input);
      if (!input.workspaceOnly) {
        const transcript = await deps.artifacts.get(from, sessionArtifacts.transcript(sessionId));
        await sandbox.writeFile(`${CLAUDE_PROJECT_DIR}/${sessionId}.jsonl`, transcript ?? Buffer.alloc(0));
      }
      const tarball = `${SANDBOX_FILES.session}/restore.tar.gz`;
      await sandbox.writeFile(tarball, workspace);
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
      Context.current().log.info('session restored', { from, sessionId, sandboxId: input.sandboxId });
      return { sessionId, transcriptBytes, workspaceBytes: workspace.length };
    },
  };
};

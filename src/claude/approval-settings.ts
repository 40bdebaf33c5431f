/**
 * What the claude CLI is told about approvals: the `--settings` document that registers
 * ccflow's approval hook once per rule, and the approvals file that hook reads (the task's
 * rules, the human decisions so far, where to park a call). Pure builders; the activity writes
 * the file into the sandbox and puts the settings on the command line.
 *
 * Mechanism (checked against claude 2.1.330): a `PreToolUse` hook answering `defer` ends
 * `claude -p` cleanly with the call pending; `--resume` with empty stdin sends the same call
 * through the hook again, which then answers allow or deny.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical-json.js';
import { hookFilter, type ApprovalRule } from '../domain/approval-rules.js';

/**
 * Seconds the CLI gives the hook before treating it as failed (and blocking the call: every
 * entry says `onFailure: "block"`). Node starts in well under a second; this is for a loaded host.
 */
export const APPROVAL_HOOK_TIMEOUT_SECONDS = 30;

/** A human's answer to one parked call, as the hook reads it. */
export interface HookDecision {
  decision: 'allow' | 'deny';
  reason?: string;
  /** sha256 of the canonical JSON of the input the human was shown (see {@link inputSha256}). */
  inputSha256: string;
  /** `timeout`: nobody answered in time, which the agent is told instead of a reviewer's denial. */
  by?: 'human' | 'timeout';
}

export interface ApprovalsFileInput {
  rules: readonly ApprovalRule[];
  /** Rules a human allowed for the rest of the session. */
  allowRules: readonly string[];
  /** Decisions by tool_use_id. */
  decisions: Readonly<Record<string, HookDecision>>;
  /** Where this run's hook records the one call it parks (inside the sandbox). */
  parkFile: string;
  /** Where the hook appends a line per answer (inside the sandbox). */
  logFile: string;
}

/** The approvals file's bytes and their sha256, which goes into the hook's argv. */
export function buildApprovalsFile(input: ApprovalsFileInput): { content: string; sha256: string } {
  const content = `${JSON.stringify(
    {
      version: 1,
      rules: input.rules.map((r) => {
        const domain = hookFilter(r).domain;
        return domain === undefined ? { rule: r.text } : { rule: r.text, domain };
      }),
      allowRules: [...input.allowRules],
      decisions: input.decisions,
      parkFile: input.parkFile,
      logFile: input.logFile,
    },
    null,
    2,
  )}\n`;
  return { content, sha256: createHash('sha256').update(content).digest('hex') };
}

/** Where the hook is inside the sandbox, and what runs it. */
export interface ApprovalHookPaths {
  nodeBin: string;
  hookPath: string;
  approvalsFile: string;
}

interface CommandHook {
  type: 'command';
  command: string;
  args: string[];
  if?: string;
  timeout: number;
  onFailure: 'block';
}

/** The part of Claude Code's settings ccflow sets. */
export interface ClaudeSettings {
  hooks?: { PreToolUse: Array<{ matcher: string; hooks: CommandHook[] }> };
}

/**
 * Settings registering the approval hook once per rule. Exec form (`command` + `args`, no
 * shell) so rule text never meets a shell; `onFailure: "block"` because hooks otherwise fail
 * open (a crashed or timed-out hook would let the call run).
 */
export function buildApprovalSettings(o: {
  paths: ApprovalHookPaths;
  approvalsSha256: string;
  rules: readonly ApprovalRule[];
}): ClaudeSettings {
  if (o.rules.length === 0) return {};
  return {
    hooks: {
      PreToolUse: o.rules.map((rule) => {
        const filter = hookFilter(rule);
        const hook: CommandHook = {
          type: 'command',
          command: o.paths.nodeBin,
          args: [o.paths.hookPath, o.paths.approvalsFile, o.approvalsSha256, rule.text],
          timeout: APPROVAL_HOOK_TIMEOUT_SECONDS,
          onFailure: 'block',
        };
        if (filter.if !== undefined) hook.if = filter.if;
        return { matcher: filter.matcher, hooks: [hook] };
      }),
    },
  };
}

/**
 * The CLI flags that say where settings come from. `--setting-sources ""` loads no user,
 * project or local settings file: a `.claude/settings.json` in the workspace (which the agent
 * or a cloned repository controls) can then neither add hooks nor widen permissions, and a
 * hook of its own answering "allow" would otherwise beat `--allowedTools` and `dontAsk`.
 * ccflow's own settings, when there are any, come inline, so there is no file to tamper with.
 */
export function settingsArgs(settings: ClaudeSettings = {}): string[] {
  const args = ['--setting-sources', ''];
  if (Object.keys(settings).length > 0) args.push('--settings', JSON.stringify(settings));
  return args;
}

/** The hash binding an approval to the exact input shown; the hook computes the same. */
export function inputSha256(input: unknown): string {
  return createHash('sha256').update(canonicalJson(input)).digest('hex');
}

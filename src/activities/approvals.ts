import { buildApprovalSettings, buildApprovalsFile, type ClaudeSettings } from '../claude/approval-settings.js';
import type { DeferredCall } from '../claude/deferred.js';
import { runFiles } from '../claude/runner.js';
import { parseApprovalRules, ruleMatches, type ApprovalRule } from '../domain/approval-rules.js';
import { previewJson } from '../domain/canonical-json.js';
import { SANDBOX_APPROVAL_HOOK, SANDBOX_HOME, SANDBOX_NODE_BIN, SANDBOX_WORKDIR } from '../sandbox/layout.js';
import type { Sandbox } from '../sandbox/types.js';
import { MAX_AGENT_TEXT_CHARS, MAX_INPUT_PREVIEW_CHARS, type DeferredCallSummary, type RunApproval } from '../schemas/approvals.js';
import { applicationFailure } from './failures.js';

/** The hook log is read this far at most (it is a line per gated call of one run). */
const MAX_HOOK_LOG_BYTES = 256 * 1024;

function rulesOf(approval: RunApproval): ApprovalRule[] {
  const parsed = parseApprovalRules(approval.rules);
  // The TaskSpec check refuses bad rules first; this guards input that skipped it.
  if (!parsed.ok) throw applicationFailure('InvalidTaskSpec', `approval.tools: ${parsed.errors.join('; ')}`);
  return parsed.rules;
}

/**
 * Writes this run's approvals file and returns the settings that register the hook. The file
 * goes into the run's own directory and is written only when the run starts: a process already
 * running carries the file's hash in its argv, and a rewrite would make its hook deny.
 */
export async function prepareApprovals(
  sandbox: Sandbox,
  approval: RunApproval,
  runDir: string,
  starting: boolean,
): Promise<ClaudeSettings> {
  const rules = rulesOf(approval);
  const files = runFiles(runDir);
  const decision = approval.decision;
  const built = buildApprovalsFile({
    rules,
    allowRules: approval.allowRules,
    decisions: decision
      ? {
          [decision.toolUseId]: {
            decision: decision.decision,
            inputSha256: decision.inputSha256,
            ...(decision.reason !== undefined ? { reason: decision.reason } : {}),
            ...(decision.by !== undefined ? { by: decision.by } : {}),
          },
        }
      : {},
    parkFile: files.approvalParked,
    logFile: files.approvalLog,
  });
  if (starting) await sandbox.writeFile(files.approvals, built.content);
  return buildApprovalSettings({
    paths: { nodeBin: SANDBOX_NODE_BIN, hookPath: SANDBOX_APPROVAL_HOOK, approvalsFile: files.approvals },
    approvalsSha256: built.sha256,
    rules,
  });
}

/**
 * What the workflow keeps of a held call: bounded, and with the rules it matched. A rule counts
 * when its hook fired for the call (the hook's log) and ccflow's own matcher agrees: the log
 * lives where the agent can write, and these are the rules a "remember for this session" allows.
 */
export async function summarizeDeferred(
  sandbox: Sandbox,
  approval: RunApproval | undefined,
  runDir: string,
  call: DeferredCall,
  lastText: string | undefined,
): Promise<DeferredCallSummary> {
  const rules = approval ? rulesOf(approval) : [];
  const raw = await sandbox.readFileFrom(runFiles(runDir).approvalLog, 0, MAX_HOOK_LOG_BYTES).catch(() => Buffer.alloc(0));
  const fired = new Set<string>();
  for (const line of raw.toString('utf8').split('\n')) {
    try {
      const entry = JSON.parse(line) as { toolUseId?: unknown; rule?: unknown };
      if (entry.toolUseId === call.toolUseId && typeof entry.rule === 'string') fired.add(entry.rule);
    } catch {
      // a torn or foreign line: not evidence of anything
    }
  }
  const ctx = { cwd: SANDBOX_WORKDIR, home: SANDBOX_HOME };
  const matched = rules
    .filter((r) => fired.has(r.text) && ruleMatches(r, { toolName: call.toolName, input: call.input }, ctx))
    .map((r) => r.text);
  return {
    toolUseId: call.toolUseId,
    toolName: call.toolName,
    input: previewJson(call.input, MAX_INPUT_PREVIEW_CHARS),
    inputSha256: call.inputSha256,
    rules: matched,
    ...(lastText ? { agentText: lastText.slice(0, MAX_AGENT_TEXT_CHARS) } : {}),
  };
}

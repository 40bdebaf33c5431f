#!/usr/bin/env node
// @ts-check
/**
 * ccflow approval hook: a Claude Code `PreToolUse` command hook that holds a tool call for a
 * human. Plain JS with Node built-ins only (it starts for every gated call, so no imports to
 * resolve, and no build step: it is copied into sandbox images as is).
 *
 * ccflow registers one hook entry per approval rule through `--settings` (with
 * `--setting-sources ""`, so nothing in the workspace can add or override hooks):
 *
 *   node approval-hook.mjs <approvals file> <sha256 of that file> <rule>
 *
 * The CLI runs it only for calls the entry's `matcher`/`if` selected (for
 * `WebFetch(domain:...)`, which `if` cannot judge, on every WebFetch: the host is checked here).
 * It answers on stdout, in the one shape `claude -p` 2.1.330 accepts:
 *   {"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"|"deny"|"defer", ...}}
 * `defer` ends the run cleanly with the call pending (result `stop_reason: "tool_deferred"`);
 * `claude --resume` with empty stdin later sends the same call through this hook again, and by
 * then the approvals file carries the human's decision for its `tool_use_id`.
 *
 * The approvals file (written by ccflow, JSON):
 *   version     1
 *   rules       [{ rule, domain? }]            the task's rules; `domain` for host-checked ones
 *   allowRules  [rule]                         allowed for the rest of the session ("remember")
 *   decisions   { <tool_use_id>: { decision: "allow"|"deny", reason?, inputSha256, by?: "human"|"timeout" } }
 *   parkFile    where this run records the one call it parks
 *   logFile     where every answer is appended, one JSON line each
 * The file lives where the agent can write, so its hash travels in argv, which the agent
 * cannot change: a file that does not match is not trusted, and gated calls are denied.
 *
 * Decisions, first match wins:
 *   1. a human's decision for this tool_use_id: allow, or deny with their reason (and deny if
 *      the input differs from the one they were shown);
 *   2. a rule remembered for the session: allow;
 *   3. a subagent's call: deny (the CLI silently drops a call deferred inside a subagent);
 *   4. another call already parked in this run: deny, try again later (the CLI keeps only one
 *      deferred call per run; the others would vanish without the model ever knowing);
 *   5. park it: defer.
 * Fails closed: hooks fail open in the CLI (a crash or unparseable output lets the call run),
 * so every error becomes a deny, and if even that cannot be written, exit 2 (a blocking error).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const MAX_REASON_CHARS = 1500;

/**
 * Answers and exits. One writeSync of a short string: a half-written answer would be
 * unparseable, and the CLI lets the call run on unparseable output.
 * @param {'allow' | 'deny' | 'defer'} decision
 * @param {string} [reason]
 * @returns {never}
 */
function answer(decision, reason) {
  const out = {
    hookSpecificOutput: {
      hookEventName: 'PreToolUse',
      permissionDecision: decision,
      ...(reason ? { permissionDecisionReason: reason.slice(0, MAX_REASON_CHARS) } : {}),
    },
  };
  try {
    writeSync(1, JSON.stringify(out));
  } catch (err) {
    process.stderr.write(`ccflow approval hook: cannot answer (${String(err)}); blocking the call\n`);
    process.exit(2);
  }
  process.exit(0);
}

/** @param {unknown} value @returns {unknown} */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(/** @type {Record<string, unknown>} */ (value)[key]);
  return out;
}

/** Same as canonicalJson in src/domain/canonical-json.ts. @param {unknown} value */
const inputSha256 = (value) =>
  createHash('sha256')
    .update(JSON.stringify(sortKeys(value)) ?? 'null')
    .digest('hex');

/** Same as urlHost/domainMatches in src/domain/approval-matchers.ts. @param {string} url */
function urlHost(url) {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(url.trim());
  if (!m?.[1]) return undefined;
  const authority = m[1].slice(m[1].lastIndexOf('@') + 1);
  const host = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.replace(/:\d*$/, '');
  return host === '' ? undefined : host.toLowerCase().replace(/\.$/, '');
}
/** @param {string} pattern @param {string} host */
function domainMatches(pattern, host) {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (pattern.startsWith('*.')) return h === pattern.slice(2) || h.endsWith(pattern.slice(1));
  return h === pattern;
}

/**
 * @typedef {{ decision: 'allow' | 'deny', reason?: string, inputSha256: string, by?: 'human' | 'timeout' }} Decision
 * @typedef {{ version: 1, rules: { rule: string, domain?: string }[], allowRules: string[],
 *   decisions: Record<string, Decision>, parkFile: string, logFile: string }} ApprovalsFile
 */

/** @param {string} path @param {string} sha @returns {ApprovalsFile} */
function readApprovals(path, sha) {
  const raw = readFileSync(path);
  if (createHash('sha256').update(raw).digest('hex') !== sha) {
    throw new Error('the approvals file does not match the one ccflow wrote (changed inside the sandbox?)');
  }
  const f = JSON.parse(raw.toString('utf8'));
  if (
    f?.version !== 1 ||
    !Array.isArray(f.rules) ||
    !Array.isArray(f.allowRules) ||
    typeof f.decisions !== 'object' ||
    f.decisions === null ||
    typeof f.parkFile !== 'string'
  ) {
    throw new Error('the approvals file has an unknown shape');
  }
  return f;
}

/**
 * Claims the run's single parking spot for this call. link() is atomic and refuses an
 * existing name, and the record is complete before it becomes visible, so two hooks racing
 * (two gated calls in one batch, or two rules matching one call) agree on one winner.
 * @param {string} parkFile @param {Record<string, unknown>} record @returns {string} the tool_use_id holding the spot
 */
function claimParking(parkFile, record) {
  mkdirSync(dirname(parkFile), { recursive: true });
  const tmp = `${parkFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record));
  try {
    linkSync(tmp, parkFile);
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  return String(JSON.parse(readFileSync(parkFile, 'utf8')).toolUseId);
}

function main() {
  const [file, sha, rule] = process.argv.slice(2);
  if (!file || !sha || !rule) throw new Error('usage: approval-hook.mjs <approvals file> <sha256> <rule>');
  const call = JSON.parse(readFileSync(0, 'utf8'));
  const toolUseId = String(call?.tool_use_id ?? '');
  const toolName = String(call?.tool_name ?? '');
  if (!toolUseId || !toolName) throw new Error('the hook input has no tool_use_id or tool_name');
  const approvals = readApprovals(file, sha);
  const entry = approvals.rules.find((r) => r.rule === rule);
  if (!entry) throw new Error(`rule ${JSON.stringify(rule)} is not one of this task's approval rules`);

  /** @param {string} outcome @param {'allow' | 'deny' | 'defer'} decision @param {string} [reason] @returns {never} */
  const decide = (outcome, decision, reason) => {
    try {
      appendFileSync(approvals.logFile, `${JSON.stringify({ at: new Date().toISOString(), toolUseId, toolName, rule, outcome })}\n`);
    } catch {
      // The log is for people; the answer is what counts.
    }
    answer(decision, reason);
  };

  if (entry.domain !== undefined) {
    const host = typeof call.tool_input?.url === 'string' ? urlHost(call.tool_input.url) : undefined;
    // A URL whose host cannot be read is gated: it might be the domain.
    if (host !== undefined && !domainMatches(entry.domain, host)) process.exit(0); // no opinion: the usual permissions decide
  }
  const sha256 = inputSha256(call.tool_input);

  const decided = Object.hasOwn(approvals.decisions, toolUseId) ? approvals.decisions[toolUseId] : undefined;
  if (decided) {
    if (decided.inputSha256 !== sha256) {
      decide(
        'input-changed',
        'deny',
        'This call differs from the one a human approved, so it was not run. Make the call again to ask anew.',
      );
    }
    if (decided.decision === 'allow') decide('allowed', 'allow', 'Approved by a human reviewer.');
    const why = decided.reason?.trim();
    if (decided.by === 'timeout') {
      decide('timed-out', 'deny', `Nobody answered the request to approve this action in time, so it was not run.${why ? ` ${why}` : ''}`);
    }
    decide('denied', 'deny', why ? `A human reviewer denied this action: ${why}` : 'A human reviewer denied this action.');
  }
  if (approvals.allowRules.includes(rule)) decide('remembered', 'allow', `Allowed for this session by a human reviewer (rule ${rule}).`);
  if (typeof call.agent_id === 'string' && call.agent_id !== '') {
    decide(
      'subagent',
      'deny',
      `This action needs human approval (rule ${rule}), which a subagent cannot wait for. Finish without it and report back, so the main agent can make this call itself.`,
    );
  }
  const holder = claimParking(approvals.parkFile, { toolUseId, toolName, rule, inputSha256: sha256, at: new Date().toISOString() });
  if (holder !== toolUseId) {
    decide(
      'busy',
      'deny',
      `This action needs human approval (rule ${rule}), but another action is already waiting for approval. Make this call again after that one has been answered.`,
    );
  }
  decide('parked', 'defer');
}

try {
  main();
} catch (err) {
  answer('deny', `ccflow could not check this action for approval, so it was not run: ${err instanceof Error ? err.message : String(err)}`);
}

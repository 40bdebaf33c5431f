/**
 * Approval rules: which tool calls of an agent must wait for a human. A rule is written in
 * Claude Code's permission-rule syntax (`Bash(git push:*)`, `Write(src/**)`,
 * `WebFetch(domain:example.com)`, `mcp__github__create_pr`, `WebFetch`).
 *
 * The CLI itself decides when a rule's hook fires (the hook entry's `if` field takes the same
 * syntax, and its Bash matching understands compound commands better than any copy could).
 * This module does three things around that, all pure and workflow-safe:
 *  - parses and validates rules, so a typo is refused up front instead of never firing;
 *  - says how each rule is filtered in the CLI's hook settings (`hookFilter`);
 *  - matches a call against a rule (`ruleMatches`), precisely and conservatively: ccflow uses it
 *    to decide which rules a human's "remember for this session" may cover, where matching
 *    too much would grant what nobody saw.
 */

import { bashMatches, domainMatches, pathMatches, urlHost, type MatchContext } from './approval-matchers.js';

export type { MatchContext };

/** Built-in tools of Claude Code 2.1.x that a rule may name (`Agent` is the newer name of `Task`). */
export const APPROVAL_BUILTIN_TOOLS = [
  'Agent',
  'Bash',
  'Edit',
  'Glob',
  'Grep',
  'LS',
  'MultiEdit',
  'NotebookEdit',
  'Read',
  'Skill',
  'Task',
  'TodoWrite',
  'WebFetch',
  'WebSearch',
  'Write',
] as const;

/** Tools whose rules take a path pattern, and the input field that holds the path. */
const PATH_FIELDS: Readonly<Record<string, string>> = {
  Read: 'file_path',
  Write: 'file_path',
  Edit: 'file_path',
  MultiEdit: 'file_path',
  NotebookEdit: 'notebook_path',
};

/** ccflow's own result tool: gating it could only keep a task from ever finishing. */
const RESULT_SERVER_PREFIX = 'mcp__ccflow';

export type ApprovalRule =
  | { text: string; kind: 'tool'; tool: string }
  | { text: string; kind: 'bash'; tool: 'Bash'; pattern: string }
  | { text: string; kind: 'path'; tool: string; pattern: string }
  | { text: string; kind: 'domain'; tool: 'WebFetch'; domain: string }
  /** `mcp__server`, `mcp__server__*` (every tool of a server) or `mcp__server__tool`. */
  | { text: string; kind: 'mcp'; tool: string; server: string; mcpTool?: string };

export type ParsedRule = { ok: true; rule: ApprovalRule } | { ok: false; error: string };

const TOOL_NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
const MCP_RE = /^mcp__([A-Za-z0-9_-]+?)(?:__([A-Za-z0-9_*-]+))?$/;
const HOST_PATTERN_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const MAX_RULE_CHARS = 500;

/** Parses one rule; the error says what is wrong in words a task author can act on. */
export function parseApprovalRule(text: string): ParsedRule {
  const fail = (why: string): ParsedRule => ({ ok: false, error: `rule ${JSON.stringify(text)}: ${why}` });
  if (text.length === 0) return fail('is empty');
  if (text.length > MAX_RULE_CHARS) return fail(`is longer than ${MAX_RULE_CHARS} characters`);
  if ([...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    return fail('contains a control character or a line break');
  }
  if (text !== text.trim()) return fail('has leading or trailing spaces');

  const open = text.indexOf('(');
  const name = open === -1 ? text : text.slice(0, open);
  let specifier: string | undefined;
  if (open !== -1) {
    if (!text.endsWith(')')) return fail('must end with ")" after its specifier, as in Bash(git push:*)');
    specifier = text.slice(open + 1, -1);
    if (specifier.trim() === '') return fail('has an empty specifier "()"; leave the parentheses out to match every call');
  }
  if (name.startsWith('mcp__')) {
    const m = MCP_RE.exec(name);
    if (!m?.[1]) return fail('an MCP rule is mcp__<server>, mcp__<server>__* or mcp__<server>__<tool>');
    if (specifier !== undefined) return fail('MCP tools take no specifier');
    if (name === RESULT_SERVER_PREFIX || name.startsWith(`${RESULT_SERVER_PREFIX}__`)) {
      return fail("ccflow's own result tool cannot require approval");
    }
    const mcpTool = m[2] === undefined || m[2] === '*' ? undefined : m[2];
    if (mcpTool?.includes('*')) return fail('an MCP tool name takes no wildcard except a whole "*"');
    return { ok: true, rule: { text, kind: 'mcp', tool: name, server: m[1], ...(mcpTool ? { mcpTool } : {}) } };
  }
  if (!TOOL_NAME_RE.test(name)) return fail(`"${name}" is not a tool name`);
  if (!(APPROVAL_BUILTIN_TOOLS as readonly string[]).includes(name)) {
    return fail(`unknown tool "${name}" (known: ${APPROVAL_BUILTIN_TOOLS.join(', ')}, or mcp__<server>__<tool>)`);
  }
  if (specifier === undefined || specifier === '*') return { ok: true, rule: { text, kind: 'tool', tool: name } };

  if (name === 'Bash') {
    const colon = specifier.indexOf(':*');
    if (colon !== -1 && colon !== specifier.length - 2) return fail('":*" (prefix match) may only end a Bash pattern');
    if (colon === 0) return fail('":*" needs a command prefix before it');
    return { ok: true, rule: { text, kind: 'bash', tool: 'Bash', pattern: specifier } };
  }
  if (name in PATH_FIELDS) return { ok: true, rule: { text, kind: 'path', tool: name, pattern: specifier } };
  if (name === 'WebFetch') {
    if (!specifier.startsWith('domain:')) return fail('WebFetch rules take "domain:<host>", as in WebFetch(domain:example.com)');
    const domain = specifier.slice('domain:'.length);
    if (!HOST_PATTERN_RE.test(domain)) {
      return fail(`"${domain}" is not a host name (lower case, optionally starting with "*."; not a URL)`);
    }
    return { ok: true, rule: { text, kind: 'domain', tool: 'WebFetch', domain } };
  }
  return fail(`${name} rules take no specifier; write just "${name}"`);
}

/** Parses every rule; all problems at once, each naming its rule. Duplicates are refused. */
export function parseApprovalRules(texts: readonly string[]): { ok: true; rules: ApprovalRule[] } | { ok: false; errors: string[] } {
  const rules: ApprovalRule[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const text of texts) {
    if (seen.has(text)) {
      errors.push(`rule ${JSON.stringify(text)}: is listed twice`);
      continue;
    }
    seen.add(text);
    const parsed = parseApprovalRule(text);
    if (parsed.ok) rules.push(parsed.rule);
    else errors.push(parsed.error);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, rules };
}

/**
 * How a rule's hook entry is filtered in the CLI's settings: `matcher` (tool names, a regex the
 * CLI anchors) and `if` (permission-rule syntax the CLI matches itself). `domain` marks rules
 * the CLI cannot judge (its `if` never fires for `WebFetch(domain:...)`): their hook runs on
 * every call of the tool and checks the host itself.
 */
export function hookFilter(rule: ApprovalRule): { matcher: string; if?: string; domain?: string } {
  switch (rule.kind) {
    case 'tool':
      return { matcher: rule.tool === 'Agent' || rule.tool === 'Task' ? 'Agent|Task' : rule.tool };
    case 'bash':
    case 'path':
      return { matcher: rule.tool, if: rule.text };
    case 'domain':
      return { matcher: 'WebFetch', domain: rule.domain };
    case 'mcp':
      return { matcher: rule.mcpTool ? rule.tool : `mcp__${rule.server}__.*` };
  }
}

/** A tool call as the agent made it. */
export interface ToolCall {
  toolName: string;
  input: unknown;
}

/** Whether a call falls under a rule. Errs on the side of "no" where the syntax is ambiguous. */
export function ruleMatches(rule: ApprovalRule, call: ToolCall, ctx: MatchContext): boolean {
  const input = typeof call.input === 'object' && call.input !== null ? (call.input as Record<string, unknown>) : {};
  switch (rule.kind) {
    case 'tool':
      return call.toolName === rule.tool || (isAgentTool(rule.tool) && isAgentTool(call.toolName));
    case 'mcp':
      return rule.mcpTool ? call.toolName === rule.tool : call.toolName.startsWith(`mcp__${rule.server}__`);
    case 'bash': {
      const command = input.command;
      return call.toolName === 'Bash' && typeof command === 'string' && bashMatches(rule.pattern, command);
    }
    case 'path': {
      const field = PATH_FIELDS[rule.tool];
      const file = field === undefined ? undefined : input[field];
      return call.toolName === rule.tool && typeof file === 'string' && pathMatches(rule.pattern, file, ctx);
    }
    case 'domain': {
      const host = typeof input.url === 'string' ? urlHost(input.url) : undefined;
      return call.toolName === 'WebFetch' && host !== undefined && domainMatches(rule.domain, host);
    }
  }
}

const isAgentTool = (name: string): boolean => name === 'Agent' || name === 'Task';

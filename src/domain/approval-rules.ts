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

/** Where paths in a call are resolved from: the agent's working directory and HOME. */
export interface MatchContext {
  cwd: string;
  home: string;
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

/**
 * `example.com` is that host; `*.example.com` is every host under it and the domain itself
 * (gating `*.example.com` but letting `example.com` through would surprise anyone).
 */
export function domainMatches(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (pattern.startsWith('*.')) {
    const base = pattern.slice(2);
    return h === base || h.endsWith(`.${base}`);
  }
  return h === pattern;
}

/** The host of an http(s) URL, lower-cased; undefined when it is not one. No URL class: workflow-safe. */
export function urlHost(url: string): string | undefined {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(url.trim());
  if (!m?.[1]) return undefined;
  const authority = m[1].slice(m[1].lastIndexOf('@') + 1);
  const host = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.replace(/:\d*$/, '');
  return host === '' ? undefined : host.toLowerCase().replace(/\.$/, '');
}

// --- Bash --------------------------------------------------------------------------------

/**
 * Bash patterns: `git push:*` (legacy prefix: the command or the command followed by
 * arguments), `git push *` (a trailing " *" also matches the bare command), `*` anywhere else
 * as a wildcard, and anything else exactly. Like the CLI, a compound command matches when any
 * of its simple commands does (`cd x && git push`), leading `VAR=value` assignments are
 * skipped and runs of spaces count as one. Unlike the CLI, commands built at run time
 * (`git $(echo push)`) do not match here: the CLI gates them anyway; ccflow just does not
 * attribute them to a rule.
 */
export function bashMatches(pattern: string, command: string): boolean {
  const re = bashPatternRegex(pattern);
  return simpleCommands(command).some((c) => re.test(c));
}

function bashPatternRegex(pattern: string): RegExp {
  const p = collapse(pattern);
  if (p.endsWith(':*')) return new RegExp(`^${escapeRe(p.slice(0, -2).trimEnd())}(?: .*)?$`, 's');
  let body = p;
  let tail = '';
  if (body.endsWith(' *')) {
    body = body.slice(0, -2);
    tail = '(?: .*)?';
  }
  return new RegExp(`^${body.split('*').map(escapeRe).join('.*')}${tail}$`, 's');
}

/** Splits a command line at unquoted `&& || ; | & ( ) $( \`` and line breaks into simple commands. */
export function simpleCommands(command: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  const flush = () => {
    const c = stripAssignments(collapse(cur));
    if (c !== '') parts.push(c);
    cur = '';
  };
  for (let i = 0; i < command.length; i++) {
    const ch = command[i] as string;
    if (quote) {
      cur += ch;
      if (ch === '\\' && quote === '"' && i + 1 < command.length) cur += command[++i];
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '\\' && i + 1 < command.length) {
      cur += ch + command[++i];
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
    } else if (';&|()\n`'.includes(ch) || (ch === '$' && command[i + 1] === '(')) {
      flush();
    } else {
      cur += ch;
    }
  }
  flush();
  return parts;
}

const collapse = (s: string): string => s.replace(/[ \t]+/g, ' ').trim();

function stripAssignments(c: string): string {
  let rest = c;
  for (;;) {
    const m = /^[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"(?:[^"\\]|\\.)*"|[^ '"]*) /.exec(rest);
    if (!m) return rest;
    rest = rest.slice(m[0].length);
  }
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// --- paths -------------------------------------------------------------------------------

/**
 * Path patterns in gitignore style, as the CLI reads them: `src/**` and `./src/**` are relative
 * to the working directory, `/src/**` to the project root (the working directory here),
 * `~/x` to HOME and `//etc/x` absolute; a pattern without a "/" matches that name at any
 * depth under the working directory. `*` stays within one path segment, `**` crosses them.
 */
export function pathMatches(pattern: string, file: string, ctx: MatchContext): boolean {
  const target = normalizePath(file.startsWith('/') ? file : `${ctx.cwd}/${file}`);
  if (target === undefined) return false;
  const cwd = normalizePath(ctx.cwd) ?? ctx.cwd;
  let absolute: string;
  if (pattern.startsWith('//')) absolute = pattern.slice(1);
  else if (pattern.startsWith('~/')) absolute = `${ctx.home}/${pattern.slice(2)}`;
  else if (pattern.startsWith('/')) absolute = `${cwd}${pattern}`;
  else if (pattern.startsWith('./')) absolute = `${cwd}/${pattern.slice(2)}`;
  else if (pattern.replace(/\/$/, '').includes('/')) absolute = `${cwd}/${pattern}`;
  else absolute = `${cwd}/**/${pattern}`;
  return globRegex(absolute).test(target);
}

/** Resolves `.` and `..` in an absolute POSIX path; undefined when `..` climbs above `/`. */
export function normalizePath(p: string): string | undefined {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return `/${out.join('/')}`;
}

function globRegex(glob: string): RegExp {
  const g = glob.replace(/\/+/g, '/');
  const dirOnly = g.endsWith('/');
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const ch = g[i] as string;
    if (ch === '*' && g[i + 1] === '*') {
      // `**/` is zero or more directories; a trailing `**` is everything below.
      if (g[i + 2] === '/') {
        re += '(?:[^/]*/)*';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += escapeRe(ch);
  }
  // A pattern naming a directory covers what is inside it, as in gitignore.
  if (dirOnly) return new RegExp(`^${re}.+$`, 's');
  return new RegExp(`^${re}(?:/.*)?$`, 's');
}

/**
 * The matchers behind `ruleMatches` (approval-rules.ts): Bash command patterns, gitignore-style
 * path patterns and WebFetch domains. Pure and workflow-safe, precise and conservative: ccflow
 * uses them to attribute a held call to rules, where matching too much would grant what
 * nobody saw. The in-sandbox hook repeats `urlHost` and `domainMatches` (a test holds them
 * to each other).
 */

/** Where paths in a call are resolved from: the agent's working directory and HOME. */
export interface MatchContext {
  cwd: string;
  home: string;
}

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

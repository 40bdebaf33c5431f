/**
 * Templates (`{{steps.plan.result.files}}`) and `when` conditions
 * (`steps.review.result.approved == false`) of pipeline steps. Pure and zod-free: the spec
 * validator parses them before anything runs, and the pipeline workflow renders and evaluates
 * them between steps.
 *
 * A reference is a path: a root (`steps` or `inputs`), then `.name`, `[0]` or `["odd key"]`
 * segments. A condition is references and literals (numbers, 'strings', "strings", true, false,
 * null) joined by `== != < <= > >=`, `&&`, `||`, `!` and parentheses.
 */

export type PathSegment = string | number;

/** A reference such as `steps.plan.result.files[0]`, as its segments. */
export interface Reference {
  segments: PathSegment[];
  /** As written (whitespace trimmed), for messages. */
  text: string;
}

export type Expr =
  | { kind: 'ref'; ref: Reference }
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'not'; operand: Expr }
  | { kind: 'and' | 'or'; left: Expr; right: Expr }
  | { kind: 'compare'; op: CompareOp; left: Expr; right: Expr };

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'ref'; ref: Reference };

/** Thrown for a template or condition that does not parse; the message says where. */
export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { t: 'ident'; v: string; at: number }
  | { t: 'num'; v: number; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'op'; v: string; at: number }
  | { t: 'end'; at: number };

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', '.'];

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w$-]/.test(src[j] as string)) j++;
      tokens.push({ t: 'ident', v: src.slice(i, j), at });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
      const text = m?.[0] ?? c;
      tokens.push({ t: 'num', v: Number(text), at });
      i += text.length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= src.length) throw new ExpressionError(`unterminated string starting at column ${at + 1}`);
        const d = src[j] as string;
        if (d === '\\' && j + 1 < src.length) {
          const e = src[j + 1] as string;
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
          continue;
        }
        if (d === c) break;
        value += d;
        j++;
      }
      tokens.push({ t: 'str', v: value, at });
      i = j + 1;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) {
      const hint = c === '=' ? ' (use == to compare)' : c === '&' || c === '|' ? ' (use && or ||)' : '';
      throw new ExpressionError(`unexpected "${c}" at column ${at + 1}${hint}`);
    }
    tokens.push({ t: 'op', v: op, at });
    i += op.length;
  }
  tokens.push({ t: 'end', at: src.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser (recursive descent)

class Parser {
  private pos = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  private peek(): Token {
    return this.tokens[this.pos] as Token;
  }
  private next(): Token {
    const tok = this.peek();
    if (tok.t !== 'end') this.pos++;
    return tok;
  }
  private isOp(v: string): boolean {
    const tok = this.peek();
    return tok.t === 'op' && tok.v === v;
  }
  private describe(tok: Token): string {
    if (tok.t === 'end') return 'the end';
    return `"${this.src.slice(tok.at, tok.at + 12).split(/\s/)[0]}" at column ${tok.at + 1}`;
  }

  parseExpression(): Expr {
    const expr = this.parseOr();
    const tok = this.peek();
    if (tok.t !== 'end') throw new ExpressionError(`unexpected ${this.describe(tok)}`);
    return expr;
  }

  parseReferenceOnly(): Reference {
    const tok = this.next();
    if (tok.t !== 'ident') throw new ExpressionError(`expected a reference such as steps.plan.result, found ${this.describe(tok)}`);
    const ref = this.parsePath(tok);
    const rest = this.peek();
    if (rest.t !== 'end') throw new ExpressionError(`unexpected ${this.describe(rest)} after the reference`);
    return ref;
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    while (this.isOp('||')) {
      this.next();
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expr {
    let left = this.parseNot();
    while (this.isOp('&&')) {
      this.next();
      left = { kind: 'and', left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): Expr {
    if (this.isOp('!')) {
      this.next();
      return { kind: 'not', operand: this.parseNot() };
    }
    return this.parseCompare();
  }

  private parseCompare(): Expr {
    const left = this.parsePrimary();
    const tok = this.peek();
    if (tok.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(tok.v)) {
      this.next();
      return { kind: 'compare', op: tok.v as CompareOp, left, right: this.parsePrimary() };
    }
    return left;
  }

  private parsePrimary(): Expr {
    const tok = this.next();
    if (tok.t === 'op' && tok.v === '(') {
      const inner = this.parseOr();
      if (!this.isOp(')')) throw new ExpressionError(`expected ")" but found ${this.describe(this.peek())}`);
      this.next();
      return inner;
    }
    if (tok.t === 'num') return { kind: 'literal', value: tok.v };
    if (tok.t === 'str') return { kind: 'literal', value: tok.v };
    if (tok.t === 'ident') {
      if (tok.v === 'true' || tok.v === 'false') return { kind: 'literal', value: tok.v === 'true' };
      if (tok.v === 'null') return { kind: 'literal', value: null };
      return { kind: 'ref', ref: this.parsePath(tok) };
    }
    throw new ExpressionError(`expected a value or a reference, found ${this.describe(tok)}`);
  }

  private parsePath(first: Token & { t: 'ident' }): Reference {
    const segments: PathSegment[] = [first.v];
    let end = first.at + first.v.length;
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const name = this.next();
        if (name.t !== 'ident') throw new ExpressionError(`expected a field name after "." at column ${name.at + 1}`);
        segments.push(name.v);
        end = name.at + name.v.length;
      } else if (this.isOp('[')) {
        this.next();
        const key = this.next();
        if (key.t === 'num' && Number.isInteger(key.v) && key.v >= 0) segments.push(key.v);
        else if (key.t === 'str') segments.push(key.v);
        else throw new ExpressionError(`expected an index or a quoted key inside [ ] at column ${key.at + 1}`);
        const close = this.next();
        if (close.t !== 'op' || close.v !== ']') throw new ExpressionError(`expected "]" at column ${close.at + 1}`);
        end = close.at + 1;
      } else {
        break;
      }
    }
    return { segments, text: this.src.slice(first.at, end) };
  }
}

/** Parses a `when` condition. */
export function parseCondition(src: string): Expr {
  if (src.trim() === '') throw new ExpressionError('the condition is empty');
  return new Parser(src, tokenize(src)).parseExpression();
}

/** Parses a bare reference (`steps.plan.result.files`). */
export function parseReference(src: string): Reference {
  return new Parser(src, tokenize(src)).parseReferenceOnly();
}

/** Splits a template into text and `{{ reference }}` parts. */
export function parseTemplate(src: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      parts.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: src.slice(i, open) });
    const close = src.indexOf('}}', open + 2);
    if (close < 0) throw new ExpressionError(`"{{" at offset ${open} is never closed with "}}"`);
    const inner = src.slice(open + 2, close);
    try {
      parts.push({ kind: 'ref', ref: parseReference(inner) });
    } catch (err) {
      throw new ExpressionError(`in {{${inner}}}: ${(err as Error).message}`);
    }
    i = close + 2;
  }
  return parts;
}

/** Every reference a condition mentions. */
export function conditionReferences(expr: Expr): Reference[] {
  switch (expr.kind) {
    case 'ref':
      return [expr.ref];
    case 'literal':
      return [];
    case 'not':
      return conditionReferences(expr.operand);
    default:
      return [...conditionReferences(expr.left), ...conditionReferences(expr.right)];
  }
}

/** Every reference a template mentions. */
export function templateReferences(parts: readonly TemplatePart[]): Reference[] {
  return parts.flatMap((p) => (p.kind === 'ref' ? [p.ref] : []));
}

/**
 * Evaluation of parsed templates and `when` conditions against earlier step results: pure,
 * deterministic, and the same in the spec validator and in the pipeline workflow.
 */
import { parseTemplate, type Expr, type Reference, type TemplatePart } from './parse.js';

/** Follows a reference into a plain JSON-like value; undefined when any segment is missing. */
export function resolveReference(ref: Reference, context: unknown): unknown {
  let value: unknown = context;
  for (const seg of ref.segments) {
    if (value === null || typeof value !== 'object') return undefined;
    if (Array.isArray(value)) {
      if (typeof seg !== 'number') return undefined;
      value = value[seg];
    } else {
      if (!Object.prototype.hasOwnProperty.call(value, String(seg))) return undefined;
      value = (value as Record<string, unknown>)[String(seg)];
    }
  }
  return value;
}

/** A value inside a prompt: strings as they are, anything else as JSON, missing as nothing. */
export function renderValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value, null, 2);
}

export function renderTemplate(parts: readonly TemplatePart[], context: unknown): string {
  return parts.map((p) => (p.kind === 'text' ? p.text : renderValue(resolveReference(p.ref, context)))).join('');
}

/** Parses and renders in one go. */
export function render(template: string, context: unknown): string {
  return renderTemplate(parseTemplate(template), context);
}

/**
 * Truthiness of a condition's value: false, null, missing, 0, "" and [] are false; anything
 * else is true.
 */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

/**
 * Equality of JSON values: structural, so `{"a":1,"b":2}` equals `{"b":2,"a":1}` (results come
 * from agents, which do not promise an order of keys).
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  return (
    keys.length === Object.keys(rb).length && keys.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && jsonEqual(ra[k], rb[k]))
  );
}

function value(expr: Expr, context: unknown): unknown {
  switch (expr.kind) {
    case 'ref':
      return resolveReference(expr.ref, context);
    case 'literal':
      return expr.value;
    case 'not':
      return !truthy(value(expr.operand, context));
    case 'and':
      return truthy(value(expr.left, context)) && truthy(value(expr.right, context));
    case 'or':
      return truthy(value(expr.left, context)) || truthy(value(expr.right, context));
    case 'compare': {
      const l = value(expr.left, context);
      const r = value(expr.right, context);
      switch (expr.op) {
        case '==':
          return jsonEqual(l, r);
        case '!=':
          return !jsonEqual(l, r);
        default: {
          // Ordering only between two numbers or two strings; anything else is false.
          const comparable = (typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string');
          if (!comparable) return false;
          const a = l as number | string;
          const b = r as number | string;
          return expr.op === '<' ? a < b : expr.op === '<=' ? a <= b : expr.op === '>' ? a > b : a >= b;
        }
      }
    }
  }
}

/** Evaluates a parsed condition to a boolean. */
export function evaluateCondition(expr: Expr, context: unknown): boolean {
  return truthy(value(expr, context));
}

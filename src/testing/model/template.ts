/**
 * Placeholders in script steps, filled from what the request holds. A model reads the result
 * of the tool it just called and uses it (the id a `start_task` returned, a count to repeat);
 * a script says so with `{{toolResult.<path>}}` instead of a constant it could not know.
 *
 * - `{{toolResult}}` is the text of the last `tool_result` block of the request (the answer to
 *   the tool the model called last), its blocks' text joined with newlines.
 * - `{{toolResult.a.b.0}}` parses that text as JSON and reads the path (object keys, array
 *   indexes).
 * - A string that is nothing but one placeholder takes the value's JSON type (a number stays a
 *   number); inside a longer string the value is written in place (objects as JSON).
 *
 * Placeholders are filled in `text` and anywhere inside `toolUse[].input`. One that cannot be
 * filled (no tool result, not JSON, no such path) is the script's mistake, reported as such.
 */
import { isObject } from './request.js';
import type { ScriptStep } from './script.js';

type Json = Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*toolResult((?:\.[^.\s{}]+)*)\s*\}\}/g;
const WHOLE = /^\{\{\s*toolResult((?:\.[^.\s{}]+)*)\s*\}\}$/;

/** Thrown for a placeholder the request cannot fill; the message says which and why. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    readonly placeholder: string,
    reason: string,
  ) {
    super(`${placeholder}: ${reason}`);
  }
}

function blockText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter(isObject)
    .map((b) => (b['type'] === 'text' && typeof b['text'] === 'string' ? b['text'] : ''))
    .filter((t) => t !== '')
    .join('\n');
}

/** Text of the last `tool_result` block in the request's messages, if there is one. */
export function lastToolResultText(body: unknown): string | undefined {
  if (!isObject(body) || !Array.isArray(body['messages'])) return undefined;
  let last: Json | undefined;
  for (const message of body['messages']) {
    if (!isObject(message) || !Array.isArray(message['content'])) continue;
    for (const block of message['content']) if (isObject(block) && block['type'] === 'tool_result') last = block;
  }
  return last ? blockText(last['content']) : undefined;
}

/** Whether a step holds any placeholder (most do not: they are played as written). */
export function hasPlaceholders(step: ScriptStep): boolean {
  const test = (s: string) => new RegExp(PLACEHOLDER.source).test(s);
  return (step.text !== undefined && test(step.text)) || (step.toolUse ?? []).some((t) => test(JSON.stringify(t.input)));
}

/** The step with every placeholder filled from the request; throws TemplateError. */
export function fillStep(step: ScriptStep, body: unknown): ScriptStep {
  if (!hasPlaceholders(step)) return step;
  const text = lastToolResultText(body);
  let parsed: { value: unknown } | undefined;
  const lookup = (placeholder: string, path: string): unknown => {
    if (text === undefined) throw new TemplateError(placeholder, 'the request holds no tool result');
    if (path === '') return text;
    if (!parsed) {
      try {
        parsed = { value: JSON.parse(text) as unknown };
      } catch {
        throw new TemplateError(placeholder, `the last tool result is not JSON: ${text.slice(0, 200)}`);
      }
    }
    let value = parsed.value;
    for (const key of path.slice(1).split('.')) {
      const next = Array.isArray(value) && /^\d+$/.test(key) ? value[Number(key)] : isObject(value) ? value[key] : undefined;
      if (next === undefined) throw new TemplateError(placeholder, `the last tool result has no "${path.slice(1)}": ${text.slice(0, 200)}`);
      value = next;
    }
    return value;
  };
  const fillString = (s: string): unknown => {
    const whole = WHOLE.exec(s);
    if (whole) return lookup(s, whole[1] ?? '');
    return s.replace(PLACEHOLDER, (match, path: string) => {
      const value = lookup(match, path);
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
  };
  const fill = (v: unknown): unknown => {
    if (typeof v === 'string') return fillString(v);
    if (Array.isArray(v)) return v.map(fill);
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
  };
  const filled: ScriptStep = { ...step };
  if (step.text !== undefined) {
    const t = fillString(step.text);
    filled.text = typeof t === 'string' ? t : JSON.stringify(t);
  }
  if (step.toolUse) filled.toolUse = step.toolUse.map((t) => ({ ...t, input: fill(t.input) as Json }));
  return filled;
}

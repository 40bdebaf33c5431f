import { z } from 'zod';
import { describeZodError } from './describe-error.js';

/**
 * Converts a user's result JSON Schema into a zod validator, once, at the edge. Throws an
 * Error naming the problem when the schema cannot be understood.
 */
export function compileResultSchema(schema: Record<string, unknown>): z.ZodType<Record<string, unknown>> {
  let compiled: z.ZodType;
  try {
    compiled = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    throw new Error(`resultSchema: not a usable JSON Schema (${(err as Error).message})`, { cause: err });
  }
  return compiled as z.ZodType<Record<string, unknown>>;
}

export type ResultCheck = { ok: true; value: Record<string, unknown> } | { ok: false; errors: string[] };

/** Validates a submitted result; errors are one line per bad field, ready to quote to the agent. */
export function checkResult(validator: z.ZodType<Record<string, unknown>>, value: unknown): ResultCheck {
  const parsed = validator.safeParse(value);
  if (parsed.success) {
    if (typeof parsed.data !== 'object' || parsed.data === null || Array.isArray(parsed.data)) {
      return { ok: false, errors: ['(result): must be a JSON object'] };
    }
    return { ok: true, value: parsed.data };
  }
  return { ok: false, errors: describeZodError(parsed.error).split('; ') };
}

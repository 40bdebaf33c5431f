/**
 * Requests of the controller's extension endpoints (`spawn`, `stop`), validated with seed 002's
 * rules and error texts, in its order: callers and UIs show these messages as they are.
 */
import { z } from 'zod';
import { AgentError } from './reply.js';
import { sanitizeToken } from './subjects.js';

export const SEED_PERMISSION_MODES = ['default', 'acceptEdits', 'bypassPermissions', 'plan', 'dontAsk', 'auto'] as const;
export type SeedPermissionMode = (typeof SEED_PERMISSION_MODES)[number];

/** What a spawn falls back to; seed 002's defaults unless the operator configures others. */
export interface SpawnDefaults {
  model: string;
  allowedTools: string[];
  permissionMode: SeedPermissionMode;
  maxTurns: number;
  maxLifetimeS: number;
}

export const SEED_SPAWN_DEFAULTS: SpawnDefaults = {
  model: 'claude-sonnet-4-6',
  allowedTools: ['Read', 'Glob', 'Grep'],
  permissionMode: 'dontAsk',
  maxTurns: 50,
  maxLifetimeS: 1800,
};

export interface SpawnSpec {
  /** As given; the controller resolves and checks it. */
  cwd: string;
  sessionId?: string;
  model: string;
  allowedTools: string[];
  permissionMode: SeedPermissionMode;
  maxTurns: number;
  /** 0: no limit. */
  maxLifetimeS: number;
  /** ccflow's extension `ask_tools`: rules whose calls wait for a person (see permission-rules.ts). */
  askTools?: string[];
}

const SESSION_ID_MESSAGE = 'session_id must be a non-empty string';
const MODEL_MESSAGE = 'model must be a non-empty string';
const TOOLS_MESSAGE = 'allowed_tools must be an array of strings';
const TOOL_ENTRY_MESSAGE = 'allowed_tools entries must be non-empty strings';
const TURNS_MESSAGE = 'max_turns must be a positive integer';
const LIFETIME_MESSAGE = 'max_lifetime_s must be a non-negative number';
const ASK_MESSAGE = 'ask_tools must be an array of non-empty strings';

/** Seed 002 reads numbers with `Number(v)`, so `"5"` is accepted; so is it here. */
const SpawnRequest = z.looseObject({
  cwd: z.string({ error: 'cwd is required' }).min(1, 'cwd is required'),
  session_id: z.string({ error: SESSION_ID_MESSAGE }).min(1, SESSION_ID_MESSAGE).optional(),
  model: z.string({ error: MODEL_MESSAGE }).min(1, MODEL_MESSAGE).optional(),
  allowed_tools: z
    .array(z.unknown(), { error: TOOLS_MESSAGE })
    .pipe(z.array(z.string({ error: TOOL_ENTRY_MESSAGE }).min(1, TOOL_ENTRY_MESSAGE)))
    .optional(),
  permission_mode: z
    .string()
    .refine((m): m is SeedPermissionMode => (SEED_PERMISSION_MODES as readonly string[]).includes(m))
    .optional(),
  max_turns: z.coerce.number({ error: TURNS_MESSAGE }).int(TURNS_MESSAGE).positive(TURNS_MESSAGE).optional(),
  max_lifetime_s: z.coerce
    .number({ error: LIFETIME_MESSAGE })
    .nonnegative(LIFETIME_MESSAGE)
    .refine(Number.isFinite, LIFETIME_MESSAGE)
    .optional(),
  // Not in seed 002: checked last, and the rules themselves by the task spec.
  ask_tools: z.array(z.string({ error: ASK_MESSAGE }).min(1, ASK_MESSAGE), { error: ASK_MESSAGE }).optional(),
});

/** The JSON body of a controller request; an empty body is `{}`. */
function parseJsonBody(data: Uint8Array): Record<string, unknown> {
  if (data.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw new AgentError(400, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

const FIELD_ORDER = ['cwd', 'session_id', 'model', 'allowed_tools', 'permission_mode', 'max_turns', 'max_lifetime_s', 'ask_tools'];

/** Parses a spawn request, or throws a 400 naming the first bad field in seed 002's order. */
export function parseSpawnRequest(data: Uint8Array, defaults: SpawnDefaults): SpawnSpec {
  const body = parseJsonBody(data);
  const problems: { field: string; message: string }[] = [];
  const sessionId = body['session_id'];
  if (typeof sessionId === 'string' && sessionId.length > 0) {
    const problem = sessionIdProblem(sessionId);
    if (problem) problems.push({ field: 'session_id', message: problem });
  }
  const parsed = SpawnRequest.safeParse(body);
  for (const issue of parsed.error?.issues ?? []) {
    const field = String(issue.path[0]);
    const message =
      field === 'permission_mode'
        ? `invalid permission_mode: ${String(body['permission_mode'])} (must be one of ${SEED_PERMISSION_MODES.join(', ')})`
        : issue.message;
    problems.push({ field, message });
  }
  problems.sort((a, b) => FIELD_ORDER.indexOf(a.field) - FIELD_ORDER.indexOf(b.field));
  const first = problems[0];
  if (first || !parsed.success) throw new AgentError(400, first?.message ?? 'invalid spawn request');
  const req = parsed.data;
  return {
    cwd: req.cwd,
    ...(req.session_id !== undefined ? { sessionId: req.session_id } : {}),
    model: req.model ?? defaults.model,
    allowedTools: req.allowed_tools ?? [...defaults.allowedTools],
    permissionMode: req.permission_mode ?? defaults.permissionMode,
    maxTurns: req.max_turns ?? defaults.maxTurns,
    maxLifetimeS: req.max_lifetime_s ?? defaults.maxLifetimeS,
    ...(req.ask_tools !== undefined && req.ask_tools.length > 0 ? { askTools: req.ask_tools } : {}),
  };
}

/** A session id becomes subject token 5, so it must already be a valid token. */
function sessionIdProblem(id: string): string | undefined {
  const safe = sanitizeToken(id);
  if (safe.length === 0) return 'session_id is empty after sanitization';
  if (safe !== id) return `session_id must match [a-z0-9_-]+ (suggested: ${safe})`;
  return undefined;
}

const StopRequest = z.looseObject({
  session_id: z.string({ error: 'session_id is required' }).min(1, 'session_id is required'),
});

export function parseStopRequest(data: Uint8Array): string {
  const parsed = StopRequest.safeParse(parseJsonBody(data));
  if (!parsed.success) throw new AgentError(400, 'session_id is required');
  return parsed.data.session_id;
}

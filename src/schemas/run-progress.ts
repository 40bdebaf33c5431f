import { z } from 'zod';

/**
 * Progress of one agent run, as heartbeat details: small, readable in Web UI's pending
 * activity view, and enough for a retried attempt to reattach (`pid`, `outputOffset`).
 */
export const RunProgress = z.object({
  sandboxId: z.string(),
  runDir: z.string(),
  pid: z.number().int().optional(),
  outputOffset: z.number().int().nonnegative(),
  sessionId: z.string().optional(),
  turns: z.number().int().nonnegative(),
  /** Cost reported so far by this process (final once the result line arrived). */
  costUsd: z.number().nonnegative(),
  lastTool: z.string().optional(),
  lastText: z.string().optional(),
  pendingTools: z.number().int().nonnegative(),
  resultServer: z.string().optional(),
  startedAt: z.number(),
  updatedAt: z.number(),
});
export type RunProgress = z.infer<typeof RunProgress>;

import { z } from 'zod';
import { PROVIDER_NAMES } from '../domain/constants.js';

/**
 * Which sandbox an activity works on. A module of its own so that every schema module can
 * name a sandbox without importing the activities' schemas (and what those import).
 */
export const ProviderNameSchema = z.enum(PROVIDER_NAMES);

export const SandboxRef = z.object({
  sandboxId: z.string(),
  provider: ProviderNameSchema,
});
export type SandboxRef = z.infer<typeof SandboxRef>;

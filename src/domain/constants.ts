/**
 * Names every part of ccflow agrees on, defined once: the worker polls these queues, the
 * workflows route activities with them, the client and the CLI start work on them, and the
 * sandbox providers and the E2B template use the same names.
 */

/** Where the Temporal frontend is, unless TEMPORAL_ADDRESS says otherwise. */
export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';

/** The task queue workers poll and clients start tasks on, unless CCFLOW_TASK_QUEUE says otherwise. */
export const DEFAULT_TASK_QUEUE = 'ccflow';

/**
 * The queue only one host's worker polls: activities on a sandbox that lives on that host (a
 * bubblewrap jail) are routed there.
 */
export function hostTaskQueueName(taskQueue: string, hostname: string): string {
  return `${taskQueue}@${hostname}`;
}

/** The sandbox providers a task may ask for. */
export const PROVIDER_NAMES = ['local', 'e2b'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export function isProviderName(value: string): value is ProviderName {
  return (PROVIDER_NAMES as readonly string[]).includes(value);
}

/** The E2B template sandboxes start from unless CCFLOW_E2B_TEMPLATE names another. */
export const DEFAULT_E2B_TEMPLATE = 'ccflow';

/** Built-in tools a task may use when it lists none: enough to read, write and run code. */
export const DEFAULT_ALLOWED_TOOLS = ['Bash', 'Read', 'Write', 'Edit', 'Glob', 'Grep', 'LS'] as const;

/** Label every ccflow sandbox carries (`owner`), so the sweeper only ever touches its own. */
export const SANDBOX_OWNER = 'ccflow';

/** Workflow type names, as the Temporal CLI and other SDKs start them. */
export const WORKFLOW_TYPES = { task: 'agentTask', pipeline: 'pipeline' } as const;

import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The search attributes every ccflow workflow keeps up to date, so runs can be filtered in
 * Temporal Web UI and by `ccflow list` (`CcflowStatus="failed"`, `CcflowCostUsd > 1`, ...).
 * Pure definitions: workflow code, the client and the server setup share them.
 */

/** What a task is doing, coarsely; the live phase is in the `status` query. */
export const TASK_STATES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const CcflowStatus = defineSearchAttributeKey('CcflowStatus', SearchAttributeType.KEYWORD);
/** The model the task asked for (`default` when it left the choice to the CLI). */
export const CcflowModel = defineSearchAttributeKey('CcflowModel', SearchAttributeType.KEYWORD);
/** Cost so far, summed over the task's agent runs. */
export const CcflowCostUsd = defineSearchAttributeKey('CcflowCostUsd', SearchAttributeType.DOUBLE);
/** Turns so far, summed over the task's agent runs. */
export const CcflowTurns = defineSearchAttributeKey('CcflowTurns', SearchAttributeType.INT);
/** The sandbox provider the task runs in (`local`, `e2b`). */
export const CcflowSandbox = defineSearchAttributeKey('CcflowSandbox', SearchAttributeType.KEYWORD);
/**
 * Who started the task, when a front end did: set by the client at start, e.g.
 * `nats:cc-headless.alice.control` for the sessions of one NATS controller, which finds its open
 * sessions again through it after a restart.
 */
export const CcflowOrigin = defineSearchAttributeKey('CcflowOrigin', SearchAttributeType.KEYWORD);

/** What a running task waits for (`approval`: a tool call held for a human); unset otherwise. */
export const CcflowWaiting = defineSearchAttributeKey('CcflowWaiting', SearchAttributeType.KEYWORD);
/** The value of CcflowWaiting while a tool call waits for a human. */
export const WAITING_APPROVAL = 'approval';
/** Set (true) on a task whose sandbox held the real model key: E2B without a model proxy URL. */
export const CcflowModelKeyInSandbox = defineSearchAttributeKey('CcflowModelKeyInSandbox', SearchAttributeType.BOOL);

export const CCFLOW_SEARCH_ATTRIBUTES = [
  CcflowStatus,
  CcflowModel,
  CcflowCostUsd,
  CcflowTurns,
  CcflowSandbox,
  CcflowOrigin,
  CcflowWaiting,
  CcflowModelKeyInSandbox,
] as const;

/** How the Temporal CLI names the types (`--search-attribute CcflowStatus=Keyword`). */
const CLI_TYPE_NAMES: Partial<Record<SearchAttributeType, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.BOOL]: 'Bool',
};

/** `Name=Type` pairs for `temporal server start-dev --search-attribute` and `temporal operator search-attribute create`. */
export function searchAttributeCliPairs(): string[] {
  return CCFLOW_SEARCH_ATTRIBUTES.map((k) => `${k.name}=${CLI_TYPE_NAMES[k.type] ?? k.type}`);
}

import { SearchAttributeType } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { CCFLOW_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

/** temporal.api.enums.v1.IndexedValueType: wire values of the Temporal API, fixed by its protos. */
const INDEXED_TYPES: Partial<Record<SearchAttributeType, number>> = {
  [SearchAttributeType.KEYWORD]: 2,
  [SearchAttributeType.INT]: 3,
  [SearchAttributeType.DOUBLE]: 4,
};

/** The operator calls this needs (a NativeConnection's or a client Connection's `operatorService`). */
export type SearchAttributeOperator = Pick<NativeConnection['operatorService'], 'listSearchAttributes' | 'addSearchAttributes'>;

/**
 * Registers ccflow's search attributes in a namespace, if missing: workflows upsert them, and
 * an upsert of an unregistered attribute fails the workflow task. Returns the names it added.
 * Needs operator permission; where a worker has none, register them once with
 * `temporal operator search-attribute create --name CcflowStatus --type Keyword` (and the others).
 */
export async function ensureSearchAttributes(operator: SearchAttributeOperator, namespace: string): Promise<string[]> {
  const existing = await operator.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  const missing = CCFLOW_SEARCH_ATTRIBUTES.filter((k) => !known.has(k.name));
  if (missing.length === 0) return [];
  await operator.addSearchAttributes({ namespace, searchAttributes: indexedSearchAttributes(missing) });
  return missing.map((k) => k.name);
}

/** ccflow's search attributes as `addSearchAttributes` takes them (name → indexed value type). */
export function indexedSearchAttributes(
  keys: readonly { name: string; type: SearchAttributeType }[] = CCFLOW_SEARCH_ATTRIBUTES,
): Record<string, number> {
  const searchAttributes: Record<string, number> = {};
  for (const k of keys) {
    const type = INDEXED_TYPES[k.type];
    if (type === undefined) throw new Error(`no indexed value type for search attribute ${k.name} (${k.type})`);
    searchAttributes[k.name] = type;
  }
  return searchAttributes;
}

/**
 * Directory names for a task's artifacts. The mapping from (namespace, workflow id) to a path
 * must be injective: two tasks that share a directory would read each other's transcripts and
 * restore each other's sessions. Percent-encoding with a small safe alphabet is injective by
 * construction (`%` itself is encoded); a leading dot is encoded so no name is `.`, `..` or
 * hidden; names too long for a path component keep a prefix and a hash of the whole id, marked
 * with `~`, which the encoding never produces otherwise.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

const SAFE = /[A-Za-z0-9_.@=-]/;
/** ext4 and most filesystems allow 255 bytes per component; stay well below. */
const MAX_COMPONENT = 200;

export function encodeComponent(id: string): string {
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch) && !(out === '' && ch === '.')) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out === '') return '%00';
  if (out.length <= MAX_COMPONENT) return out;
  const digest = createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 32);
  return `${out.slice(0, MAX_COMPONENT - 33)}~${digest}`;
}

/** `<namespace>/<workflow id>`, each encoded: tasks of two namespaces never share a directory. */
export function taskDirName(namespace: string, workflowId: string): string {
  return path.join(encodeComponent(namespace), encodeComponent(workflowId));
}

/** Joins `rel` under `root` and refuses anything that would land outside it. */
export function insideRoot(root: string, ...rel: string[]): string {
  const base = path.resolve(root);
  const p = path.resolve(base, ...rel);
  if (p !== base && !p.startsWith(`${base}${path.sep}`)) throw new Error(`path ${rel.join('/')} leaves ${base}`);
  return p;
}

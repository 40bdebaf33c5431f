import type { z } from 'zod';

/** One line per problem, each naming the field, e.g. `resultSchema: must be a JSON Schema object`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? formatPath(issue.path) : '(input)';
      if (issue.code === 'unrecognized_keys') {
        return `${issue.keys.map((k) => formatPath([...issue.path, k])).join(', ')}: unknown field`;
      }
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

/** `a.b[0]["odd key"]`: a path a person can paste. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((seg, i) => {
      if (typeof seg === 'number') return `[${seg}]`;
      const name = String(seg);
      if (/^[A-Za-z_$][\w$]*$/.test(name)) return i === 0 ? name : `.${name}`;
      return `[${JSON.stringify(name)}]`;
    })
    .join('');
}

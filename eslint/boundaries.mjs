/**
 * The architecture's walls as a lint rule: which folder of src/ may import which, and which
 * packages. The table mirrors "Our boundaries" in the house style; docs/ARCHITECTURE.md
 * explains it. A folder's unit is its first level under src/ (sandbox/local and sandbox/e2b
 * are units of their own); files straight under src/ are the unit "root".
 */
import { builtinModules } from 'node:module';
import path from 'node:path';

const SRC = path.resolve(import.meta.dirname, '..', 'src');
const NODE = new RegExp(`^(node:|(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})(/|$))`);
const ANY = /./;

/**
 * Per unit: `units` it may import values from, `types` it may import types only from,
 * `files` single files it may import besides, and packages it must not import (`deny`) or
 * may only import (`only`). A unit always may import itself.
 */
export const BOUNDARIES = {
  workflows: { units: ['domain'], types: ['activities', 'schemas'], only: [/^@temporalio\/(workflow|common)$/] },
  domain: { units: [], only: [] },
  schemas: { units: ['domain'], only: [/^zod$/] },
  activities: {
    units: ['claude', 'sandbox', 'domain', 'schemas', 'git'],
    types: ['artifacts', 'proxy'],
    // The store's errors are part of its interface: activities classify them into failures.
    files: ['artifacts/errors.ts'],
    deny: [/^@temporalio\/(workflow|client|worker)$/, /^e2b$/],
    noProcessEnv: true,
  },
  sandbox: { units: ['domain'], deny: [/^@temporalio\//, /^e2b$/] },
  'sandbox/local': { units: ['sandbox', 'domain'], deny: [/^@temporalio\//, /^e2b$/] },
  'sandbox/e2b': { units: ['sandbox', 'domain'], deny: [/^@temporalio\//] },
  claude: { units: ['domain', 'schemas', 'sandbox'], deny: [/^@temporalio\//] },
  artifacts: { units: [], deny: [/^@temporalio\//] },
  // git on a host (the worker's, or the user's for diff/apply/checkout): Node and pure helpers.
  git: { units: ['domain'], deny: [/^@temporalio\//, /^e2b$/] },
  proxy: { units: ['domain'], deny: [/^@temporalio\//, /^e2b$/] },
  client: {
    // git and artifacts: a task's change is read from its artifacts and applied with local git;
    // artifacts and root also serve a task's saved transcripts, which claude/transcript.ts renders.
    units: ['schemas', 'domain', 'git', 'artifacts', 'root'],
    files: ['workflows/messages.ts', 'workflows/search-attributes.ts', 'claude/transcript.ts'],
    deny: [/^@temporalio\/(worker|activity)$/, /^e2b$/],
  },
  testing: {
    units: ['schemas', 'domain', 'root', 'client'],
    files: ['workflows/search-attributes.ts', 'worker/index.ts'],
    deny: [/^e2b$/],
  },
  // Front ends drive sessions from outside: through the client library and their own transport
  // (@nats-io/*, an MCP SDK), never activities, providers, the worker or Temporal directly.
  root: { units: [], deny: [/^@temporalio\//] },
  // Ways to drive ccflow from outside (MCP, NATS): the client and the wire shapes, and their
  // own transport; never activities, providers or the worker.
  frontends: { units: ['client', 'schemas', 'domain'], deny: [/^@temporalio\//, /^e2b$/] },
  // The composition roots wire everything together.
  worker: { units: ANY },
  cli: { units: ANY },
};

function unitOf(file) {
  const rel = path.relative(SRC, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(path.sep);
  if (parts.length === 1) return 'root';
  if (parts[0] === 'sandbox' && parts.length > 2) return `sandbox/${parts[1]}`;
  return parts[0];
}

function resolveTs(from, spec) {
  return path.resolve(path.dirname(from), spec).replace(/\.js$/, '.ts');
}

const rule = {
  meta: { type: 'problem', schema: [], docs: { description: 'Keeps each src/ folder to the imports the architecture allows.' } },
  create(context) {
    const file = context.filename;
    const unit = unitOf(file);
    const table = unit && BOUNDARIES[unit];
    if (!table) return {};
    const check = (node, spec, typeOnly) => {
      if (typeof spec !== 'string') return;
      if (spec.startsWith('.')) {
        const target = resolveTs(file, spec);
        const to = unitOf(target);
        if (!to || to === unit) return;
        const relTarget = path.relative(SRC, target).split(path.sep).join('/');
        const allowed =
          table.units === ANY ||
          table.units.includes(to) ||
          (typeOnly && (table.types ?? []).includes(to)) ||
          (table.files ?? []).includes(relTarget);
        if (!allowed) {
          const how = (table.types ?? []).includes(to) ? ' except as `import type`' : '';
          context.report({ node, message: `src/${unit} must not import src/${relTarget}${how} (see docs/ARCHITECTURE.md)` });
        }
        return;
      }
      if (typeOnly) return;
      const isNode = NODE.test(spec);
      if (table.only && (isNode || !table.only.some((re) => re.test(spec)))) {
        context.report({
          node,
          message: `src/${unit} must not import "${spec}": it may only import ${table.only.map(String).join(', ') || 'its own modules'}`,
        });
      } else if ((table.deny ?? []).some((re) => re.test(spec))) {
        context.report({ node, message: `src/${unit} must not import "${spec}" (see docs/ARCHITECTURE.md)` });
      }
    };
    const typeOnly = (node) =>
      node.importKind === 'type' || (node.specifiers?.length > 0 && node.specifiers.every((s) => s.importKind === 'type'));
    return {
      ImportDeclaration: (node) => check(node, node.source.value, typeOnly(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, node.exportKind === 'type'),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value, false),
      MemberExpression: (node) => {
        if (table.noProcessEnv && node.object.type === 'Identifier' && node.object.name === 'process' && node.property.name === 'env') {
          context.report({ node, message: `src/${unit} gets its configuration injected; it must not read process.env` });
        }
      },
    };
  },
};

export default { rules: { imports: rule } };

import { ChangesError, CcflowClient } from '../../client/index.js';
import { defaultIo, type Io } from '../output.js';

/**
 * The commands that give a task's change back: diff, apply, checkout. They read the task's
 * artifacts (where its result says, or --artifacts) and use this machine's git; the worker's
 * credentials are never involved.
 */

export interface ChangesCommandOpts {
  artifacts?: string;
}

async function withClient<T>(fn: (c: CcflowClient) => Promise<T>): Promise<T> {
  const client = await CcflowClient.connect();
  try {
    return await fn(client);
  } finally {
    await client.disconnect();
  }
}

const where = (o: ChangesCommandOpts) => (o.artifacts ? { artifactsDir: o.artifacts } : {});

/** `ccflow diff <id> [--turn N] [--stat]`: the patch on stdout. */
export async function diffCommand(
  id: string,
  o: ChangesCommandOpts & { turn?: number; stat?: boolean },
  io: Io = defaultIo,
): Promise<number> {
  const text = await withClient((c) =>
    c.diff(id, { ...where(o), ...(o.turn !== undefined ? { turn: o.turn } : {}), stat: o.stat ?? false }),
  );
  if (text === '') {
    io.stderr.write(`${id} changed nothing${o.turn !== undefined ? ` in turn ${o.turn}` : ''}\n`);
    return 0;
  }
  io.stdout.write(text);
  return 0;
}

/** `ccflow apply <id> [--dir <checkout>]`: applies the change, 3-way; conflicts exit 1 naming the files. */
export async function applyCommand(id: string, o: ChangesCommandOpts & { dir?: string }, io: Io = defaultIo): Promise<number> {
  try {
    const applied = await withClient((c) => c.apply(id, { ...where(o), dir: o.dir ?? process.cwd() }));
    if (applied.files.length === 0) io.stderr.write(`${id} changed nothing: there was nothing to apply\n`);
    else
      io.stdout.write(
        `applied ${id} to ${applied.dir}: ${applied.files.length} file${applied.files.length === 1 ? '' : 's'} changed and staged\n`,
      );
    return 0;
  } catch (err) {
    if (err instanceof ChangesError && err.reason === 'conflict') {
      io.stderr.write(`ccflow: ${err.message}\n`);
      for (const p of err.paths) io.stdout.write(`conflict: ${p}\n`);
      return 1;
    }
    throw err;
  }
}

/** `ccflow checkout <id> <dir>`: the final tree as a new checkout on the task's branch. */
export async function checkoutCommand(id: string, dir: string, o: ChangesCommandOpts, io: Io = defaultIo): Promise<number> {
  const out = await withClient((c) => c.checkout(id, dir, where(o)));
  io.stdout.write(
    `checked out ${id} in ${out.dir}: branch ${out.branch} at ${out.headCommit.slice(0, 12)} ` +
      `(base ${out.baseCommit.slice(0, 12)}; git diff refs/ccflow/base shows the change)\n`,
  );
  return 0;
}

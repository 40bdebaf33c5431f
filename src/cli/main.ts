import { CommanderError } from 'commander';
import { EXIT, describeCliError } from './errors.js';
import { defaultIo } from './output.js';
import { buildProgram } from './program.js';

/**
 * The `ccflow` command (bin/ccflow.js runs the build of this file). Errors are one line on
 * stderr, without a stack trace, and the exit code says what kind (see EXIT in errors.ts).
 */
async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const io = defaultIo;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { message, code: exit } = describeCliError(err);
    io.stderr.write(`ccflow: ${message}\n`);
    return exit;
  }
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ccflow: ${describeCliError(err).message}\n`);
    process.exit(EXIT.failed);
  },
);

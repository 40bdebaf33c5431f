import { UsageError, main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`ccflow: ${err.message}`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  },
);

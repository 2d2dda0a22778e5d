// The command line of the repository's own tools (bench/, scripts/, the measurement programs in */testdata/):
// node:util parseArgs, strict, plus what every command owes the person running it. `-h, --help` prints the
// usage and exits 0. A wrong option or argument prints the reason and the usage and exits 2 — never a stack
// trace, and never a run with the argument ignored (`scripts/gen-pg-catalog.ts --help` used to rewrite
// policy/pg-catalog.ts, `scripts/run-tests.ts --help` to run the tests).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Parsed<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/**
 * Parses process.argv as `config` says (strict; `help` is added). `usage` is the whole help text, ending
 * with a newline: the command line, what it does, its options.
 */
export function toolArgs<const T extends ParseArgsConfig>(usage: string, config: T): Parsed<T> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      ...config,
      strict: true,
      options: { ...config.options, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    return usageError(usage, (e as Error).message);
  }
  if (parsed.values['help'] === true) {
    process.stdout.write(usage);
    process.exit(0);
  }
  return parsed as Parsed<T>;
}

/** A wrong argument the parser could not see (a count, a missing file): the reason and the usage, exit 2. */
export function usageError(usage: string, reason: string): never {
  process.stderr.write(`${reason}\n\n${usage}`);
  process.exit(2);
}

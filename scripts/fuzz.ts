// The fuzzers with a larger budget than `npm test` runs: the wire decoder and session (test/proxy/fuzz.test.ts)
// and the analyzer, gate and decision cache (test/fuzz/analyzer.test.ts), through scripts/run-tests.ts (one
// throwaway PostgreSQL).
//
//   sh scripts/node24.sh scripts/fuzz.ts [--runs N] [--seed N]
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `usage: scripts/fuzz.ts [--runs N] [--seed N]

Runs the fuzz properties with every budget multiplied by N: random and structured protocol messages
(no crash, nothing written, nothing the analyzer did not understand reaching PostgreSQL, the session
usable), hostile sizes and counts (65535 parameters, 60 MiB claimed lengths, 1 MiB statements of deep
nesting or long operator runs: bounded time and memory), and the decision cache (a shape-cached verdict
equals a fresh one).

  --runs N    budget multiplier (default 20; npm test runs 1)
  --seed N    fast-check seed, to repeat a run (default: random, printed by fast-check on failure)
  -h, --help  this text`;

let args;
try {
  args = parseArgs({
    options: { runs: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  }).values;
} catch (e) {
  console.error(`${e instanceof Error ? e.message : String(e)}\n\n${HELP}`);
  process.exit(2);
}
if (args.help === true) {
  console.log(HELP);
  process.exit(0);
}
const runs = Number(args.runs ?? '20');
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, got "${args.runs}"`);
  process.exit(2);
}
if (args.seed !== undefined && !/^-?\d+$/.test(args.seed)) {
  console.error(`--seed must be an integer, got "${args.seed}"`);
  process.exit(2);
}

const root = resolve(import.meta.dirname, '..');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  AIRLOCK_FUZZ_RUNS: String(runs),
  // Each property's time grows with the budget; keep the per-test timeout ahead of it.
  AIRLOCK_TEST_TIMEOUT_MS: String(Math.max(180_000, runs * 60_000)),
};
if (args.seed !== undefined) env.AIRLOCK_FUZZ_SEED = args.seed;
const child = spawn(
  process.execPath,
  ['scripts/run-tests.ts', 'test/proxy/fuzz.test.ts', 'test/fuzz/analyzer.test.ts'],
  { cwd: root, stdio: 'inherit', env },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));

// The privilege oracle with a longer budget than `npm test` runs (test/oracle/oracle.ts says how it
// judges). Starts its own throwaway PostgreSQL unless AIRLOCK_TEST_PG names one.
//
//   sh scripts/node24.sh scripts/oracle.ts [--policies N] [--runs N] [--seed N] [--all]
import { parseArgs } from 'node:util';
import { report, runBudget, startOracle } from '../test/oracle/oracle.ts';

const HELP = `usage: scripts/oracle.ts [--policies N] [--runs N] [--seed N] [--all]

Runs generated SQL through Airlock (local mode, the binding logged in as a superuser) and directly as a
role holding exactly the GRANTs equivalent to a random allow-only policy, and reports every statement
Airlock allowed that PostgreSQL refused for privileges (42501), and every masked value that reached the
client. Known classes are tagged [known: …]. Exit status 1 when a finding of an unknown class remains.

  --policies N   random policies to try (default 20)
  --runs N       statements per policy (default 500)
  --seed N       fast-check seed (default: random; printed, so a run can be repeated)
  --all          list every finding, not one example per class
  -h, --help     this text`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      policies: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string' },
      all: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (e) {
  console.error(`${e instanceof Error ? e.message : String(e)}\n\n${HELP}`);
  process.exit(2);
}
if (args.help === true) {
  console.log(HELP);
  process.exit(0);
}
const budget = {
  policies: positive('policies', args.policies, 20),
  statements: positive('runs', args.runs, 500),
  seed: positive('seed', args.seed, Math.floor(Math.random() * 2 ** 31)),
};
console.log(`oracle: ${budget.policies} policies × ${budget.statements} statements, seed ${budget.seed}`);
const started = Date.now();
const o = await startOracle();
let code = 0;
try {
  let last = 0;
  const s = await runBudget(o, budget, (done, total) => {
    if (Date.now() - last > 10_000) {
      last = Date.now();
      console.log(`oracle: ${done}/${total}`);
    }
  });
  console.log(report(s));
  if (args.all === true) {
    for (const f of s.findings)
      console.log(
        `${f.verdict}${f.known === null ? '' : ` [${f.known}]`}: ${f.sql.replace(/\n/g, '\\n')} → ${f.direct.code} ${f.direct.message}`,
      );
  }
  const unknown = s.findings.filter((f) => f.known === null);
  console.log(
    `oracle: ${unknown.length} findings of unknown classes, ${s.findings.length - unknown.length} of known ones; ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  if (unknown.length > 0) code = 1;
} finally {
  await o.stop();
}
process.exit(code);

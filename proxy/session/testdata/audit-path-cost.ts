// CPU and allocation of the audit path a session runs per statement, without spool or export: statementRecord
// (proxy/session/audit-record.ts) into one reused record, then LeanEncoder.statement, a pgbench -S statement
// on an unqualified table. Count young-generation collections with the sidecar's semi-space:
//   sh scripts/node24.sh --max-semi-space-size=1 --trace-gc proxy/session/testdata/audit-path-cost.ts [spans] | grep -c Scavenge
// Measured in docs/performance.md ("Per-statement allocations on the audit path").
import { NO_MASKS, type Decision, type StatementFacts } from '../../../policy/types.ts';
import { newStatementRecord, statementRecord } from '../audit-record.ts';
import { run } from '../requests.ts';
import { LeanEncoder } from '../../../audit/lean-span.ts';
import { session } from '../../../audit/testdata/records.ts';
import { toolArgs, usageError } from '../../../test/support/tool-args.ts';

const facts: StatementFacts = {
  tag: 'SelectStmt',
  command: 'SELECT',
  accesses: [{ operation: 'SELECT', relation: { schema: null, name: 'pgbench_accounts' }, kind: 'relation' }],
  unsupported: [],
  effects: [],
  unfilteredWrite: false,
  writes: false,
  outputs: [],
  copyTo: null,
  transaction: false,
  executes: null,
  prepares: null,
};
const d: Decision = {
  verdict: 'allow',
  policy: 'bench',
  rule: 'read',
  masks: NO_MASKS,
  wouldDeny: [],
  guardrails: { maxAffectedRows: null, policy: null },
};
const SID = '0123456789abcdef';
const enc = new LeanEncoder({ serviceName: 'airlock', scopeName: 'airlock', maxQueryTextBytes: 4096, log: () => {} });
enc.sessionStarted(session(SID));
const slot = newStatementRecord();
const searchPath = ['public'];
const T0 = 1_765_000_000_000;

// One Run for every statement: the session makes one per statement whether audit is on or off, so it is left out.
const rn = run(facts, d, T0, 'SELECT abalance FROM pgbench_accounts WHERE aid = $1');
rn.rows = 1;

function one(i: number): void {
  enc.statement(statementRecord(SID, rn, d, null, T0 + 0.2 + i * 0.1, searchPath[0], slot));
  if (enc.count >= 2048) enc.recycle(enc.take()); // the sink takes a batch every 2048 spans (PROXY_BATCH_SIZE)
}

const USAGE = `usage: sh scripts/node24.sh [--max-semi-space-size=1 --trace-gc] proxy/session/testdata/audit-path-cost.ts [SPANS]

CPU per span of the audit path a session runs per statement (statementRecord, then LeanEncoder.statement),
without spool or export; SPANS defaults to 2000000.

  -h, --help   this text
`;
const { positionals } = toolArgs(USAGE, { allowPositionals: true });
const N = Number(positionals[0] ?? 2_000_000);
if (positionals.length > 1 || !Number.isInteger(N) || N <= 0) usageError(USAGE, 'SPANS must be one positive integer');
for (let i = 0; i < 200_000; i++) one(i); // warm-up: optimized code before measuring
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) one(i);
const c = process.cpuUsage(c0);
console.log(`${N} spans: CPU ${(((c.user + c.system) * 1000) / N).toFixed(0)} ns per span`);

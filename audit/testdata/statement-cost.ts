// Measures what a session pays per statement() call (the hot path) and what the background flush spends per
// record (encode + spool write + fdatasync), with no collector (endpoint null). Run:
//   sh scripts/node24.sh audit/testdata/statement-cost.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditSink } from '../index.ts';
import { session, statement } from './records.ts';
import { toolArgs } from '../../test/support/tool-args.ts';

toolArgs(
  `usage: sh scripts/node24.sh audit/testdata/statement-cost.ts

What a session pays per statement() call and what the background flush spends per record (no collector).

  -h, --help   this text
`,
  {},
);

const N = 200_000;
const sink = await createAuditSink({
  endpoint: null,
  protocol: 'grpc',
  spoolDir: mkdtempSync(join(tmpdir(), 'airlock-cost-')),
  onFailure: 'drop-oldest',
  flushIntervalMs: 1_000_000,
  batchSize: N * 2, // no flush during the hot-path loop
});
sink.sessionStarted(session('0123456789abcdef'));
const records = Array.from({ length: 1000 }, (_, i) => statement('0123456789abcdef', i));
for (let round = 0; round < 3; round++) {
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink.statement(records[i % 1000]!);
  const hot = Number(process.hrtime.bigint() - t) / N;
  const cpu = process.cpuUsage();
  t = process.hrtime.bigint();
  await sink.flush();
  const flushNs = Number(process.hrtime.bigint() - t) / N;
  const c = process.cpuUsage(cpu);
  console.log(
    `round ${round}: statement() ${hot.toFixed(0)} ns/call; flush (encode + write + fdatasync) ${flushNs.toFixed(0)} ns/record wall, ${(((c.user + c.system) * 1000) / N).toFixed(0)} ns/record CPU`,
  );
}
await sink.close();

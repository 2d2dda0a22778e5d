// CPU per span of the parts a spool format change would remove or add (docs/performance.md, issue 16 session
// 6), measured alone on real lean spans, 2048 a batch: writing the span (its per-frame CRC included), that
// CRC alone, one CRC over the whole batch instead, a view per payload, the copy of each span into the request,
// one copy of the whole batch instead. Run: sh scripts/node24.sh audit/testdata/frame-parts-cost.ts
import { crc32 } from 'node:zlib';
import { LeanEncoder } from '../lean-span.ts';
import { exportRequest } from '../otlp.ts';
import { FRAME_HEADER_BYTES, parseFrames } from '../spool.ts';
import type { StatementRecord } from '../types.ts';
import { session } from './records.ts';
import { toolArgs } from '../../test/support/tool-args.ts';

toolArgs(
  `usage: sh scripts/node24.sh audit/testdata/frame-parts-cost.ts

CPU per span of the parts a spool format change would remove or add, measured alone on real lean spans.

  -h, --help   this text
`,
  {},
);

const SID = '0123456789abcdef';
const enc = new LeanEncoder({
  serviceName: 'airlock-proxy',
  scopeName: 'airlock.dev/audit',
  maxQueryTextBytes: 16384,
  log: () => {},
});
enc.sessionStarted(session(SID));
/** As sink-cost.ts makes them: pgbench -S's statement. */
const record = (i: number): StatementRecord => ({
  sessionId: SID,
  startTimeMs: Date.now(),
  durationMs: 0.2,
  operation: 'SELECT',
  collection: 'public.pgbench_accounts',
  queryText: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1',
  statusCode: null,
  decision: 'allow',
  policy: 'bench',
  rule: 'read',
  reason: null,
  maskedColumns: [],
  rows: 1 + (i & 1),
  accessRequest: null,
  rolledBack: false,
});
const B = 2048;
const ROUNDS = 200;
/** Process CPU µs per span of f, which handles one batch. */
function cpu(f: () => void): number {
  for (let i = 0; i < 20; i++) f();
  const c0 = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / ROUNDS / B;
}

const write = cpu(() => {
  for (let i = 0; i < B; i++) enc.statement(record(i));
  enc.recycle(enc.take());
});
for (let i = 0; i < B; i++) enc.statement(record(i));
const frames = Buffer.from(enc.take());
const payloads = parseFrames(frames, 0).payloads;
const into = Buffer.allocUnsafe(4 << 20);
const results = {
  'write the span (its CRC included)': write,
  'zlib.crc32 per frame': cpu(() => {
    for (const p of payloads) crc32(p);
  }),
  'one zlib.crc32 of the batch': cpu(() => {
    crc32(frames);
  }),
  'a view per payload': cpu(() => {
    const out: Buffer[] = [];
    for (let at = 0; at < frames.length; ) {
      const end = at + FRAME_HEADER_BYTES + frames.readUInt32LE(at);
      out.push(frames.subarray(at + FRAME_HEADER_BYTES, end));
      at = end;
    }
  }),
  'exportRequest (each span copied behind 0x12 len)': cpu(() => {
    exportRequest(enc.envelope, payloads, 1, into);
  }),
  'one copy of the batch': cpu(() => {
    frames.copy(into, 0);
  }),
};
console.log(`${B} spans a batch, ${(frames.length / B).toFixed(0)} bytes a frame on average; CPU µs per span:`);
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(50)} ${v.toFixed(3)}`);

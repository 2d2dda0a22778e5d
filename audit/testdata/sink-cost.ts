// Process CPU the audit path adds per statement span, end to end (record → span → spool write + fdatasync →
// OTLP/HTTP export to a receiver in another process), against the same loop with audit off. Run:
//   sh scripts/node24.sh audit/testdata/sink-cost.ts [--spans 200000] [--rate 20000] [--encoder lean|worker] [--batch 2048] [--no-export] [--fresh-records]
// Records are passed the way a session passes them (one record refilled for every statement; a fresh object
// per statement with --fresh-records, as before) at a steady pace of `--rate` per second, so batches age as
// they do under pgbench. Quiet machines only give stable numbers;
// on a loaded one compare runs made back to back.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_BATCH_SIZE } from '../index.ts';
import { openAuditSink } from '../sink.ts';
import { NULL_AUDIT, type AuditSink, type StatementRecord } from '../types.ts';
import { toolArgs } from '../../test/support/tool-args.ts';
import { session } from './records.ts';

const USAGE = `usage: sh scripts/node24.sh audit/testdata/sink-cost.ts [options]

Process CPU the audit path adds per statement span, end to end (record, span, spool write + fdatasync, OTLP/HTTP
export to a receiver in another process), against the same loop with audit off.

  --spans N          spans to record (default 200000)
  --rate N           spans per second (default 20000)
  --encoder E        lean or worker (default lean)
  --batch N          spans per spool write and export request (default: the proxy's)
  --no-export        no collector: spool only
  --fresh-records    a new record object per statement instead of one refilled record
  -h, --help         this text
`;
const { values: opt } = toolArgs(USAGE, {
  options: {
    spans: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '20000' },
    encoder: { type: 'string', default: 'lean' },
    'no-export': { type: 'boolean', default: false },
    'fresh-records': { type: 'boolean', default: false },
    batch: { type: 'string', default: String(PROXY_BATCH_SIZE) }, // the proxy's
  },
});
const N = Number(opt.spans);
const RATE = Number(opt.rate);

const rx = spawn(
  process.execPath,
  [
    '-e',
    `
  const http = require('node:http');
  let n = 0;
  const s = http.createServer((q, r) => { q.resume(); q.on('end', () => { n++; if (n % 10 === 0) process.stdout.write('requests ' + n + ';'); r.writeHead(200, { 'content-type': 'application/x-protobuf' }); r.end(); }); });
  s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise<string>((resolve) =>
  rx.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
);
let requests = 0;
rx.stdout.on('data', (d: Buffer) => {
  const m = /requests (\d+);$/.exec(d.toString());
  if (m !== null) requests = Number(m[1]);
});

const SID = '0123456789abcdef';
function record(i: number): StatementRecord {
  return {
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
  };
}

/** The record refilled for every statement, as proxy/session/backend.ts auditRun does (AuditSink.statement). */
const slot: { -readonly [K in keyof StatementRecord]: StatementRecord[K] } = { ...record(0) };
function next(i: number): StatementRecord {
  if (opt['fresh-records']) return record(i);
  slot.startTimeMs = Date.now();
  slot.rows = 1 + (i & 1);
  return slot;
}

/** CPU ms per thread name (utime + stime from /proc, 100 Hz ticks): main thread, V8 GC helpers, libuv pool. */
function threads(): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    let st: string;
    try {
      st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    m.set(comm, (m.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
  }
  return m;
}

/** Sends N records at RATE per second in 1 ms ticks; returns the process CPU µs spent per record. */
async function drive(sink: AuditSink): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let i = 0;
  while (i < N) {
    const due = Math.min(N, Math.floor(((performance.now() - t0) * RATE) / 1000));
    for (; i < due; i++) sink.statement(next(i));
    await new Promise((r) => setTimeout(r, 1));
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

const off = await drive(NULL_AUDIT);
const dir = mkdtempSync(join(tmpdir(), 'airlock-sink-cost-'));
const sink = await openAuditSink({
  endpoint: opt['no-export'] ? null : `http://127.0.0.1:${port}/v1/traces`,
  protocol: 'http/protobuf',
  spoolDir: dir,
  onFailure: 'block',
  encoder: opt.encoder as 'lean' | 'worker',
  batchSize: Number(opt.batch),
  log: (m) => process.stderr.write(`${m}\n`),
});
sink.sessionStarted(session(SID));
const th0 = threads();
const c0 = process.cpuUsage();
const on = await drive(sink);
if (opt['no-export']) await sink.flush();
else while (sink.metrics().airlock_audit_exported_total < N) await new Promise((r) => setTimeout(r, 20));
const c = process.cpuUsage(c0);
const total = (c.user + c.system) / N;
const th1 = threads();
console.log(`audit on, CPU by thread: ${[...th1].map(([k, v]) => `${k} ${v - (th0.get(k) ?? 0)} ms`).join(', ')}`);
console.log(`audit on: user ${(c.user / N).toFixed(2)} µs, system ${(c.system / N).toFixed(2)} µs per span`);
console.log(
  `encoder ${opt.encoder}: ${N} spans at ${RATE}/s; CPU per span: audit off ${off.toFixed(2)} µs, audit on ${on.toFixed(2)} µs while recording, ${total.toFixed(2)} µs until all exported; audit cost ≈ ${(total - off).toFixed(2)} µs/span`,
);
await sink.close();
console.log(`export requests: ~${requests}`);
rx.kill();
rmSync(dir, { recursive: true, force: true });

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startGrpcReceiver,
  startHttpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../test/support/otlp-receiver.ts';
import { createAuditSink, type AuditExporter, type AuditSinkOptions } from './index.ts';
import { session, statement } from './testdata/records.ts';
import type { AuditDecision, StatementRecord } from './types.ts';

const spools: string[] = [];
const spoolDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'airlock-audit-'));
  spools.push(d);
  return d;
};
const SID = '0123456789abcdef';

// A failed assertion must not leave a receiver or sink holding the process open.
const opened: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of opened) await o.close();
  for (const d of spools) rmSync(d, { recursive: true, force: true });
});
async function startGrpc(): Promise<OtlpReceiver> {
  const r = await startGrpcReceiver();
  opened.push(r);
  return r;
}
async function startHttp(): Promise<OtlpReceiver> {
  const r = await startHttpReceiver();
  opened.push(r);
  return r;
}

async function open(rx: OtlpReceiver | null, over: Partial<AuditSinkOptions> = {}): Promise<AuditExporter> {
  const sink = await createAuditSink({
    endpoint: rx?.endpoint ?? null,
    protocol: 'grpc',
    spoolDir: spoolDir(),
    onFailure: 'block',
    flushIntervalMs: 10,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    closeTimeoutMs: 0,
    log: () => {},
    ...over,
  });
  opened.unshift(sink);
  return sink;
}

const statements = (spans: ReceivedSpan[]): ReceivedSpan[] => spans.filter((s) => s.kind === 3);
const keyOf = (s: ReceivedSpan): string => `${s.traceId}/${s.spanId}`;

function assertNoDuplicates(spans: ReceivedSpan[]): void {
  const keys = spans.map(keyOf);
  assert.equal(new Set(keys).size, keys.length, 'no span arrived twice');
}

// One row per decision: what the session hands over, and what the span must say.
const decisionCases: [string, Partial<StatementRecord>, Record<string, unknown>, { code: number; message: string }][] =
  [
    [
      'allow with masking',
      { decision: 'allow', maskedColumns: ['public.customers.email', 'public.customers.phone'], rows: 3 },
      {
        'airlock.decision': 'allow',
        'airlock.masked_columns': ['public.customers.email', 'public.customers.phone'],
        'airlock.rows': 3,
        'airlock.policy': 'trainer',
        'airlock.rule': 'read-app-tables',
        'airlock.rolled_back': false,
      },
      { code: 0, message: '' },
    ],
    [
      'deny',
      {
        decision: 'deny',
        operation: 'DELETE',
        rule: null,
        policy: null,
        statusCode: '42501',
        rows: null,
        reason: 'no AccessPolicy allows DELETE on public.orders',
      },
      {
        'airlock.decision': 'deny',
        'db.response.status_code': '42501',
        'error.type': '42501',
        'airlock.reason': 'no AccessPolicy allows DELETE on public.orders',
        'db.operation.name': 'DELETE',
      },
      { code: 2, message: 'no AccessPolicy allows DELETE on public.orders' },
    ],
    [
      'approve with an access request',
      { decision: 'approve', operation: 'UPDATE', rule: 'change-orders', accessRequest: 'ml/ar-7f3k2', rows: 12 },
      {
        'airlock.decision': 'approve',
        'airlock.access_request': 'ml/ar-7f3k2',
        'airlock.rule': 'change-orders',
        'airlock.rows': 12,
      },
      { code: 0, message: '' },
    ],
    [
      'warn (would have been denied)',
      { decision: 'warn', reason: 'would deny: DROP not allowed', operation: 'DROP', collection: null, rows: null },
      { 'airlock.decision': 'warn', 'airlock.reason': 'would deny: DROP not allowed' },
      { code: 0, message: '' },
    ],
    [
      'guardrail rollback',
      {
        decision: 'allow',
        operation: 'UPDATE',
        statusCode: '54000',
        rolledBack: true,
        rows: 5000,
        reason: 'maxAffectedRows 1000 exceeded',
      },
      { 'airlock.rolled_back': true, 'db.response.status_code': '54000', 'airlock.rows': 5000 },
      { code: 2, message: 'maxAffectedRows 1000 exceeded' },
    ],
  ];

test('every decision type becomes a CLIENT span with the design.md attributes', async () => {
  const rx = await startGrpc();
  const sink = await open(rx);
  sink.sessionStarted(session(SID));
  decisionCases.forEach(([, over], i) => {
    assert.equal(sink.statement(statement(SID, i, over)), true);
  });
  const spans = statements(await rx.waitForSpans(decisionCases.length));
  decisionCases.forEach(([name, over, want, status], i) => {
    const s = spans[i]!;
    const rec = statement(SID, i, over);
    assert.equal(s.kind, 3, name);
    assert.equal(
      s.name,
      rec.collection === null ? `${rec.operation} orders` : `${rec.operation} orders.${rec.collection}`,
      name,
    );
    assert.equal(s.attributes['db.system.name'], 'postgresql', name);
    assert.equal(s.attributes['db.namespace'], 'orders', name);
    assert.equal(s.attributes['server.address'], 'orders-pg.db.svc', name);
    assert.equal(s.attributes['server.port'], 5432, name);
    assert.equal(s.attributes['airlock.subject'], 'system:serviceaccount:ml:trainer', name);
    assert.equal(s.attributes['db.query.text'], rec.queryText, name);
    assert.equal(s.attributes['db.operation.name'], rec.operation, name);
    if (rec.collection === null) assert.equal('db.collection.name' in s.attributes, false, name);
    else assert.equal(s.attributes['db.collection.name'], rec.collection, name);
    if (rec.statusCode === null) assert.equal('db.response.status_code' in s.attributes, false, name);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(s.attributes[k], v, `${name}: ${k}`);
    assert.deepEqual(s.status, status, name);
    assert.equal(s.endTimeUnixNano - s.startTimeUnixNano, 250_000n, `${name}: duration`);
    const decision: AuditDecision = rec.decision;
    assert.equal(s.attributes['airlock.decision'], decision);
  });
  assert.equal(spans[0]!.resource['service.name'], 'airlock-proxy');
  assert.match(String(spans[0]!.resource['service.instance.id']), /^[0-9a-f-]{36}$/);
  // Made and encoded by the OpenTelemetry SDK for Node, which says so in the resource.
  assert.equal(spans[0]!.resource['telemetry.sdk.name'], 'opentelemetry');
  assert.equal(spans[0]!.resource['telemetry.sdk.language'], 'nodejs');
  assert.equal(spans[0]!.scope, 'airlock.dev/audit');
  await sink.close();
  await rx.close();
});

test('query text is exported as given, never with values: a masked value or literal reaches no span or spool byte', async () => {
  const rx = await startGrpc();
  const dir = spoolDir();
  const sink = await open(rx, { spoolDir: dir, endpoint: null });
  // The client sent `... WHERE email = 'alice@example.com'`; the session normalized it and masked the column.
  const secret = 'alice@example.com';
  sink.sessionStarted(session(SID));
  sink.statement(
    statement(SID, 1, {
      queryText: 'SELECT email FROM public.customers WHERE email = $1',
      maskedColumns: ['public.customers.email'],
    }),
  );
  await sink.flush();
  const bytes = readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .map((n) => readFileSync(join(dir, n)).toString('latin1'))
    .join('');
  assert.ok(bytes.includes('SELECT email FROM public.customers WHERE email = $1'));
  assert.equal(bytes.includes(secret), false);
  await sink.close();
  // Reopen against the receiver: what arrives is exactly the record's text.
  const again = await open(rx, { spoolDir: dir });
  const [span] = statements(await rx.waitForSpans(2));
  assert.equal(span!.attributes['db.query.text'], 'SELECT email FROM public.customers WHERE email = $1');
  assert.equal(JSON.stringify(rx.spans, (_, v) => (typeof v === 'bigint' ? String(v) : v)).includes(secret), false);
  await again.close();
  await rx.close();
});

test('query text over the limit is cut on a character boundary and flagged', async () => {
  const rx = await startGrpc();
  const sink = await open(rx, { maxQueryTextBytes: 100 });
  sink.sessionStarted(session(SID));
  sink.statement(statement(SID, 1, { queryText: `SELECT '${'é'.repeat(200)}'` }));
  sink.statement(statement(SID, 2, { queryText: 'SELECT 1' }));
  const [long, short] = statements(await rx.waitForSpans(2));
  const text = long!.attributes['db.query.text'] as string;
  assert.ok(Buffer.byteLength(text) <= 100 && Buffer.byteLength(text) >= 98);
  assert.equal(text.includes('\ufffd'), false, 'no split character');
  assert.equal(long!.attributes['airlock.query_text_truncated'], true);
  assert.equal('airlock.query_text_truncated' in short!.attributes, false);
  await sink.close();
  await rx.close();
});

test("the proxy's main thread never loads an OpenTelemetry package: it writes its spans itself (lean-span.ts)", async () => {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'testdata', 'main-thread-modules.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  const r = JSON.parse(out) as { loaded: string[]; spooled: number };
  assert.ok(r.spooled > 0, 'spans were made and spooled');
  assert.deepEqual(r.loaded, []);
});

for (const encoder of ['lean', 'worker', 'inline'] as const) {
  test(`${encoder} encoder: a record the encoder cannot take is counted and logged, and later records still go out`, async () => {
    const rx = await startGrpc();
    const logs: string[] = [];
    const sink = await open(rx, { encoder, log: (m) => logs.push(m) });
    // A defect stand-in: a value neither structured clone (worker), the attribute code (inline) nor the lean
    // writer accepts.
    const notData = Symbol('not data') as unknown as string;
    if (encoder === 'lean') {
      sink.sessionStarted(session('dddddddddddddddd'));
      sink.statement(statement('dddddddddddddddd', 0, { queryText: notData }));
    } else {
      sink.sessionStarted(session('dddddddddddddddd', { database: notData }));
      sink.statement(statement('dddddddddddddddd', 0));
    }
    await sink.flush();
    assert.equal(sink.metrics().airlock_audit_dropped_total, 1);
    assert.match(logs.join('\n'), /Failed to encode audit spans records=1 error=/);
    sink.sessionStarted(session(SID));
    sink.statement(statement(SID, 1));
    const [span] = statements(await rx.waitForSpans(1));
    assert.equal(span!.attributes['db.query.text'], statement(SID, 1).queryText);
    await sink.close();
  });
}

test('statement spans are children of their session span, in order, per session', async () => {
  const rx = await startGrpc();
  const sink = await open(rx, { batchSize: 7 });
  const a = 'aaaaaaaaaaaaaaa1';
  const b = 'bbbbbbbbbbbbbbb2';
  sink.sessionStarted(session(a, { subject: 'alice@example.com' }));
  sink.sessionStarted(session(b, { database: 'billing' }));
  for (let i = 0; i < 40; i++) sink.statement(statement(i % 2 === 0 ? a : b, i));
  sink.sessionEnded(a, 1_700_000_001_000);
  sink.sessionEnded(b, 1_700_000_001_000);
  const spans = await rx.waitForSpans(42);
  assertNoDuplicates(spans);
  for (const [id, db, subject] of [
    [a, 'orders', 'system:serviceaccount:ml:trainer'],
    [b, 'billing', 'system:serviceaccount:ml:trainer'],
  ] as const) {
    const root = spans.find((s) => s.kind === 2 && s.attributes['airlock.session.id'] === id)!;
    assert.equal(root.name, `session ${db}`);
    assert.equal(root.parentSpanId, '');
    assert.equal(root.attributes['airlock.statements'], 20);
    const children = spans.filter((s) => s.parentSpanId === root.spanId && s.traceId === root.traceId);
    assert.equal(children.length, 20);
    assert.deepEqual(
      children.map((s) => s.startTimeUnixNano),
      [...children.map((s) => s.startTimeUnixNano)].sort((x, y) => (x < y ? -1 : 1)),
      'arrival order is statement order',
    );
    assert.ok(children.every((s) => s.attributes['db.namespace'] === db));
    if (id === a) assert.ok(children.every((s) => s.attributes['airlock.subject'] === 'alice@example.com'));
    else assert.ok(children.every((s) => s.attributes['airlock.subject'] === subject));
    assert.ok(spans.indexOf(root) > spans.indexOf(children.at(-1)!), 'the session span follows its statements');
  }
  await sink.close();
  await rx.close();
});

for (const [transport, start] of [
  ['grpc', startGrpc],
  ['http/protobuf', startHttp],
] as const) {
  test(`${transport}: an outage loses nothing — refused, then gone, then back: all N arrive, none twice`, async () => {
    const rx = await start();
    const sink = await open(rx, { protocol: transport, batchSize: 16 });
    sink.sessionStarted(session(SID));
    rx.mode = 'unavailable';
    for (let i = 0; i < 100; i++) assert.equal(sink.statement(statement(SID, i)), true);
    while (rx.requests < 3) await new Promise((r) => setTimeout(r, 10)); // it did try, and was refused
    assert.equal(rx.spans.length, 0);
    await rx.stop(); // now connection refused
    for (let i = 100; i < 200; i++) sink.statement(statement(SID, i));
    await sink.flush();
    assert.ok(sink.metrics().airlock_audit_export_failures_total >= 3);
    rx.mode = 'ok';
    await rx.start();
    const spans = await rx.waitForSpans(200);
    assertNoDuplicates(spans);
    assert.deepEqual(
      spans.map((s) => s.attributes['db.query.text']),
      Array.from({ length: 200 }, (_, i) => statement(SID, i).queryText),
    );
    assert.equal(sink.metrics().airlock_audit_dropped_total, 0);
    await sink.close();
    await rx.close();
  });

  test(`${transport}: partial success and permanent rejection are counted and do not stall later records`, async () => {
    const rx = await start();
    const sink = await open(rx, { protocol: transport, batchSize: 5 });
    sink.sessionStarted(session(SID));
    rx.mode = 'reject';
    for (let i = 0; i < 5; i++) sink.statement(statement(SID, i));
    while (sink.metrics().airlock_audit_rejected_total < 5) await new Promise((r) => setTimeout(r, 10));
    rx.mode = 'partial';
    rx.partialRejected = 2;
    for (let i = 5; i < 10; i++) sink.statement(statement(SID, i));
    await rx.waitForSpans(5);
    while (sink.metrics().airlock_audit_rejected_total < 7) await new Promise((r) => setTimeout(r, 10));
    rx.mode = 'ok';
    sink.statement(statement(SID, 10));
    await rx.waitForSpans(6);
    assert.deepEqual(sink.metrics().airlock_audit_rejected_total, 7);
    assert.equal(rx.spans.at(-1)!.attributes['db.query.text'], statement(SID, 10).queryText);
    await sink.close();
    await rx.close();
  });
}

test('a crash (SIGKILL mid-write) loses nothing that was durable: a restart re-sends it all', async () => {
  const dir = spoolDir();
  const child = spawn(process.execPath, [join(import.meta.dirname, 'testdata', 'crash-writer.ts'), dir, '300'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('durable')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`crash writer exited early with ${code}`)));
  });
  await new Promise((r) => setTimeout(r, 50)); // mid-run: it keeps appending
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const rx = await startGrpc();
  const logs: string[] = [];
  const sink = await open(rx, { spoolDir: dir, onFailure: 'drop-oldest', log: (m) => logs.push(m) });
  const before = Array.from({ length: 300 }, (_, i) => `SELECT before_crash_${i}`);
  while (
    statements(rx.spans).filter((s) => String(s.attributes['db.query.text']).startsWith('SELECT before')).length < 300
  ) {
    await rx.waitForSpans(rx.spans.length + 1);
  }
  await sink.close();
  const texts = statements(rx.spans).map((s) => String(s.attributes['db.query.text']));
  assert.deepEqual(texts.slice(0, 300), before, 'durable records arrive, in order');
  assert.ok(
    texts.slice(300).every((t, i) => t === `SELECT after_${i}`),
    'what survived after them is a gap-free prefix',
  );
  assertNoDuplicates(rx.spans);
  await rx.close();
});

test('onFailure=block: a full spool stops accepting, and statement() says so', async () => {
  const sink = await open(null, { maxSpoolBytes: 64 * 1024 });
  sink.sessionStarted(session(SID));
  const big = (n: number): StatementRecord => statement(SID, n, { queryText: `SELECT ${'x'.repeat(900)}` });
  let n = 0;
  // The in-memory estimate is conservative, so a write can free room: fill until even the disk is full.
  for (let round = 0; round < 100 && (round === 0 || sink.accepting()); round++) {
    while (sink.accepting()) assert.equal(sink.statement(big(n++)), sink.accepting());
    await sink.flush();
  }
  assert.equal(sink.accepting(), false);
  assert.equal(sink.statement(statement(SID, n++)), false);
  assert.equal(sink.accepting(), false, 'nothing exports it, so it stays full');
  // The reserve keeps records of statements already run, up to the hard bound; past it they are counted.
  for (let i = 0; i < 200; i++) assert.equal(sink.statement(big(n++)), false);
  assert.ok(sink.metrics().airlock_audit_dropped_total > 0);
  await sink.flush();
  assert.ok(sink.metrics().airlock_audit_spool_bytes <= 64 * 1024);
  await sink.close();
});

test('onFailure=block: accepting() comes back once the collector has taken the spool', async () => {
  const rx = await startGrpc();
  rx.mode = 'unavailable';
  const sink = await open(rx, { maxSpoolBytes: 64 * 1024 });
  sink.sessionStarted(session(SID));
  let n = 0;
  while (sink.accepting()) sink.statement(statement(SID, n++, { queryText: `SELECT ${'x'.repeat(900)}` }));
  rx.mode = 'ok';
  await rx.waitForSpans(n);
  while (!sink.accepting()) await new Promise((r) => setTimeout(r, 10));
  assert.equal(sink.statement(statement(SID, n)), true);
  await sink.close();
  await rx.close();
});

test('onFailure=drop-oldest: the oldest are dropped and counted, the newest arrive', async () => {
  const rx = await startGrpc();
  rx.mode = 'unavailable';
  const sink = await open(rx, { maxSpoolBytes: 64 * 1024, onFailure: 'drop-oldest', batchSize: 32 });
  sink.sessionStarted(session(SID));
  const total = 400;
  for (let i = 0; i < total; i++) {
    assert.equal(sink.statement(statement(SID, i, { queryText: `SELECT ${i} ${'x'.repeat(900)}` })), true);
    assert.equal(sink.accepting(), true);
    if (i % 50 === 49) await sink.flush();
  }
  await sink.flush();
  const dropped = sink.metrics().airlock_audit_dropped_total;
  assert.ok(dropped > 0);
  assert.ok(sink.metrics().airlock_audit_spool_bytes <= 64 * 1024);
  rx.mode = 'ok';
  await rx.waitForSpans(total - dropped);
  await sink.close();
  const got = statements(rx.spans).map((s) => Number(String(s.attributes['db.query.text']).split(' ')[1]));
  assert.equal(got.length, total - dropped, 'every record is either delivered or counted as dropped');
  assert.deepEqual(
    got,
    Array.from({ length: got.length }, (_, i) => total - got.length + i),
    'the newest, in order',
  );
  await rx.close();
});

test('reconfigure: a new endpoint gets what the old one never acknowledged; onFailure switches at once', async () => {
  const old = await startGrpc();
  old.mode = 'unavailable';
  const next = await startHttp();
  const sink = await open(old, { maxSpoolBytes: 64 * 1024 });
  sink.sessionStarted(session(SID));
  for (let i = 0; i < 20; i++) sink.statement(statement(SID, i));
  await sink.flush();
  sink.reconfigure(next.endpoint, 'http/protobuf', 'drop-oldest');
  for (let i = 20; i < 30; i++) sink.statement(statement(SID, i));
  await next.waitForSpans(30);
  assert.equal(statements(old.spans).length, 0);
  assertNoDuplicates(next.spans);
  // drop-oldest now: a full spool keeps accepting (block would have stopped).
  next.mode = 'unavailable';
  let n = 30;
  for (; n < 200; n++) {
    sink.statement(statement(SID, n, { queryText: `SELECT ${'x'.repeat(900)}` }));
    assert.equal(sink.accepting(), true);
  }
  await sink.flush();
  assert.ok(sink.metrics().airlock_audit_dropped_total > 0);
  await sink.close();
});

test('an idle sink stops its timer, and the next record starts it again and is exported', async () => {
  const rx = await startHttp();
  const sink = await open(rx, { protocol: 'http/protobuf' });
  const until = async (what: string, f: () => boolean) => {
    const end = Date.now() + 10_000;
    while (!f()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  sink.sessionStarted(session(SID));
  sink.statement(statement(SID, 0));
  assert.equal(sink.ticking, true);
  await rx.waitForSpans(1);
  // Exported, acknowledged, the ack file written: nothing left to do, so no timer wakes the process.
  await until('the sink to sleep', () => !sink.ticking);
  const requests = rx.requests;
  await new Promise((r) => setTimeout(r, 100)); // ten flush intervals
  assert.equal(rx.requests, requests, 'no export while asleep');
  assert.equal(sink.ticking, false);
  // A statement wakes it: exported without any other nudge, and it sleeps again after.
  sink.statement(statement(SID, 1));
  assert.equal(sink.ticking, true);
  const spans = await rx.waitForSpans(2);
  assert.deepEqual(
    statements(spans).map((s) => s.attributes['db.query.text']),
    [statement(SID, 0).queryText, statement(SID, 1).queryText],
  );
  await until('the sink to sleep again', () => !sink.ticking);
  // A session that ends while the sink sleeps wakes it too: its span is exported.
  sink.sessionEnded(SID, 1_700_000_001_000);
  await rx.waitForSpans(3);
  assert.equal(rx.spans.filter((s) => s.kind === 2).length, 1, 'the session span');
  await sink.close();
  assert.equal(sink.ticking, false);
  await rx.close();
});

test('a sink with records its collector has not taken keeps its timer, and exports them once it is back', async () => {
  const rx = await startHttp();
  const sink = await open(rx, { protocol: 'http/protobuf' });
  rx.mode = 'unavailable';
  sink.sessionStarted(session(SID));
  sink.statement(statement(SID, 0));
  while (rx.requests < 2) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sink.ticking, true, 'unacknowledged records keep it awake');
  rx.mode = 'ok';
  await rx.waitForSpans(1);
  await sink.close();
  await rx.close();
});

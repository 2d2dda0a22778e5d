import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as semconv from '@opentelemetry/semantic-conventions';
import type { IdGenerator } from '@opentelemetry/sdk-trace';
import { SpanEncoder, type EncodeItem } from './encoder.ts';
import { LeanEncoder, NAMES } from './lean-span.ts';
import { decodeSpan, KIND_SESSION_SPAN, KIND_STATEMENT_SPAN } from './otlp.ts';
import * as sc from './semconv.ts';
import { parseFrames } from './spool.ts';
import { session, statement } from './testdata/records.ts';
import type { StatementRecord } from './types.ts';

/** Deterministic ids: both encoders draw the same sequence. */
function counterIds(): IdGenerator {
  let n = 0;
  return {
    generateTraceId: () => (++n).toString(16).padStart(32, '0'),
    generateSpanId: () => (++n).toString(16).padStart(16, 'a'),
  };
}

const OPTS = {
  serviceName: 'airlock-proxy',
  scopeName: 'airlock.dev/audit',
  serviceInstanceId: '3b0c6a1e-8f1f-4c55-9a57-1f0e9c0b6d2a',
};

function feed(enc: LeanEncoder, items: readonly EncodeItem[]): Buffer {
  for (const item of items) {
    if ('start' in item) enc.sessionStarted(item.start);
    else if ('stop' in item) enc.sessionEnded(item.stop, item.endTimeMs);
    else enc.statement(item as StatementRecord);
  }
  return enc.take();
}

/** The same items through the SDK (the reference) and through lean-span.ts, with the same ids. */
function encodeBoth(items: readonly EncodeItem[], maxQueryTextBytes = 16 * 1024): { lean: Buffer; sdk: Buffer } {
  const opts = { ...OPTS, maxQueryTextBytes, log: () => {} };
  const sdk = new SpanEncoder({ ...opts, idGenerator: counterIds() }).encode(items);
  const ids = counterIds();
  ids.generateSpanId();
  ids.generateTraceId(); // what the SDK encoder's envelope probe span drew
  const lean = feed(new LeanEncoder({ ...opts, idGenerator: ids }), items);
  return { lean, sdk };
}

test('lean spans: byte for byte what the SDK tracer and ProtobufTraceSerializer write, statement and session spans', () => {
  const sid = '0123456789abcdef';
  const items: EncodeItem[] = [
    { start: session(sid) },
    statement(sid, 1),
    statement(sid, 2, {
      decision: 'deny',
      reason: 'no rule allows DELETE on public.orders',
      statusCode: '42501',
      rows: null,
      operation: 'DELETE',
    }),
    statement(sid, 3, { statusCode: '23505', decision: 'allow', rows: null }),
    statement(sid, 4, { maskedColumns: ['public.orders.email', 'public.orders.ssn'], rows: 1_000_000_000_000 }),
    statement(sid, 5, { collection: null, policy: null, rule: null, queryText: 'SELECT $1' }),
    statement(sid, 6, {
      queryText: 'SELECT name FROM t WHERE note = $1 -- é ✓ 𝄞',
      decision: 'warn',
      reason: 'would deny',
    }),
    statement(sid, 7, { decision: 'approve', accessRequest: 'ar-7', rolledBack: true, durationMs: -1 }),
    statement(sid, 8, { queryText: `SELECT ${'x, '.repeat(200)}y FROM t` }), // lengths over 127
    statement(sid, 9, { queryText: 'é'.repeat(40) }), // cut at maxQueryTextBytes below
    statement(sid, 10, { queryText: `SELECT ${'ü'.repeat(9000)}` }), // lengths over 16383
    statement(sid, 11, { decision: 'deny', reason: null, statusCode: null }), // "denied"
    statement(sid, 12, { decision: 'deny', reason: null, statusCode: '42501' }), // "SQLSTATE 42501"
    statement(sid, 13, { reason: '', statusCode: '57014' }), // an empty message is left out
    statement(sid, 14, { rows: -3 }),
    statement(sid, 15, { rows: 2.5 }),
    statement(sid, 16, { rows: 2 ** 60 }),
    statement(sid, 17, { operation: 'SELECT\u00e9', collection: 'app.\ud800x' }), // non-ASCII name, a lone surrogate
    statement(sid, 17, { queryText: `SELECT '${'y'.repeat(5000)}'` }), // longer than the encoder keeps bytes of
    // More distinct texts than its cache of statement shapes holds: it is cleared midway, and the repeats after that
    // are written from new entries.
    ...Array.from({ length: 4500 }, (_, i) => statement(sid, 17, { queryText: `SELECT ${i % 4200} FROM t` })),
    statement('fedcba9876543210', 18), // an unannounced session
    {
      start: session('1111111111111111', {
        database: '',
        serverAddress: '',
        serverPort: 0,
        subject: '',
        clientAddress: '',
        binding: '',
      }),
    },
    statement('1111111111111111', 19),
    statement('1111111111111111', 20, { collection: null }),
    { stop: sid, endTimeMs: 1_700_000_000_100 },
    { stop: '1111111111111111', endTimeMs: 1 }, // ends before it started
    statement(sid, 21), // after its session ended
    { stop: 'fedcba9876543210', endTimeMs: 1_700_000_000_200 },
  ];
  for (const max of [16 * 1024, 50]) {
    const { lean, sdk } = encodeBoth(items, max);
    assert.ok(sdk.length > 0);
    assert.equal(lean.toString('hex'), sdk.toString('hex'), `maxQueryTextBytes ${max}`);
  }
});

test('lean spans agree with the SDK on generated records and sessions', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 300 });
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
  const rec = fc.record({
    startTimeMs: fc.double({ min: 1_600_000_000_000, max: 2_000_000_000_000, noNaN: true }),
    durationMs: fc.double({ min: -5, max: 1e6, noNaN: true }),
    operation: fc.constantFrom('SELECT', 'INSERT', 'COPY', 'UNKNOWN'),
    collection: opt(fc.constantFrom('public.orders', 'app.ünïcode', 'x')),
    queryText: text,
    statusCode: opt(fc.constantFrom('42501', '23505', '57014')),
    decision: fc.constantFrom('allow', 'deny', 'approve', 'warn'),
    policy: opt(text),
    rule: opt(text),
    reason: opt(text),
    maskedColumns: fc.array(text, { maxLength: 4 }),
    rows: opt(fc.oneof(fc.nat(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.maxSafeNat())),
    accessRequest: opt(text),
    rolledBack: fc.boolean(),
  });
  const sess = fc.record({
    subject: text,
    database: fc.constantFrom('', 'orders', 'bïlling'),
    binding: text,
    serverAddress: fc.constantFrom('', 'pg.db.svc'),
    serverPort: fc.constantFrom(0, 5432, 65535),
    clientAddress: fc.constantFrom('', '10.0.0.7', '::1'),
    startTimeMs: fc.double({ min: 1_600_000_000_000, max: 2_000_000_000_000, noNaN: true }),
  });
  fc.assert(
    fc.property(
      sess,
      fc.array(rec, { minLength: 1, maxLength: 6 }),
      fc.constantFrom(16 * 1024, 40),
      fc.double({ min: 0, max: 2e12, noNaN: true }),
      (s, recs, max, endMs) => {
        const sid = 'aaaaaaaaaaaaaaaa';
        const items: EncodeItem[] = [
          { start: { sessionId: sid, ...s } },
          ...recs.map((r): StatementRecord => ({ sessionId: sid, ...r })),
          { stop: sid, endTimeMs: endMs },
        ];
        const { lean, sdk } = encodeBoth(items, max);
        assert.equal(lean.toString('hex'), sdk.toString('hex'));
      },
    ),
    { numRuns: 300 },
  );
});

test('spans of a repeated statement shape agree with the SDK whatever changes between its runs (generated)', () => {
  // One encoder for a whole sequence: few texts, so most spans reuse a shape's bytes (LeanEncoder.#shapeOf), and
  // the fields a shape is written from change between runs of one text — operation, relation, decision, policy,
  // rule, and the session's database — so every way a kept shape must be rewritten or replaced is taken.
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
  const run = fc.record({
    session: fc.nat(2),
    queryText: fc.constantFrom('SELECT $1', 'SELECT a FROM t WHERE id = $1', 'UPDATE t SET a = $1 WHERE ünï = $2'),
    operation: fc.constantFrom('SELECT', 'UPDATE'),
    collection: opt(fc.constantFrom('public.t', 'app.ünïcode')),
    decision: fc.constantFrom('allow', 'deny', 'approve', 'warn'),
    policy: opt(fc.constantFrom('reads', 'writes')),
    rule: opt(fc.constantFrom('r0', 'r1')),
    statusCode: opt(fc.constantFrom('42501', '57014')),
  });
  const sessions = ['aaaaaaaaaaaaaaa0', 'aaaaaaaaaaaaaaa1', 'aaaaaaaaaaaaaaa2'];
  const databases = ['orders', 'bïlling', ''];
  fc.assert(
    fc.property(fc.array(run, { minLength: 1, maxLength: 40 }), fc.constantFrom(16 * 1024, 20), (runs, max) => {
      const items: EncodeItem[] = [
        ...sessions.map((sid, i) => ({ start: session(sid, { database: databases[i]! }) })),
        ...runs.map(({ session: i, ...r }, n) => statement(sessions[i]!, n, r)),
        ...sessions.map((sid) => ({ stop: sid, endTimeMs: 1_700_000_001_000 })),
      ];
      const { lean, sdk } = encodeBoth(items, max);
      assert.equal(lean.toString('hex'), sdk.toString('hex'));
    }),
    { numRuns: 200 },
  );
});

test("the lean request envelope (resource and scope) is the SDK's", () => {
  const opts = { ...OPTS, maxQueryTextBytes: 1024, log: () => {} };
  const sdk = new SpanEncoder(opts).envelope;
  const lean = new LeanEncoder(opts).envelope;
  assert.equal(lean.resourceField.toString('hex'), sdk.resourceField.toString('hex'));
  assert.equal(lean.scopeField.toString('hex'), sdk.scopeField.toString('hex'));
});

test("the lean writer's attribute names are the semantic-conventions constants and semconv.ts's", () => {
  const known = { ...semconv, ...sc } as Record<string, unknown>;
  for (const [constant, name] of Object.entries(NAMES)) assert.equal(name, known[constant], constant);
});

test('a statement audited after its session ended keeps its session as parent, with no warning', () => {
  for (const lean of [true, false]) {
    const logs: string[] = [];
    const opts = {
      serviceName: 's',
      scopeName: 'airlock.dev/audit',
      maxQueryTextBytes: 1024,
      log: (m: string) => logs.push(m),
    };
    const sid = '1111222233334444';
    // The client left (session ended), then PostgreSQL's answer to its last statement came: one batch, then the next.
    const batch1: EncodeItem[] = [
      { start: session(sid) },
      statement(sid, 1),
      { stop: sid, endTimeMs: 1_700_000_000_050 },
      statement(sid, 2),
    ];
    const batch2: EncodeItem[] = [statement(sid, 3)];
    let first: Buffer[];
    let second: Buffer[];
    if (lean) {
      const enc = new LeanEncoder(opts);
      first = parseFrames(feed(enc, batch1), 0).payloads;
      second = parseFrames(feed(enc, batch2), 0).payloads;
    } else {
      const enc = new SpanEncoder(opts);
      first = parseFrames(enc.encode(batch1), 0).payloads;
      second = parseFrames(enc.encode(batch2), 0).payloads;
    }
    assert.deepEqual(logs, []);
    assert.deepEqual(
      [...first, ...second].map((p) => p[0]),
      [KIND_STATEMENT_SPAN, KIND_SESSION_SPAN, KIND_STATEMENT_SPAN, KIND_STATEMENT_SPAN],
    );
    const sessionSpan = decodeSpan(first[1]!.subarray(1));
    for (const p of [first[2]!, second[0]!]) {
      const st = decodeSpan(p.subarray(1));
      assert.equal(st.parentSpanId, sessionSpan.spanId);
      assert.equal(st.traceId, sessionSpan.traceId);
      assert.equal(st.attributes.get('db.namespace'), 'orders');
    }
  }
});

test('lean ids: random, never all zero, distinct per span; a statement that fails to encode leaves the buffer as it was', () => {
  const enc = new LeanEncoder({ ...OPTS, maxQueryTextBytes: 1024, log: () => {} });
  enc.sessionStarted(session('0123456789abcdef'));
  for (let i = 0; i < 2000; i++) enc.statement(statement('0123456789abcdef', i));
  const before = enc.bytes;
  assert.throws(() =>
    enc.statement(statement('0123456789abcdef', 0, { queryText: Symbol('defect') as unknown as string })),
  );
  assert.equal(enc.bytes, before);
  assert.equal(enc.count, 2000);
  const spans = parseFrames(enc.take(), 0).payloads.map((p) => decodeSpan(p.subarray(1)));
  assert.equal(spans.length, 2000);
  assert.equal(new Set(spans.map((s) => s.spanId)).size, 2000);
  assert.ok(
    spans.every(
      (s) => s.spanId !== '0000000000000000' && s.traceId === spans[0]!.traceId && s.traceId !== '0'.repeat(32),
    ),
  );
  assert.equal(enc.bytes, 0);
});

test('frame buffers take turns: recycled ones are reused, a batch still in flight is never written, a new one starts at the size batches need', () => {
  const enc = new LeanEncoder({ ...OPTS, maxQueryTextBytes: 1024, log: () => {} });
  const sid = '0123456789abcdef';
  enc.sessionStarted(session(sid));
  const batch = (n = 300): Buffer => {
    for (let i = 0; i < n; i++) enc.statement(statement(sid, i));
    return enc.take();
  };
  const a = batch(),
    b = batch(),
    c = batch(); // three batches in flight at once (spooled, awaiting acks)
  const cBytes = Buffer.from(c);
  assert.ok(a.buffer.byteLength > 64 * 1024, 'the batches outgrew the first 64 KiB');
  enc.recycle(a);
  enc.recycle(b);
  enc.recycle(b); // released twice: kept once
  enc.recycle(c.subarray(10)); // not a whole buffer: never reused
  const d = batch(); // written into the buffer taken after c: a new one…
  assert.ok(![a.buffer, b.buffer, c.buffer].includes(d.buffer));
  assert.ok(
    d.buffer.byteLength >= a.buffer.byteLength,
    '…made at the size the batches grew to, not 64 KiB doubled again',
  );
  const e = batch(),
    f = batch();
  assert.deepEqual([e.buffer, f.buffer], [b.buffer, a.buffer], 'then the recycled ones');
  const g = batch();
  assert.ok(![a.buffer, b.buffer, c.buffer, d.buffer].includes(g.buffer), 'none left: a new one');
  assert.ok(c.equals(cBytes), 'the batch still in flight was never written');
  assert.deepEqual(parseFrames(Buffer.concat([d, e, f, g]), 0).payloads.length, 1200);
});

test('spare frame buffers are bounded: one of any size, more only up to 8 MiB together', () => {
  const enc = new LeanEncoder({ ...OPTS, maxQueryTextBytes: 16 * 1024, log: () => {} });
  const sid = '0123456789abcdef';
  enc.sessionStarted(session(sid));
  const big = (): Buffer => {
    for (let i = 0; i < 600; i++) enc.statement(statement(sid, i, { queryText: `SELECT '${'x'.repeat(16_000)}'` }));
    return enc.take();
  };
  const a = big(),
    b = big();
  assert.ok(a.buffer.byteLength > 8 * 1024 * 1024 && b.buffer.byteLength > 8 * 1024 * 1024);
  enc.recycle(a);
  enc.recycle(b); // a second spare would hold > 8 MiB more: let go
  big(); // written into the buffer taken after b (a new one)
  const next = big(); // into a, the only spare
  assert.equal(next.buffer, a.buffer);
  assert.notEqual(big().buffer, b.buffer, 'b was not kept');
});

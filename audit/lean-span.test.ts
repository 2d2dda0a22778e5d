import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IdGenerator } from '@opentelemetry/sdk-trace';
import { SpanEncoder, type EncodeItem } from './encoder.ts';
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

function encodeBoth(items: readonly EncodeItem[], maxQueryTextBytes = 16 * 1024): { lean: Buffer; sdk: Buffer } {
  const opts = { serviceName: 'airlock-proxy', scopeName: 'airlock.dev/audit', maxQueryTextBytes, log: () => {} };
  const lean = new SpanEncoder({ ...opts, idGenerator: counterIds() }).encode(items);
  const sdk = new SpanEncoder({ ...opts, idGenerator: counterIds(), leanStatements: false }).encode(items);
  return { lean, sdk };
}

test('lean statement spans: byte for byte what the SDK tracer and ProtobufTraceSerializer write', () => {
  const sid = '0123456789abcdef';
  const items: EncodeItem[] = [
    { start: session(sid) },
    statement(sid, 1),
    statement(sid, 2, { decision: 'deny', reason: 'no rule allows DELETE on public.orders', statusCode: '42501', rows: null, operation: 'DELETE' }),
    statement(sid, 3, { statusCode: '23505', decision: 'allow', rows: null }),
    statement(sid, 4, { maskedColumns: ['public.orders.email', 'public.orders.ssn'], rows: 1_000_000_000_000 }),
    statement(sid, 5, { collection: null, policy: null, rule: null, queryText: 'SELECT $1' }),
    statement(sid, 6, { queryText: 'SELECT name FROM t WHERE note = $1 -- é ✓ 𝄞', decision: 'warn', reason: 'would deny' }),
    statement(sid, 7, { decision: 'approve', accessRequest: 'ar-7', rolledBack: true, durationMs: -1 }),
    statement(sid, 8, { queryText: `SELECT ${'x, '.repeat(200)}y FROM t` }),                   // lengths over 127 and 16383
    statement(sid, 9, { queryText: 'é'.repeat(40) }),                                        // cut at maxQueryTextBytes below
    statement('fedcba9876543210', 10),                                                       // an unannounced session
    { stop: sid, endTimeMs: 1_700_000_000_100 },
  ];
  for (const max of [16 * 1024, 50]) {
    const { lean, sdk } = encodeBoth(items, max);
    assert.ok(sdk.length > 0);
    assert.equal(lean.toString('hex'), sdk.toString('hex'), `maxQueryTextBytes ${max}`);
  }
});

test('lean statement spans agree with the SDK on generated records', () => {
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
    policy: opt(text), rule: opt(text), reason: opt(text),
    maskedColumns: fc.array(text, { maxLength: 4 }),
    rows: opt(fc.nat()),
    accessRequest: opt(text),
    rolledBack: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(rec, { minLength: 1, maxLength: 6 }), fc.constantFrom(16 * 1024, 40), (recs, max) => {
    const sid = 'aaaaaaaaaaaaaaaa';
    const items: EncodeItem[] = [{ start: session(sid, { database: '' }) }, ...recs.map((r): StatementRecord => ({ sessionId: sid, ...r }))];
    const { lean, sdk } = encodeBoth(items, max);
    assert.equal(lean.toString('hex'), sdk.toString('hex'));
  }), { numRuns: 300 });
});

test('a statement audited after its session ended keeps its session as parent, with no warning', async () => {
  const { decodeSpan, KIND_SESSION_SPAN, KIND_STATEMENT_SPAN } = await import('./otlp.ts');
  const { parseFrames } = await import('./spool.ts');
  for (const lean of [true, false]) {
    const logs: string[] = [];
    const enc = new SpanEncoder({ serviceName: 's', scopeName: 'airlock.dev/audit', maxQueryTextBytes: 1024, log: (m) => logs.push(m), leanStatements: lean });
    const sid = '1111222233334444';
    // The client left (session ended), then PostgreSQL's answer to its last statement came: one batch, then the next.
    const first = parseFrames(enc.encode([{ start: session(sid) }, statement(sid, 1), { stop: sid, endTimeMs: 1_700_000_000_050 }, statement(sid, 2)]), 0).payloads;
    const second = parseFrames(enc.encode([statement(sid, 3)]), 0).payloads;
    assert.deepEqual(logs, []);
    assert.deepEqual([...first, ...second].map((p) => p[0]), [KIND_STATEMENT_SPAN, KIND_SESSION_SPAN, KIND_STATEMENT_SPAN, KIND_STATEMENT_SPAN]);
    const sessionSpan = decodeSpan(first[1]!.subarray(1));
    for (const p of [first[2]!, second[0]!]) {
      const st = decodeSpan(p.subarray(1));
      assert.equal(st.parentSpanId, sessionSpan.spanId);
      assert.equal(st.traceId, sessionSpan.traceId);
      assert.equal(st.attributes.get('db.namespace'), 'orders');
    }
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePartialSuccess, decodeSpan, encodeStatementSpan, msToNanos, sessionContext } from './otlp.ts';
import { PbReader, PbWriter } from './protobuf.ts';
import { session, statement } from './testdata/records.ts';

const instance = Buffer.from('0011223344556677', 'hex');

test('a statement span decodes back to what was encoded, for any query text (lengths across varint sizes)', () => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.integer({ min: 0, max: 20_000 }), (text, pad) => {
    const queryText = text + 'x'.repeat(pad);
    const w = new PbWriter(16);                       // tiny start: growth paths run too
    const ctx = sessionContext(instance, session('0123456789abcdef'));
    encodeStatementSpan(w, ctx, statement('0123456789abcdef', 1, { queryText }), 1 << 20);
    const span = decodeSpan(Buffer.from(w.buf.subarray(0, w.pos)));
    assert.equal(span.attributes.get('db.query.text'), queryText);
    assert.equal(span.traceId, '00112233445566770123456789abcdef');
    assert.equal(span.parentSpanId, '0123456789abcdef');
    assert.equal(span.spanId, '8000000000000001');
  }), { numRuns: 200 });
});

test('span ids: unique per statement, never zero, fixed by the session id and the order', () => {
  const ctx = sessionContext(instance, session('8000000000000000'));
  assert.equal(ctx.spanId.toString('hex'), '0000000000000001', 'top bit cleared, zero avoided');
  const ids = new Set<string>();
  const w = new PbWriter();
  for (let i = 0; i < 1000; i++) {
    w.reset();
    encodeStatementSpan(w, ctx, statement('8000000000000000', i), 1024);
    ids.add(decodeSpan(Buffer.from(w.buf.subarray(0, w.pos))).spanId);
  }
  assert.equal(ids.size, 1000);
  assert.equal(ids.has(ctx.spanId.toString('hex')), false);
  const other = sessionContext(instance, session('not-hex-session-id'));
  assert.equal(other.traceId.length, 16);
});

test('timestamps keep microseconds without float error', () => {
  assert.equal(msToNanos(1_700_000_000_000.123), 1_700_000_000_000_123_000n);
  assert.equal(msToNanos(0), 0n);
});

test('partial success is read from ExportTraceServiceResponse; unknown fields are skipped', () => {
  const msg = Buffer.from('bad span');
  const inner = Buffer.concat([Buffer.from([0x08, 0x03, 0x12, msg.length]), msg, Buffer.from([0x18, 0x01])]);
  const body = Buffer.concat([Buffer.from([0x0a, inner.length]), inner, Buffer.from([0x10, 0x05])]);
  assert.deepEqual(decodePartialSuccess(body), { rejectedSpans: 3, errorMessage: 'bad span' });
  assert.deepEqual(decodePartialSuccess(Buffer.alloc(0)), { rejectedSpans: 0, errorMessage: '' });
  assert.throws(() => decodePartialSuccess(Buffer.from([0x0a, 0x7f])), /past the end/);
});

test('the reader refuses truncated input instead of reading past it', () => {
  const v = new PbReader(Buffer.from([0x08, 0x80]));       // field 1 varint whose continuation never comes
  assert.equal(v.next(), true);
  assert.throws(() => v.varint(), /truncated varint/);
  const r = new PbReader(Buffer.from([0x39, 1, 2]));      // field 7 fixed64 with 2 of 8 bytes
  r.next();
  assert.throws(() => r.fixed64(), /truncated fixed64/);
});

test('pre-encoded attributes follow each statement: values that change between spans are never stale', () => {
  const ctx = sessionContext(instance, session('0123456789abcdef'));
  const w = new PbWriter(16);
  const cases = [
    { operation: 'SELECT', collection: 'public.orders', policy: 'p1', rule: 'r1', decision: 'allow' as const, rolledBack: false, maskedColumns: [] },
    { operation: 'DROP', collection: null, policy: 'p2', rule: null, decision: 'deny' as const, rolledBack: true, maskedColumns: ['public.c.ssn'] },
    { operation: 'SELECT', collection: 'public.orders', policy: 'p1', rule: 'r1', decision: 'warn' as const, rolledBack: false, maskedColumns: [] },
    { operation: 'É', collection: 'x'.repeat(300), policy: null, rule: 'r1', decision: 'approve' as const, rolledBack: false, maskedColumns: [] },
  ];
  for (const [i, c] of cases.entries()) {
    w.reset();
    encodeStatementSpan(w, ctx, statement('0123456789abcdef', i, c), 1024);
    const a = decodeSpan(Buffer.from(w.buf.subarray(0, w.pos))).attributes;
    assert.equal(a.get('db.system.name'), 'postgresql');
    assert.equal(a.get('db.operation.name'), c.operation);
    assert.equal(a.get('db.collection.name'), c.collection ?? undefined);
    assert.equal(a.get('airlock.policy'), c.policy ?? undefined);
    assert.equal(a.get('airlock.rule'), c.rule ?? undefined);
    assert.equal(a.get('airlock.decision'), c.decision);
    assert.equal(a.get('airlock.rolled_back'), c.rolledBack);
    assert.deepEqual(a.get('airlock.masked_columns'), c.maskedColumns);
  }
});

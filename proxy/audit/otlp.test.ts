import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { decodeSpan, exportRequest, hrTime, sessionCommonAttributes, splitExportRequest, statementAttributes, statementSpanName,
  statementStatus, truncateUtf8 } from './otlp.ts';
import { PbDecodeError, PbReader } from './protobuf.ts';
import { session, statement } from './testdata/records.ts';

function sdk(): { provider: TracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  return { provider: new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }), exporter };
}

test('truncateUtf8: a prefix of whole characters, at most maxBytes, the longest such; null when it fits', () => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 0, max: 400 }), (text, max) => {
    const cut = truncateUtf8(text, max);
    const bytes = Buffer.byteLength(text);
    if (bytes <= max) { assert.equal(cut, null); return; }
    assert.notEqual(cut, null);
    assert.ok(Buffer.byteLength(cut!) <= max);
    assert.ok(text.startsWith(cut!), 'a prefix');
    assert.equal(Buffer.from(cut!, 'utf8').toString('utf8'), cut, 'no half character');
    const next = text.codePointAt(cut!.length)!;
    assert.ok(Buffer.byteLength(cut!) + Buffer.byteLength(String.fromCodePoint(next)) > max, 'the longest prefix');
  }), { numRuns: 500 });
});

test('hrTime keeps microseconds exactly', () => {
  assert.deepEqual(hrTime(1_700_000_000_000.123), [1_700_000_000, 123_000]);
  assert.deepEqual(hrTime(1_700_000_000_999.9995), [1_700_000_001, 0]);
  assert.deepEqual(hrTime(0), [0, 0]);
});

test('a request cut into spans and put back together is byte for byte what the SDK serialized', () => {
  const { provider, exporter } = sdk();
  const tracer = provider.getTracer('airlock.dev/audit');
  fc.assert(fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 3000 }), { minLength: 1, maxLength: 20 }), (texts) => {
    exporter.reset();
    const root = tracer.startSpan('session orders', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
    for (const t of texts) tracer.startSpan('SELECT', { attributes: { 'db.query.text': t } }, trace.setSpan(ROOT_CONTEXT, root)).end();
    root.end();
    const spans = exporter.getFinishedSpans();
    const request = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans as ReadableSpan[])!);
    const { envelope, spans: cut } = splitExportRequest(request);
    assert.equal(cut.length, spans.length);
    assert.deepEqual(exportRequest(envelope, cut), request);
    for (const [i, s] of spans.entries()) {
      const v = decodeSpan(cut[i]!);
      assert.equal(v.spanId, s.spanContext().spanId);
      assert.equal(v.traceId, s.spanContext().traceId);
      assert.equal(v.parentSpanId, s.parentSpanContext?.spanId ?? '');
      if (i < texts.length) assert.equal(v.attributes.get('db.query.text'), texts[i]);
    }
    // Any subset re-sends as a valid request of the same envelope.
    assert.deepEqual(splitExportRequest(exportRequest(envelope, cut.slice(1))).spans, cut.slice(1));
  }), { numRuns: 50 });
});

test('splitExportRequest refuses what it could not put back together: two scopes, garbage, no envelope', () => {
  const { provider, exporter } = sdk();
  provider.getTracer('a').startSpan('x').end();
  provider.getTracer('b').startSpan('y').end();
  const two = ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans() as ReadableSpan[])!;
  assert.throws(() => splitExportRequest(two), /more than one instrumentation scope/);
  assert.throws(() => splitExportRequest(Buffer.from([0x0a, 0x7f])), PbDecodeError);
  assert.throws(() => splitExportRequest(Buffer.alloc(0)), /without resource or scope/);
  assert.throws(() => splitExportRequest(Buffer.from([0x10, 0x01])), /unexpected request field 2/);
});

test('statement attributes and status follow each record: nulls are left out, decisions and errors show', () => {
  const common = sessionCommonAttributes(session('0123456789abcdef'));
  assert.deepEqual(common, {
    'db.system.name': 'postgresql', 'db.namespace': 'orders', 'server.address': 'orders-pg.db.svc', 'server.port': 5432,
    'airlock.subject': 'system:serviceaccount:ml:trainer',
  });
  const allow = statement('0123456789abcdef', 1);
  assert.deepEqual(statementAttributes(common, allow, 1024), {
    ...common, 'db.operation.name': 'SELECT', 'db.collection.name': 'public.orders', 'db.query.text': allow.queryText,
    'airlock.decision': 'allow', 'airlock.policy': 'trainer', 'airlock.rule': 'read-app-tables', 'airlock.masked_columns': [],
    'airlock.rows': 1, 'airlock.rolled_back': false,
  });
  assert.equal(statementStatus(allow), null, 'UNSET on success');
  assert.equal(statementSpanName(allow, 'orders'), 'SELECT orders.public.orders');

  const deny = statement('0123456789abcdef', 2, {
    operation: 'DROP', collection: null, decision: 'deny', policy: 'p2', rule: null, reason: 'destructive operation', rows: null,
    statusCode: '42501', maskedColumns: ['public.c.ssn'], rolledBack: true, accessRequest: 'ml/req-1',
  });
  const a = statementAttributes(common, deny, 1024);
  assert.equal(a['db.collection.name'], undefined);
  assert.equal(a['airlock.rule'], undefined);
  assert.equal(a['airlock.rows'], undefined);
  assert.equal(a['db.response.status_code'], '42501');
  assert.equal(a['error.type'], '42501');
  assert.equal(a['airlock.reason'], 'destructive operation');
  assert.deepEqual(a['airlock.masked_columns'], ['public.c.ssn']);
  assert.equal(a['airlock.access_request'], 'ml/req-1');
  assert.equal(a['airlock.rolled_back'], true);
  assert.deepEqual(statementStatus(deny), { code: 2, message: 'destructive operation' });
  assert.equal(statementSpanName(deny, 'orders'), 'DROP orders');
  assert.deepEqual(statementStatus(statement('x', 3, { statusCode: '23505' })), { code: 2, message: 'SQLSTATE 23505' });
  assert.deepEqual(statementStatus(statement('x', 4, { decision: 'deny' })), { code: 2, message: 'denied' });

  const long = statementAttributes(common, statement('x', 5, { queryText: 'é'.repeat(100) }), 51);
  assert.equal(long['db.query.text'], 'é'.repeat(25));
  assert.equal(long['airlock.query_text_truncated'], true);
});

test('the reader refuses truncated input instead of reading past it', () => {
  const v = new PbReader(Buffer.from([0x08, 0x80]));       // field 1 varint whose continuation never comes
  assert.equal(v.next(), true);
  assert.throws(() => v.varint(), /truncated varint/);
  const r = new PbReader(Buffer.from([0x39, 1, 2]));      // field 7 fixed64 with 2 of 8 bytes
  r.next();
  assert.throws(() => r.fixed64(), /truncated fixed64/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { decodePartialSuccess, decodeSpan, exportRequest, splitExportRequest } from './otlp.ts';
import { PbDecodeError, PbReader } from './protobuf.ts';

function sdk(): { provider: TracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  return { provider: new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }), exporter };
}

test('a request cut into spans and put back together is byte for byte what the SDK serialized', () => {
  const { provider, exporter } = sdk();
  const tracer = provider.getTracer('airlock.dev/audit');
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'grapheme', maxLength: 3000 }), { minLength: 1, maxLength: 20 }),
      (texts) => {
        exporter.reset();
        const root = tracer.startSpan('session orders', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
        for (const t of texts)
          tracer.startSpan('SELECT', { attributes: { 'db.query.text': t } }, trace.setSpan(ROOT_CONTEXT, root)).end();
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
      },
    ),
    { numRuns: 50 },
  );
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

test('partial success is read from ExportTraceServiceResponse, as the SDK reads it; unknown fields are skipped', () => {
  const msg = Buffer.from('bad span');
  const inner = Buffer.concat([Buffer.from([0x08, 0x03, 0x12, msg.length]), msg, Buffer.from([0x18, 0x01])]);
  const body = Buffer.concat([Buffer.from([0x0a, inner.length]), inner, Buffer.from([0x10, 0x05])]);
  assert.deepEqual(decodePartialSuccess(body), { rejectedSpans: 3, errorMessage: 'bad span' });
  assert.deepEqual(ProtobufTraceSerializer.deserializeResponse(body).partialSuccess, {
    rejectedSpans: 3,
    errorMessage: 'bad span',
  });
  assert.deepEqual(decodePartialSuccess(Buffer.alloc(0)), { rejectedSpans: 0, errorMessage: '' });
  assert.throws(() => decodePartialSuccess(Buffer.from([0x0a, 0x7f])), /past the end/);
});

test('the reader refuses truncated input instead of reading past it', () => {
  const v = new PbReader(Buffer.from([0x08, 0x80])); // field 1 varint whose continuation never comes
  assert.equal(v.next(), true);
  assert.throws(() => v.varint(), /truncated varint/);
  const r = new PbReader(Buffer.from([0x39, 1, 2])); // field 7 fixed64 with 2 of 8 bytes
  r.next();
  assert.throws(() => r.fixed64(), /truncated fixed64/);
});

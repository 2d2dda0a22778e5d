// OTLP trace wire format around the OpenTelemetry SDK for Node. Spans are made by the SDK's tracer
// (@opentelemetry/sdk-trace, encoder.ts, with attributes.ts) and encoded by its OTLP protobuf serializer
// (@opentelemetry/otlp-transformer); this file holds what the spool and the exporter need, and imports no
// OpenTelemetry package, so the proxy's main thread (spool + export) never loads the SDK:
//   - cutting one serialized ExportTraceServiceRequest into its Span messages, so the spool keeps one record
//     per span and the exporter can resend any subset of them: an export request is the SDK-encoded resource
//     and scope fields around SDK-encoded spans, byte for byte what the serializer itself would write;
//   - reading a spooled span back (`airlock audit tail`, tests).
// A span is serialized once, when it is spooled; a retry or a re-send after a restart sends those same bytes,
// span ids included (at-least-once delivery; a backend de-duplicates on trace id + span id).
import { PbDecodeError, PbReader, putVarint, varintSize, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf.ts';

/** First byte of a spool record: what the span bytes after it are. Room for new kinds or encodings. */
export const KIND_STATEMENT_SPAN = 1;
export const KIND_SESSION_SPAN = 2;
/** A span some other code made with the sink's tracer, e.g. the operator's action spans (operator/record.ts). */
export const KIND_PLAIN_SPAN = 3;

// trace.proto Span fields (reading side)
const SPAN_TRACE_ID = 1,
  SPAN_SPAN_ID = 2,
  SPAN_PARENT_SPAN_ID = 4,
  SPAN_NAME = 5,
  SPAN_KIND = 6;
const SPAN_START = 7,
  SPAN_END = 8,
  SPAN_ATTRIBUTES = 9,
  SPAN_STATUS = 15;
const STATUS_MESSAGE = 2,
  STATUS_CODE = 3;
/** OTLP Span.kind CLIENT as it appears on the wire (the API's SpanKind enum is one less). */
export const SPAN_KIND_CLIENT = 3;
// common.proto
const KV_KEY = 1,
  KV_VALUE = 2;
const ANY_STRING = 1,
  ANY_BOOL = 2,
  ANY_INT = 3,
  ANY_DOUBLE = 4,
  ANY_ARRAY = 5;
const ARRAY_VALUES = 1;

/** The instrumentation scope (tracer name) the proxy's audit spans are exported under. */
export const AUDIT_SCOPE_NAME = 'airlock.dev/audit';

/**
 * db.query.text is cut to this many UTF-8 bytes (never inside a character) and the span gets
 * airlock.query_text_truncated=true. 16 KiB keeps a span well under backends' attribute limits while
 * holding any normalized statement a person would read; a 10 MB `IN (…)` list is not worth 10 MB per span.
 */
export const DEFAULT_MAX_QUERY_TEXT_BYTES = 16 * 1024;

/** The constant parts of every request, as the SDK serialized them: Resource and InstrumentationScope. */
export interface RequestEnvelope {
  readonly resourceField: Buffer; // ResourceSpans.resource, tag and length included
  readonly scopeField: Buffer; // ScopeSpans.scope, tag and length included
}

/**
 * Cuts an ExportTraceServiceRequest the SDK serialized into its envelope and its Span messages (bodies, as
 * views into `request`). Exactly one resource and one scope: a sink's spans all come from its own tracer,
 * and anything else (schema urls, a second scope) would not survive the cut, so it is refused.
 */
export function splitExportRequest(request: Uint8Array): { envelope: RequestEnvelope; spans: Buffer[] } {
  const buf = Buffer.from(request.buffer, request.byteOffset, request.byteLength);
  const spans: Buffer[] = [];
  let resourceField: Buffer | null = null;
  let scopeField: Buffer | null = null;
  const req = new PbReader(buf);
  let resources = 0;
  while (req.next()) {
    if (req.field !== 1 || req.wire !== WIRE_LEN) throw new PbDecodeError(`unexpected request field ${req.field}`);
    if (++resources > 1) throw new PbDecodeError('more than one resource in one request');
    const rs = req.lengthDelimited();
    const r = new PbReader(rs);
    let scopes = 0;
    for (let at = r.pos; r.next(); at = r.pos) {
      if (r.field === 1 && r.wire === WIRE_LEN) {
        r.lengthDelimited();
        resourceField = rs.subarray(at, r.pos);
        continue;
      }
      if (r.field !== 2 || r.wire !== WIRE_LEN) throw new PbDecodeError(`unexpected ResourceSpans field ${r.field}`);
      if (++scopes > 1) throw new PbDecodeError('more than one instrumentation scope in one request');
      const ss = r.lengthDelimited();
      const s = new PbReader(ss);
      for (let sat = s.pos; s.next(); sat = s.pos) {
        if (s.field === 1 && s.wire === WIRE_LEN) {
          s.lengthDelimited();
          scopeField = ss.subarray(sat, s.pos);
          continue;
        }
        if (s.field !== 2 || s.wire !== WIRE_LEN) throw new PbDecodeError(`unexpected ScopeSpans field ${s.field}`);
        spans.push(s.lengthDelimited());
      }
    }
  }
  if (resourceField === null || scopeField === null) throw new PbDecodeError('request without resource or scope');
  return { envelope: { resourceField, scopeField }, spans };
}

/**
 * ExportTraceServiceRequest { resource_spans: [{ resource, scope_spans: [{ scope, spans }] }] }, sized exactly.
 * `skip`: bytes before each span in `spans` (1 for spool payloads: their kind byte). With `into`, the request is
 * written into it when it fits (a view of it is returned): the sink reuses one buffer for its requests.
 */
export function exportRequest(env: RequestEnvelope, spans: readonly Buffer[], skip = 0, into?: Buffer): Buffer {
  let spansSize = 0;
  for (const s of spans) spansSize += 1 + varintSize(s.length - skip) + s.length - skip;
  const ss = env.scopeField.length + spansSize;
  const rs = env.resourceField.length + 1 + varintSize(ss) + ss;
  const size = 1 + varintSize(rs) + rs;
  const out = into !== undefined && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = (1 << 3) | WIRE_LEN; // ExportTraceServiceRequest.resource_spans
  at = putVarint(out, at, rs);
  at += env.resourceField.copy(out, at);
  out[at++] = (2 << 3) | WIRE_LEN; // ResourceSpans.scope_spans
  at = putVarint(out, at, ss);
  at += env.scopeField.copy(out, at);
  for (const s of spans) {
    out[at++] = (2 << 3) | WIRE_LEN; // ScopeSpans.spans
    at = putVarint(out, at, s.length - skip);
    at += s.copy(out, at, skip);
  }
  return out;
}

/**
 * ExportTraceServiceResponse.partial_success: spans the collector refused for good (OTLP "Partial Success").
 * Read here rather than with the SDK's deserializer so the proxy's main thread, which only exports, never
 * loads the SDK (~24 MiB). Throws PbDecodeError on bad input.
 */
export function decodePartialSuccess(body: Buffer): { rejectedSpans: number; errorMessage: string } {
  let rejectedSpans = 0;
  let errorMessage = '';
  const r = new PbReader(body);
  while (r.next()) {
    if (r.field === 1 && r.wire === WIRE_LEN) {
      const p = new PbReader(r.lengthDelimited());
      while (p.next()) {
        if (p.field === 1 && p.wire === WIRE_VARINT) rejectedSpans = p.varint();
        else if (p.field === 2 && p.wire === WIRE_LEN) errorMessage = p.lengthDelimited().toString('utf8');
        else p.skip();
      }
    } else r.skip();
  }
  return { rejectedSpans, errorMessage };
}

export type AttrValue = string | number | boolean | readonly AttrValue[];

/** A decoded span: what `audit tail` and the tests read back. */
export interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Map<string, AttrValue>;
  statusCode: number;
  statusMessage: string;
}

function decodeAny(b: Buffer): AttrValue {
  const r = new PbReader(b);
  let v: AttrValue = '';
  while (r.next()) {
    if (r.field === ANY_STRING && r.wire === WIRE_LEN) v = r.lengthDelimited().toString('utf8');
    else if (r.field === ANY_BOOL && r.wire === WIRE_VARINT) v = r.varint() !== 0;
    else if (r.field === ANY_INT && r.wire === WIRE_VARINT) v = r.varint();
    else if (r.field === ANY_DOUBLE && r.wire === WIRE_I64) v = r.double();
    else if (r.field === ANY_ARRAY && r.wire === WIRE_LEN) {
      const a = new PbReader(r.lengthDelimited());
      const items: AttrValue[] = [];
      while (a.next()) {
        if (a.field === ARRAY_VALUES && a.wire === WIRE_LEN) items.push(decodeAny(a.lengthDelimited()));
        else a.skip();
      }
      v = items;
    } else r.skip();
  }
  return v;
}

/** Decodes the Span fields `audit tail` and the tests read; other fields are skipped. Throws PbDecodeError on bad input. */
export function decodeSpan(b: Buffer): SpanView {
  const v: SpanView = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: new Map(),
    statusCode: 0,
    statusMessage: '',
  };
  const r = new PbReader(b);
  while (r.next()) {
    switch (r.wire === WIRE_LEN || r.wire === WIRE_VARINT || r.wire === WIRE_I64 ? r.field : -1) {
      case SPAN_TRACE_ID:
        v.traceId = r.lengthDelimited().toString('hex');
        break;
      case SPAN_SPAN_ID:
        v.spanId = r.lengthDelimited().toString('hex');
        break;
      case SPAN_PARENT_SPAN_ID:
        v.parentSpanId = r.lengthDelimited().toString('hex');
        break;
      case SPAN_NAME:
        v.name = r.lengthDelimited().toString('utf8');
        break;
      case SPAN_KIND:
        v.kind = r.varint();
        break;
      case SPAN_START:
        v.startTimeUnixNano = r.fixed64();
        break;
      case SPAN_END:
        v.endTimeUnixNano = r.fixed64();
        break;
      case SPAN_ATTRIBUTES: {
        const kv = new PbReader(r.lengthDelimited());
        let key = '';
        let value: AttrValue = '';
        while (kv.next()) {
          if (kv.field === KV_KEY && kv.wire === WIRE_LEN) key = kv.lengthDelimited().toString('utf8');
          else if (kv.field === KV_VALUE && kv.wire === WIRE_LEN) value = decodeAny(kv.lengthDelimited());
          else kv.skip();
        }
        v.attributes.set(key, value);
        break;
      }
      case SPAN_STATUS: {
        const st = new PbReader(r.lengthDelimited());
        while (st.next()) {
          if (st.field === STATUS_MESSAGE && st.wire === WIRE_LEN)
            v.statusMessage = st.lengthDelimited().toString('utf8');
          else if (st.field === STATUS_CODE && st.wire === WIRE_VARINT) v.statusCode = st.varint();
          else st.skip();
        }
        break;
      }
      default:
        r.skip();
    }
  }
  return v;
}

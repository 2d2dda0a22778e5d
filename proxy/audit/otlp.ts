// OTLP trace encoding (opentelemetry-proto, trace/v1/trace.proto and collector/trace/v1/trace_service.proto).
// A record is encoded once, into the `Span` message bytes that go into the spool; an export request is those
// bytes wrapped in one ResourceSpans/ScopeSpans, so a retry or a re-send after a restart sends the identical
// bytes, span ids included (at-least-once delivery; a backend de-duplicates on trace id + span id).
import { createHash } from 'node:crypto';
import type { SessionRecord, StatementRecord } from './types.ts';
import { PbReader, PbWriter, putVarint, varintSize, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf.ts';
import * as sc from './semconv.ts';

/** First byte of a spool record: what the span bytes after it are. Room for new kinds or encodings. */
export const KIND_STATEMENT_SPAN = 1;
export const KIND_SESSION_SPAN = 2;
/** A span encoded by the caller (encodeSpan), e.g. the operator's action spans (operator/record.ts). */
export const KIND_PLAIN_SPAN = 3;

// trace.proto Span fields
const SPAN_TRACE_ID = 1, SPAN_SPAN_ID = 2, SPAN_PARENT_SPAN_ID = 4, SPAN_NAME = 5, SPAN_KIND = 6;
const SPAN_START = 7, SPAN_END = 8, SPAN_ATTRIBUTES = 9, SPAN_STATUS = 15;
const STATUS_MESSAGE = 2, STATUS_CODE = 3;
export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_CODE_UNSET = 0;
export const STATUS_CODE_ERROR = 2;
// common.proto
const KV_KEY = 1, KV_VALUE = 2;
const ANY_STRING = 1, ANY_BOOL = 2, ANY_INT = 3, ANY_DOUBLE = 4, ANY_ARRAY = 5;
const ARRAY_VALUES = 1;

/**
 * db.query.text is cut to this many UTF-8 bytes (never inside a character) and the span gets
 * airlock.query_text_truncated=true. 16 KiB keeps a span well under backends' attribute limits while
 * holding any normalized statement a person would read; a 10 MB `IN (…)` list is not worth 10 MB per span.
 */
export const DEFAULT_MAX_QUERY_TEXT_BYTES = 16 * 1024;

/** What a session contributes to its statements' spans; built once per session. */
export interface SessionContext {
  readonly record: SessionRecord;
  /** The encoded attributes every statement span of the session repeats (db.system.name … airlock.subject). */
  readonly attributes: Buffer;
  readonly traceId: Buffer;      // 16 bytes
  readonly spanId: Buffer;       // 8 bytes
  /** Span.trace_id field, then the tag and length of span_id: a statement span's first bytes. */
  readonly head: Buffer;
  /** Span.parent_span_id field (this session's span id), written after the statement's own span id. */
  readonly parentField: Buffer;
  statements: number;            // statement spans encoded so far: the next one's ordinal is statements + 1
}

/**
 * Trace id = the sink's random 8-byte instance id ‖ the session id; session span id = the session id with the
 * top bit cleared; statement span id = top bit set ‖ ordinal within the session. Unique per process lifetime
 * (sessionId is unique per process, the instance id per process start) and fixed when the record is encoded,
 * so re-sends carry the same ids.
 */
export function sessionContext(instanceId: Buffer, record: SessionRecord): SessionContext {
  let sid = /^[0-9a-fA-F]{16}$/.test(record.sessionId) ? Buffer.from(record.sessionId, 'hex')
    : createHash('sha256').update(record.sessionId).digest().subarray(0, 8);
  const traceId = Buffer.concat([instanceId, sid]);
  sid = Buffer.from(sid);
  sid[0]! &= 0x7f;
  if (sid.every((b) => b === 0)) sid[7] = 1;    // an all-zero span id is invalid in OTLP
  const w = new PbWriter(512);
  sessionAttributes(w, record);
  const attributes = Buffer.from(w.buf.subarray(0, w.pos));
  w.reset();
  w.bytes(SPAN_TRACE_ID, traceId);
  w.tag(SPAN_SPAN_ID, WIRE_LEN);
  w.varint(8);
  const head = Buffer.from(w.buf.subarray(0, w.pos));
  w.reset();
  w.bytes(SPAN_PARENT_SPAN_ID, sid);
  const parentField = Buffer.from(w.buf.subarray(0, w.pos));
  return { record, attributes, traceId, spanId: sid, head, parentField, statements: 0 };
}

/** A stand-in for a statement whose session was never announced: its own trace, no session attributes. */
export function orphanContext(instanceId: Buffer, sessionId: string): SessionContext {
  return sessionContext(instanceId, {
    sessionId, subject: '', database: '', binding: '', serverAddress: '', serverPort: 0, clientAddress: '', startTimeMs: 0,
  });
}

/** Statement span id: top bit set ‖ ordinal, big-endian, written in place (no Buffer per span). */
function putStatementSpanId(w: PbWriter, ordinal: number): void {
  w.ensure(8);
  const b = w.buf;
  let at = w.pos;
  let hi = (0x80000000 | Math.floor(ordinal / 0x100000000)) >>> 0;
  let lo = ordinal >>> 0;
  for (let i = 3; i >= 0; i--) { b[at + i] = hi & 0xff; hi >>>= 8; }
  at += 4;
  for (let i = 3; i >= 0; i--) { b[at + i] = lo & 0xff; lo >>>= 8; }
  w.pos = at + 4;
}

/** epoch ms (fractional) → unix ns; via µs so the double stays exact (µs since 1970 < 2^53). */
export function msToNanos(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n;
}

// Attribute keys never change, so each KeyValue.key field (tag, length, UTF-8) is encoded once here and copied
// into every span; so are whole KeyValues whose value is constant too. A profile under pgbench had span
// encoding at ~13% of the proxy's busy CPU, most of it re-encoding these same strings per span.
type Key = Buffer;

function key(name: string): Key {
  const w = new PbWriter(64);
  w.string(KV_KEY, name);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** A whole Span.attributes field, encoded once. */
function constAttr(write: (w: PbWriter) => void): Buffer {
  const w = new PbWriter(64);
  write(w);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

const K = {
  dbSystemName: key(sc.ATTR_DB_SYSTEM_NAME),
  dbNamespace: key(sc.ATTR_DB_NAMESPACE),
  dbOperationName: key(sc.ATTR_DB_OPERATION_NAME),
  dbCollectionName: key(sc.ATTR_DB_COLLECTION_NAME),
  dbQueryText: key(sc.ATTR_DB_QUERY_TEXT),
  dbResponseStatusCode: key(sc.ATTR_DB_RESPONSE_STATUS_CODE),
  errorType: key(sc.ATTR_ERROR_TYPE),
  serverAddress: key(sc.ATTR_SERVER_ADDRESS),
  serverPort: key(sc.ATTR_SERVER_PORT),
  clientAddress: key(sc.ATTR_CLIENT_ADDRESS),
  subject: key(sc.ATTR_AIRLOCK_SUBJECT),
  policy: key(sc.ATTR_AIRLOCK_POLICY),
  rule: key(sc.ATTR_AIRLOCK_RULE),
  decision: key(sc.ATTR_AIRLOCK_DECISION),
  maskedColumns: key(sc.ATTR_AIRLOCK_MASKED_COLUMNS),
  rows: key(sc.ATTR_AIRLOCK_ROWS),
  accessRequest: key(sc.ATTR_AIRLOCK_ACCESS_REQUEST),
  reason: key(sc.ATTR_AIRLOCK_REASON),
  rolledBack: key(sc.ATTR_AIRLOCK_ROLLED_BACK),
  queryTextTruncated: key(sc.ATTR_AIRLOCK_QUERY_TEXT_TRUNCATED),
  binding: key(sc.ATTR_AIRLOCK_BINDING),
  sessionId: key(sc.ATTR_AIRLOCK_SESSION_ID),
  statements: key(sc.ATTR_AIRLOCK_STATEMENTS),
} as const;

const ATTR_DB_SYSTEM_POSTGRESQL = constAttr((w) => attrString(w, K.dbSystemName, sc.DB_SYSTEM_NAME_VALUE_POSTGRESQL));
const ATTR_TRUNCATED = constAttr((w) => attrBool(w, K.queryTextTruncated, true));
const ATTR_ROLLED_BACK = constAttr((w) => attrBool(w, K.rolledBack, true));
const ATTR_NOT_ROLLED_BACK = constAttr((w) => attrBool(w, K.rolledBack, false));
const ATTR_NO_MASKED_COLUMNS = constAttr((w) => attrStringArray(w, K.maskedColumns, []));
const ATTR_DECISION: Readonly<Record<string, Buffer>> = {
  allow: constAttr((w) => attrString(w, K.decision, 'allow')),
  deny: constAttr((w) => attrString(w, K.decision, 'deny')),
  approve: constAttr((w) => attrString(w, K.decision, 'approve')),
  warn: constAttr((w) => attrString(w, K.decision, 'warn')),
};
/** Span.kind = CLIENT, tag and value. */
const KIND_CLIENT_FIELD = constAttr((w) => { w.tag(SPAN_KIND, WIRE_VARINT); w.varint(SPAN_KIND_CLIENT); });

/**
 * The last value of one attribute and its whole encoded KeyValue field. Operation, collection, policy and rule
 * repeat from one statement to the next (the same compiled-policy strings, often the same object), so a
 * comparison usually replaces the encoding. Values over 128 characters are not kept.
 */
class Memo {
  readonly key: Key;
  value = '';
  field: Buffer = Buffer.alloc(0);
  constructor(k: Key) {
    this.key = k;
  }
}
const memoWriter = new PbWriter(1024);

function attrMemo(w: PbWriter, m: Memo, value: string): void {
  if (value !== m.value || m.field.length === 0) {
    if (value.length > 128) { attrString(w, m.key, value); return; }
    memoWriter.reset();
    attrString(memoWriter, m.key, value);
    m.value = value;
    m.field = Buffer.from(memoWriter.buf.subarray(0, memoWriter.pos));
  }
  w.raw(m.field);
}
const M = {
  operation: new Memo(K.dbOperationName),
  collection: new Memo(K.dbCollectionName),
  policy: new Memo(K.policy),
  rule: new Memo(K.rule),
};

function attrString(w: PbWriter, k: Key, value: string, maxBytes?: number): boolean {
  const kv = w.begin(SPAN_ATTRIBUTES);
  w.raw(k);
  const any = w.begin(KV_VALUE);
  const whole = w.string(ANY_STRING, value, maxBytes);
  w.end(any);
  w.end(kv);
  return whole;
}
function attrInt(w: PbWriter, k: Key, value: number): void {
  const kv = w.begin(SPAN_ATTRIBUTES);
  w.raw(k);
  const any = w.begin(KV_VALUE);
  if (Number.isSafeInteger(value) && value >= 0) w.int64(ANY_INT, value);
  else { w.tag(ANY_DOUBLE, WIRE_I64); w.ensure(8); w.buf.writeDoubleLE(value, w.pos); w.pos += 8; }
  w.end(any);
  w.end(kv);
}
function attrBool(w: PbWriter, k: Key, value: boolean): void {
  const kv = w.begin(SPAN_ATTRIBUTES);
  w.raw(k);
  const any = w.begin(KV_VALUE);
  w.bool(ANY_BOOL, value);
  w.end(any);
  w.end(kv);
}
function attrStringArray(w: PbWriter, k: Key, values: readonly string[]): void {
  const kv = w.begin(SPAN_ATTRIBUTES);
  w.raw(k);
  const any = w.begin(KV_VALUE);
  const arr = w.begin(ANY_ARRAY);
  for (const v of values) {
    const item = w.begin(ARRAY_VALUES);
    w.string(ANY_STRING, v);
    w.end(item);
  }
  w.end(arr);
  w.end(any);
  w.end(kv);
}

function status(w: PbWriter, code: number, message: string): void {
  const st = w.begin(SPAN_STATUS);
  if (message !== '') w.string(STATUS_MESSAGE, message);
  w.tag(STATUS_CODE, WIRE_VARINT);
  w.varint(code);
  w.end(st);
}

function sessionAttributes(w: PbWriter, s: SessionRecord): void {
  w.raw(ATTR_DB_SYSTEM_POSTGRESQL);
  if (s.database !== '') attrString(w, K.dbNamespace, s.database);
  if (s.serverAddress !== '') attrString(w, K.serverAddress, s.serverAddress);
  if (s.serverPort > 0) attrInt(w, K.serverPort, s.serverPort);
  if (s.subject !== '') attrString(w, K.subject, s.subject);
}

/**
 * Appends one statement span (the Span message body, unframed) to w.
 * Name `<operation> <db>.<table>` (design.md "Audit spans"), kind CLIENT: the proxy is the database's client,
 * as an instrumented driver would be. Status ERROR, with the reason (or SQLSTATE) as message, for a deny or a
 * failed statement; otherwise UNSET, as the OTel spec asks of instrumentations on success.
 * Fields are written in field-number order, as the protobuf spec asks of serializers.
 */
export function encodeStatementSpan(w: PbWriter, ctx: SessionContext, r: StatementRecord, maxQueryTextBytes: number): void {
  const db = ctx.record.database;
  ctx.statements++;
  w.raw(ctx.head);
  putStatementSpanId(w, ctx.statements);
  w.raw(ctx.parentField);
  // The name is written piecewise rather than built as a string first.
  const name = w.begin(SPAN_NAME);
  w.text(r.operation);
  if (db !== '' || r.collection !== null) w.byte(0x20);
  if (db !== '') {
    w.text(db);
    if (r.collection !== null) w.byte(0x2e);
  }
  if (r.collection !== null) w.text(r.collection);
  w.end(name);
  w.raw(KIND_CLIENT_FIELD);
  const startUs = Math.round(r.startTimeMs * 1000);
  w.fixed64Nanos(SPAN_START, startUs);
  w.fixed64Nanos(SPAN_END, r.durationMs > 0 ? Math.round((r.startTimeMs + r.durationMs) * 1000) : startUs);

  w.raw(ctx.attributes);
  attrMemo(w, M.operation, r.operation);
  if (r.collection !== null) attrMemo(w, M.collection, r.collection);
  if (!attrString(w, K.dbQueryText, r.queryText, maxQueryTextBytes)) w.raw(ATTR_TRUNCATED);
  if (r.statusCode !== null) {
    attrString(w, K.dbResponseStatusCode, r.statusCode);
    attrString(w, K.errorType, r.statusCode);
  }
  const decision = ATTR_DECISION[r.decision];
  if (decision !== undefined) w.raw(decision);
  else attrString(w, K.decision, r.decision);
  if (r.policy !== null) attrMemo(w, M.policy, r.policy);
  if (r.rule !== null) attrMemo(w, M.rule, r.rule);
  if (r.reason !== null) attrString(w, K.reason, r.reason);
  if (r.maskedColumns.length === 0) w.raw(ATTR_NO_MASKED_COLUMNS);
  else attrStringArray(w, K.maskedColumns, r.maskedColumns);
  if (r.rows !== null) attrInt(w, K.rows, r.rows);
  if (r.accessRequest !== null) attrString(w, K.accessRequest, r.accessRequest);
  w.raw(r.rolledBack ? ATTR_ROLLED_BACK : ATTR_NOT_ROLLED_BACK);

  if (r.decision === 'deny') {
    status(w, STATUS_CODE_ERROR, r.reason ?? (r.statusCode === null ? 'denied' : `SQLSTATE ${r.statusCode}`));
  } else if (r.statusCode !== null) {
    status(w, STATUS_CODE_ERROR, r.reason ?? `SQLSTATE ${r.statusCode}`);
  }
}

/**
 * Appends the session span: name `session <db>`, kind SERVER (the proxy serves the client's connection and
 * makes CLIENT calls to PostgreSQL on its behalf, the shape OTel gives a server that calls a database).
 * It is written when the session ends, since a span is immutable once exported; its children arrive first.
 */
export function encodeSessionSpan(w: PbWriter, ctx: SessionContext, endTimeMs: number): void {
  const s = ctx.record;
  w.bytes(SPAN_TRACE_ID, ctx.traceId);
  w.bytes(SPAN_SPAN_ID, ctx.spanId);
  w.string(SPAN_NAME, `session ${s.database}`);
  w.tag(SPAN_KIND, WIRE_VARINT);
  w.varint(SPAN_KIND_SERVER);
  w.fixed64(SPAN_START, msToNanos(s.startTimeMs));
  w.fixed64(SPAN_END, msToNanos(Math.max(endTimeMs, s.startTimeMs)));
  w.raw(ctx.attributes);
  if (s.clientAddress !== '') attrString(w, K.clientAddress, s.clientAddress);
  if (s.binding !== '') attrString(w, K.binding, s.binding);
  attrString(w, K.sessionId, s.sessionId);
  attrInt(w, K.statements, ctx.statements);
}

/** A span given field by field: what a caller other than the proxy's sessions exports (operator/record.ts). */
export interface PlainSpan {
  readonly traceId: Buffer;      // 16 bytes
  readonly spanId: Buffer;       // 8 bytes
  readonly name: string;
  readonly kind: number;         // SPAN_KIND_*
  readonly startTimeMs: number;  // epoch ms
  readonly endTimeMs: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly status?: { readonly code: number; readonly message: string };
}

/** Appends one Span message body (unframed) for SpoolingAuditSink.span(); fields in field-number order. */
export function encodeSpan(w: PbWriter, s: PlainSpan): void {
  w.bytes(SPAN_TRACE_ID, s.traceId);
  w.bytes(SPAN_SPAN_ID, s.spanId);
  w.string(SPAN_NAME, s.name);
  w.tag(SPAN_KIND, WIRE_VARINT);
  w.varint(s.kind);
  w.fixed64(SPAN_START, msToNanos(s.startTimeMs));
  w.fixed64(SPAN_END, msToNanos(Math.max(s.endTimeMs, s.startTimeMs)));
  for (const [k, v] of Object.entries(s.attributes)) {
    if (typeof v === 'string') attrString(w, key(k), v);
    else if (typeof v === 'boolean') attrBool(w, key(k), v);
    else attrInt(w, key(k), v);
  }
  if (s.status !== undefined) status(w, s.status.code, s.status.message);
}

/** The constant parts of every request: Resource (service.name, service.instance.id) and InstrumentationScope. */
export interface RequestEnvelope {
  readonly resourceField: Buffer;   // ResourceSpans.resource, tag and length included
  readonly scopeField: Buffer;      // ScopeSpans.scope, tag and length included
}

export function requestEnvelope(serviceName: string, instanceId: Buffer): RequestEnvelope {
  const w = new PbWriter(256);
  const res = w.begin(1);
  const attr = (k: string, v: string): void => {
    const kv = w.begin(1);
    w.string(KV_KEY, k);
    const any = w.begin(KV_VALUE);
    w.string(ANY_STRING, v);
    w.end(any);
    w.end(kv);
  };
  attr(sc.ATTR_SERVICE_NAME, serviceName);
  attr(sc.ATTR_SERVICE_INSTANCE_ID, instanceId.toString('hex'));
  w.end(res);
  const resourceField = Buffer.from(w.buf.subarray(0, w.pos));
  w.reset();
  const scope = w.begin(1);
  w.string(1, sc.SCOPE_NAME);
  w.end(scope);
  return { resourceField, scopeField: Buffer.from(w.buf.subarray(0, w.pos)) };
}

/** ExportTraceServiceRequest { resource_spans: [{ resource, scope_spans: [{ scope, spans }] }] }, sized exactly. */
export function exportRequest(env: RequestEnvelope, spans: readonly Buffer[]): Buffer {
  let spansSize = 0;
  for (const s of spans) spansSize += 1 + varintSize(s.length) + s.length;
  const ss = env.scopeField.length + spansSize;
  const rs = env.resourceField.length + 1 + varintSize(ss) + ss;
  const out = Buffer.allocUnsafe(1 + varintSize(rs) + rs);
  let at = 0;
  out[at++] = (1 << 3) | WIRE_LEN;                 // ExportTraceServiceRequest.resource_spans
  at = putVarint(out, at, rs);
  at += env.resourceField.copy(out, at);
  out[at++] = (2 << 3) | WIRE_LEN;                 // ResourceSpans.scope_spans
  at = putVarint(out, at, ss);
  at += env.scopeField.copy(out, at);
  for (const s of spans) {
    out[at++] = (2 << 3) | WIRE_LEN;               // ScopeSpans.spans
    at = putVarint(out, at, s.length);
    at += s.copy(out, at);
  }
  return out;
}

/** ExportTraceServiceResponse.partial_success: spans the collector refused for good (OTLP spec "Partial Success"). */
export function decodePartialSuccess(body: Buffer): { rejectedSpans: number; errorMessage: string } {
  let rejectedSpans = 0;
  let errorMessage = '';
  const r = new PbReader(body);
  while (r.next()) {
    if (r.field === 1 && r.wire === WIRE_LEN) {
      const ps = r.lengthDelimited();
      const p = new PbReader(ps);
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

/** Decodes the Span fields this exporter writes; other fields are skipped. Throws PbDecodeError on bad input. */
export function decodeSpan(b: Buffer): SpanView {
  const v: SpanView = {
    traceId: '', spanId: '', parentSpanId: '', name: '', kind: 0, startTimeUnixNano: 0n, endTimeUnixNano: 0n,
    attributes: new Map(), statusCode: 0, statusMessage: '',
  };
  const r = new PbReader(b);
  while (r.next()) {
    switch (r.wire === WIRE_LEN || r.wire === WIRE_VARINT || r.wire === WIRE_I64 ? r.field : -1) {
      case SPAN_TRACE_ID: v.traceId = r.lengthDelimited().toString('hex'); break;
      case SPAN_SPAN_ID: v.spanId = r.lengthDelimited().toString('hex'); break;
      case SPAN_PARENT_SPAN_ID: v.parentSpanId = r.lengthDelimited().toString('hex'); break;
      case SPAN_NAME: v.name = r.lengthDelimited().toString('utf8'); break;
      case SPAN_KIND: v.kind = r.varint(); break;
      case SPAN_START: v.startTimeUnixNano = r.fixed64(); break;
      case SPAN_END: v.endTimeUnixNano = r.fixed64(); break;
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
          if (st.field === STATUS_MESSAGE && st.wire === WIRE_LEN) v.statusMessage = st.lengthDelimited().toString('utf8');
          else if (st.field === STATUS_CODE && st.wire === WIRE_VARINT) v.statusCode = st.varint();
          else st.skip();
        }
        break;
      }
      default: r.skip();
    }
  }
  return v;
}

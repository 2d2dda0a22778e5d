// The proxy's audit spans, written straight into spool frames on the thread that relays statements: the bytes
// the OpenTelemetry SDK's tracer + ProtobufTraceSerializer would write for the same spans (same field order,
// same varint forms, the attribute order of attributes.ts), without an SDK Span object, an attributes object,
// hex ids, or a hand-over to another thread. The SDK stays the reference: lean-span.test.ts encodes the same
// records both ways (encoder.ts's SpanEncoder is the SDK path) with the same ids and compares the bytes of
// statement spans, session spans and the request envelope. Measured in docs/performance.md.
//
// Per statement: one frame appended to a reused, growing buffer; no allocation beyond the record the session
// built. Per session: its ids and its common attributes, encoded once, which every statement span repeats. Per
// statement shape (normalized text): its name and its statement and decision attributes, encoded once, which
// every run of it repeats (ShapeBytes).
// Loads no OpenTelemetry package (the proxy's main thread loads none, sink.test.ts checks it); the attribute
// names are written out here and checked against @opentelemetry/semantic-conventions by the byte comparison and
// by name (lean-span.test.ts).
import { randomFillSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import type { SessionRecord, StatementRecord } from './types.ts';
import { truncateUtf8 } from './values.ts';
import { KIND_SESSION_SPAN, KIND_STATEMENT_SPAN, type RequestEnvelope } from './otlp.ts';
import { FRAME_HEADER_BYTES } from './spool.ts';

/** Attribute names, keyed by the @opentelemetry/semantic-conventions (or semconv.ts) constant they must equal. */
export const NAMES = {
  ATTR_DB_SYSTEM_NAME: 'db.system.name',
  DB_SYSTEM_NAME_VALUE_POSTGRESQL: 'postgresql',
  ATTR_DB_NAMESPACE: 'db.namespace',
  ATTR_SERVER_ADDRESS: 'server.address',
  ATTR_SERVER_PORT: 'server.port',
  ATTR_AIRLOCK_SUBJECT: 'airlock.subject',
  ATTR_CLIENT_ADDRESS: 'client.address',
  ATTR_AIRLOCK_BINDING: 'airlock.binding',
  ATTR_AIRLOCK_SESSION_ID: 'airlock.session.id',
  ATTR_AIRLOCK_STATEMENTS: 'airlock.statements',
  ATTR_DB_OPERATION_NAME: 'db.operation.name',
  ATTR_DB_COLLECTION_NAME: 'db.collection.name',
  ATTR_DB_QUERY_TEXT: 'db.query.text',
  ATTR_AIRLOCK_QUERY_TEXT_TRUNCATED: 'airlock.query_text_truncated',
  ATTR_DB_RESPONSE_STATUS_CODE: 'db.response.status_code',
  ATTR_ERROR_TYPE: 'error.type',
  ATTR_AIRLOCK_DECISION: 'airlock.decision',
  ATTR_AIRLOCK_POLICY: 'airlock.policy',
  ATTR_AIRLOCK_RULE: 'airlock.rule',
  ATTR_AIRLOCK_REASON: 'airlock.reason',
  ATTR_AIRLOCK_MASKED_COLUMNS: 'airlock.masked_columns',
  ATTR_AIRLOCK_ROWS: 'airlock.rows',
  ATTR_AIRLOCK_ACCESS_REQUEST: 'airlock.access_request',
  ATTR_AIRLOCK_ROLLED_BACK: 'airlock.rolled_back',
  ATTR_SERVICE_NAME: 'service.name',
  ATTR_SERVICE_INSTANCE_ID: 'service.instance.id',
  ATTR_TELEMETRY_SDK_LANGUAGE: 'telemetry.sdk.language',
  ATTR_TELEMETRY_SDK_NAME: 'telemetry.sdk.name',
  ATTR_TELEMETRY_SDK_VERSION: 'telemetry.sdk.version',
} as const;

// Protobuf field keys (field << 3 | wire type) of trace.proto / common.proto, as single bytes.
const SPAN_TRACE_ID = 0x0a,
  SPAN_SPAN_ID = 0x12,
  SPAN_PARENT = 0x22,
  SPAN_NAME = 0x2a,
  SPAN_KIND = 0x30;
const SPAN_START = 0x39,
  SPAN_END = 0x41,
  SPAN_ATTR = 0x4a,
  SPAN_DROPPED_ATTRS = 0x50,
  SPAN_DROPPED_EVENTS = 0x60;
const SPAN_DROPPED_LINKS = 0x70,
  SPAN_STATUS = 0x7a;
/** Span.flags is field 16, wire type fixed32: a two-byte key. */
const SPAN_FLAGS_KEY0 = 0x85,
  SPAN_FLAGS_KEY1 = 0x01;
const STATUS_MESSAGE = 0x12,
  STATUS_CODE = 0x18;
const KV_VALUE = 0x12;
const ANY_STRING = 0x0a,
  ANY_BOOL = 0x10,
  ANY_INT = 0x18,
  ANY_DOUBLE = 0x21,
  ANY_ARRAY = 0x2a,
  ARRAY_VALUE = 0x0a;
/** Span.kind on the wire (the API's SpanKind + 1). */
const KIND_SERVER = 2,
  KIND_CLIENT = 3;
/** Sampled trace flags | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK: every parent here is local. */
const SPAN_FLAGS = 0x01 | 0x100;
const STATUS_ERROR = 2;

/** A growable buffer with the protobuf writes spans need. Reused across spans and batches. */
export class LeanWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }
  /** A varint as the SDK's ProtobufWriter.writeVarint writes it (negative: 64-bit two's complement, 10 bytes). */
  varint(value: number): void {
    this.room(10);
    const buf = this.buf;
    if (value >= 0 && value <= 4294967295) {
      let v = value >>> 0;
      while (v > 127) {
        buf[this.pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 4294967296) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 4294967296) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      buf[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 127;
  }
  raw(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    if (n > 32) {
      this.buf.set(b, this.pos);
      this.pos += n;
      return;
    }
    const buf = this.buf; // ids and attribute names: a loop beats the native call
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = b[i]!;
    this.pos = p;
  }
  /** The UTF-8 bytes of s, no length (ill-formed UTF-16 becomes U+FFFD, as TextEncoder makes it for the SDK). */
  chars(s: string): void {
    const n = s.length;
    this.room(n * 3);
    const buf = this.buf;
    if (n <= 64) {
      // short strings: a JS loop beats the native call; most names and texts are ASCII
      let p = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        buf[p++] = c;
      }
      if (i === n) {
        this.pos = p;
        return;
      }
    }
    this.pos += buf.write(s, this.pos, 'utf8');
  }
  /** Reserve one length byte for a length-delimited body; finish() moves the body if its length needs more. */
  begin(): number {
    this.room(1);
    return this.pos++;
  }
  finish(at: number): void {
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    let size = 1;
    for (let v = len; v > 127; v = Math.floor(v / 128)) size++;
    this.room(size - 1);
    this.buf.copyWithin(at + size, at + 1, this.pos);
    this.pos += size - 1;
    let v = len;
    let p = at;
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[p] = v;
  }
  string(s: string): void {
    const at = this.begin();
    this.chars(s);
    this.finish(at);
  }
  fixed32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  /** epoch ms → fixed64 nanoseconds, as the SDK's hrTime + writeHrTimeAsFixed64 give it (values.ts hrTime, inlined). */
  timeMs(ms: number): void {
    const us = Math.round(ms * 1000);
    const s = Math.floor(us / 1_000_000);
    const ns = (us - s * 1_000_000) * 1000;
    // s * 1e9 + ns exceeds 2^53: split as the SDK does, without BigInt.
    const fromLo = (s & 0xffff) * 1e9;
    const fromHi = ((s / 65536) >>> 0) * 1e9;
    const low32 = (fromLo >>> 0) + (((fromHi & 0xffff) * 65536) >>> 0) + ns;
    const high = (Math.floor(fromLo / 4294967296) + ((fromHi / 65536) >>> 0) + Math.floor(low32 / 4294967296)) >>> 0;
    // Byte stores, not writeUInt32LE: a uint32 past 2^31 passed to a call is a new heap number, two per time.
    this.room(8);
    const buf = this.buf;
    const p = this.pos;
    const lo = low32 >>> 0;
    buf[p] = lo;
    buf[p + 1] = lo >>> 8;
    buf[p + 2] = lo >>> 16;
    buf[p + 3] = lo >>> 24;
    buf[p + 4] = high;
    buf[p + 5] = high >>> 8;
    buf[p + 6] = high >>> 16;
    buf[p + 7] = high >>> 24;
    this.pos = p + 8;
  }
}

/** KeyValue bytes up to the value's AnyValue body: key field, then the value field's key. Names are ASCII < 128 bytes. */
function keyPrefix(name: string): Buffer {
  return Buffer.concat([Buffer.from([0x0a, name.length]), Buffer.from(name, 'latin1'), Buffer.from([KV_VALUE])]);
}
const K = Object.fromEntries(Object.entries(NAMES).map(([k, v]) => [k, keyPrefix(v)])) as Record<
  keyof typeof NAMES,
  Buffer
>;

function attrString(w: LeanWriter, key: Buffer, v: string): void {
  w.byte(SPAN_ATTR);
  const kv = w.begin();
  w.raw(key);
  const any = w.begin();
  w.byte(ANY_STRING);
  w.string(v);
  w.finish(any);
  w.finish(kv);
}

function attrBool(w: LeanWriter, key: Buffer, v: boolean): void {
  w.byte(SPAN_ATTR);
  const kv = w.begin();
  w.raw(key);
  w.byte(2); // AnyValue length: key + one-byte varint
  w.byte(ANY_BOOL);
  w.byte(v ? 1 : 0);
  w.finish(kv);
}

/** A number as the SDK's writeAnyValue writes it: int64 when an integer in range, else a double. */
function attrNumber(w: LeanWriter, key: Buffer, v: number): void {
  w.byte(SPAN_ATTR);
  const kv = w.begin();
  w.raw(key);
  const any = w.begin();
  if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) {
    w.byte(ANY_INT);
    w.varint(v);
  } else {
    w.byte(ANY_DOUBLE);
    w.room(8);
    w.buf.writeDoubleLE(v, w.pos);
    w.pos += 8;
  }
  w.finish(any);
  w.finish(kv);
}

function attrStrings(w: LeanWriter, key: Buffer, v: readonly string[]): void {
  w.byte(SPAN_ATTR);
  const kv = w.begin();
  w.raw(key);
  const any = w.begin();
  w.byte(ANY_ARRAY);
  const arr = w.begin();
  for (let i = 0; i < v.length; i++) {
    w.byte(ARRAY_VALUE);
    const item = w.begin();
    w.byte(ANY_STRING);
    w.string(v[i]!);
    w.finish(item);
  }
  w.finish(arr);
  w.finish(any);
  w.finish(kv);
}

/** Span.name: `<operation> <db>.<table>` (attributes.ts statementSpanName), `db` the database's UTF-8 bytes. */
function writeName(w: LeanWriter, r: StatementRecord, db: Buffer): void {
  w.byte(SPAN_NAME);
  const name = w.begin();
  w.chars(r.operation);
  if (r.collection === null) {
    if (db.length > 0) {
      w.byte(0x20);
      w.raw(db);
    }
  } else {
    w.byte(0x20);
    if (db.length > 0) {
      w.raw(db);
      w.byte(0x2e);
    }
    w.chars(r.collection);
  }
  w.finish(name);
}

/** db.operation.name, db.collection.name and db.query.text (`text`: the record's, or its truncation). */
function writeStatement(w: LeanWriter, r: StatementRecord, text: string): void {
  attrString(w, K.ATTR_DB_OPERATION_NAME, r.operation);
  if (r.collection !== null) attrString(w, K.ATTR_DB_COLLECTION_NAME, r.collection);
  attrString(w, K.ATTR_DB_QUERY_TEXT, text);
}

/** airlock.decision, airlock.policy and airlock.rule. */
function writeVerdict(w: LeanWriter, r: StatementRecord): void {
  attrString(w, K.ATTR_AIRLOCK_DECISION, r.decision);
  if (r.policy !== null) attrString(w, K.ATTR_AIRLOCK_POLICY, r.policy);
  if (r.rule !== null) attrString(w, K.ATTR_AIRLOCK_RULE, r.rule);
}

/**
 * What every statement span of one statement shape repeats, as encoded fields: the name and the statement's
 * attributes (from its operation, relation, normalized text and the session's database) and the decision's
 * (decision, policy, rule). A span of a known shape copies the three instead of writing nine values. The fields
 * it was written from are kept and compared on every use: a statement repeated under another decision gets its
 * verdict rewritten, one in another database or under another operation or relation a new entry in its place.
 */
interface ShapeBytes {
  readonly operation: string;
  readonly collection: string | null;
  readonly database: string;
  decision: StatementRecord['decision'];
  policy: string | null;
  rule: string | null;
  readonly name: Buffer;
  readonly statement: Buffer;
  verdict: Buffer;
}

/** Ids from the pool below or, in tests, from the SDK's IdGenerator (hex), so both paths draw the same ids. */
export interface IdSource {
  generateTraceId(): string;
  generateSpanId(): string;
}

/** Random span and trace ids, drawn from a pool refilled 4 KiB at a time and written in place. */
class Ids {
  readonly #pool = Buffer.allocUnsafe(4096);
  #at = this.#pool.length;
  readonly #gen: IdSource | undefined;
  constructor(gen: IdSource | undefined) {
    this.#gen = gen;
  }

  /** Writes n random bytes (8: a span id, 16: a trace id) at w.pos; never all zero (invalid in W3C trace context). */
  write(w: LeanWriter, n: 8 | 16): void {
    w.room(n);
    if (this.#gen !== undefined) {
      w.pos += w.buf.write(n === 16 ? this.#gen.generateTraceId() : this.#gen.generateSpanId(), w.pos, n, 'hex');
      return;
    }
    if (this.#at + n > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#at = 0;
    }
    const p = this.#pool;
    const at = this.#at;
    this.#at += n;
    let zero = true;
    for (let i = 0; i < n; i++) if ((w.buf[w.pos + i] = p[at + i]!) !== 0) zero = false;
    if (zero) w.buf[w.pos + n - 1] = 1; // the SDK's generator avoids all-zero ids the same way
    w.pos += n;
  }
}

/** A session as its statement spans need it. */
interface LeanSession {
  readonly record: SessionRecord;
  readonly traceId: Buffer;
  /** The session span's id: its statement spans' parent. */
  readonly spanId: Buffer;
  /** The common attributes (sessionCommonAttributes) as encoded Span.attributes fields. */
  readonly common: Buffer;
  /** The database name's UTF-8 bytes (statement span names). */
  readonly db: Buffer;
  statements: number;
}

/** Frame buffers kept for reuse (LeanEncoder.take/recycle): at most this many, of at most this many bytes together. */
const MAX_SPARES = 3;
const MAX_SPARE_BYTES = 8 * 1024 * 1024;
/** A new frames buffer starts at most this large (a batch of large statements grows past it as before). */
const MAX_FRESH_BYTES = 4 * 1024 * 1024;

/** Bounds of LeanEncoder's statement shapes: how many, their bytes together, and the longest text kept. */
const MAX_SHAPES = 4096;
const MAX_SHAPE_BYTES = 1024 * 1024;
const MAX_SHAPE_TEXT_CHARS = 4096;

/** Ended sessions remembered for their late statements (a few hundred bytes each). */
const MAX_ENDED_SESSIONS = 4096;

export interface LeanEncoderOptions {
  readonly serviceName: string;
  readonly scopeName: string;
  readonly maxQueryTextBytes: number;
  readonly log: (message: string) => void;
  /** Tests: ids from the SDK's IdGenerator, to compare bytes with the SDK path. */
  readonly idGenerator?: IdSource;
  /** Tests: the resource's service.instance.id (default: a random UUID per encoder). */
  readonly serviceInstanceId?: string;
}

/**
 * Writes the proxy's spans as spool frames (u32 length, u32 CRC-32, kind byte, Span message) into one buffer:
 * statement spans when they are recorded, a session's span when it ends. take() hands the frames written so
 * far to the sink, which spools and exports them as one batch.
 */
export class LeanEncoder {
  /** Resource and scope fields of every export request, as the SDK serializes them. */
  readonly envelope: RequestEnvelope;
  readonly #w = new LeanWriter();
  /** Frames in `w`. */
  count = 0;
  readonly #ids: Ids;
  readonly #maxQueryTextBytes: number;
  readonly #log: (message: string) => void;
  readonly #sessions = new Map<string, LeanSession>();
  /**
   * Sessions that ended recently, newest last. A statement's record may come after its session's end: the
   * session closes when the client goes, and PostgreSQL's answer to a statement already sent still arrives
   * and is audited (proxy/session: #close, then #onUpstreamData). Such a statement keeps its real parent and
   * attributes; without this it was logged as "of an unannounced session" and got an empty session span.
   */
  readonly #ended = new Map<string, LeanSession>();
  readonly #scratch = new LeanWriter(1024);
  /**
   * The bytes statement spans repeat for every run of one statement, keyed by its normalized text (ShapeBytes).
   * Written field by field they were most of the span's cost: the strings reach the encoder in several V8
   * representations, which made the `charCodeAt` load megamorphic, and a cache of each string's bytes still
   * cost six lookups and six attribute headers a span (docs/performance.md). Bounded, and cleared whole when full.
   */
  readonly #shapes = new Map<string, ShapeBytes>();
  #shapeBytes = 0;

  constructor(opts: LeanEncoderOptions) {
    this.#ids = new Ids(opts.idGenerator);
    this.#maxQueryTextBytes = opts.maxQueryTextBytes;
    this.#log = opts.log;
    this.envelope = leanEnvelope(opts.serviceName, opts.serviceInstanceId ?? randomUUID(), opts.scopeName);
  }

  /** Bytes of frames written and not yet taken. */
  get bytes(): number {
    return this.#w.pos;
  }

  /**
   * The frames written so far; the writer goes on in another buffer. Hand the frames back with recycle() once
   * they are written: a new large buffer per batch is what made V8 run full collections (external memory
   * pressure, docs/performance.md), so buffers take turns. More than two are in use at times (a batch still
   * awaiting its acknowledgement while the next is spooled, the timer's short batch between two full ones):
   * with a single spare, every other batch started in a fresh 64 KiB buffer and doubled its way to ~2 MiB,
   * ~4 MiB of new external memory per batch (sink-cost.ts: 130 grows, 105 MB per 100 k spans).
   */
  take(): Buffer {
    const out = this.#w.buf.subarray(0, this.#w.pos);
    if (this.#w.buf.length > this.#fresh) this.#fresh = Math.min(this.#w.buf.length, MAX_FRESH_BYTES);
    this.#w.buf = this.#spares.pop() ?? Buffer.allocUnsafe(this.#fresh);
    this.#w.pos = 0;
    this.count = 0;
    return out;
  }

  /** Frames from take() that are no longer needed (written to the spool): their buffer is reused. */
  recycle(frames: Buffer): void {
    if (frames.byteOffset !== 0 || frames.buffer === this.#w.buf.buffer) return;
    let kept = 0;
    for (const b of this.#spares) {
      if (b.buffer === frames.buffer) return;
      kept += b.length;
    }
    // One spare of any size (as before); more only while they stay small: a burst of 16 KiB statements must not
    // leave tens of MiB behind.
    if (
      this.#spares.length === 0
      || (this.#spares.length < MAX_SPARES && kept + frames.buffer.byteLength <= MAX_SPARE_BYTES)
    ) {
      this.#spares.push(Buffer.from(frames.buffer));
    }
  }
  readonly #spares: Buffer[] = [];
  /** Size of a new frames buffer: what the batches needed so far, so a new one does not grow to it by doubling. */
  #fresh = 64 * 1024;

  /** drop-oldest, when frames pile up in memory: drops the oldest until `need` more bytes fit in maxBytes. Returns how many. */
  dropOldest(need: number, maxBytes: number): number {
    const buf = this.#w.buf;
    let at = 0;
    let n = 0;
    while (at < this.#w.pos && this.#w.pos - at + need > maxBytes) {
      at += FRAME_HEADER_BYTES + buf.readUInt32LE(at);
      n++;
    }
    buf.copyWithin(0, at, this.#w.pos);
    this.#w.pos -= at;
    this.count -= n;
    return n;
  }

  sessionStarted(s: SessionRecord): void {
    this.#open(s);
  }

  #open(s: SessionRecord): LeanSession {
    const c = this.#scratch;
    c.pos = 16; // span id first, then trace id: the order the SDK's tracer draws them
    this.#ids.write(c, 8);
    c.pos = 0;
    this.#ids.write(c, 16);
    const traceId = Buffer.from(c.buf.subarray(0, 16));
    const spanId = Buffer.from(c.buf.subarray(16, 24));
    c.pos = 0;
    attrString(c, K.ATTR_DB_SYSTEM_NAME, NAMES.DB_SYSTEM_NAME_VALUE_POSTGRESQL);
    if (s.database !== '') attrString(c, K.ATTR_DB_NAMESPACE, s.database);
    if (s.serverAddress !== '') attrString(c, K.ATTR_SERVER_ADDRESS, s.serverAddress);
    if (s.serverPort > 0) attrNumber(c, K.ATTR_SERVER_PORT, s.serverPort);
    if (s.subject !== '') attrString(c, K.ATTR_AIRLOCK_SUBJECT, s.subject);
    const open: LeanSession = {
      record: s,
      traceId,
      spanId,
      common: Buffer.from(c.buf.subarray(0, c.pos)),
      db: Buffer.from(s.database, 'utf8'),
      statements: 0,
    };
    this.#sessions.set(s.sessionId, open);
    return open;
  }

  /** Appends the statement's span. Throws only on a defect (a value of the wrong type); the buffer is then unchanged. */
  statement(r: StatementRecord): void {
    let open = this.#sessions.get(r.sessionId) ?? this.#ended.get(r.sessionId);
    if (open === undefined) {
      // Kept (and audited) even so; its span is a child of a session span with nothing but the session id.
      this.#log(`Audited a statement of an unannounced session sessionId=${r.sessionId}`);
      open = this.#open({
        sessionId: r.sessionId,
        subject: '',
        database: '',
        binding: '',
        serverAddress: '',
        serverPort: 0,
        clientAddress: '',
        startTimeMs: r.startTimeMs,
      });
    }
    const w = this.#w;
    const frame = w.pos;
    try {
      w.room(FRAME_HEADER_BYTES + 1);
      w.pos += FRAME_HEADER_BYTES;
      w.buf[w.pos++] = KIND_STATEMENT_SPAN;
      this.#statementSpan(r, open);
      seal(w, frame);
    } catch (err) {
      w.pos = frame;
      throw err;
    }
    open.statements++;
    this.count++;
  }

  /**
   * The shape of `r` in `open`'s database, from the cache or written now; null when its text is longer than the
   * cache keeps (its span is then written field by field).
   */
  #shapeOf(r: StatementRecord, open: LeanSession): ShapeBytes | null {
    const text = r.queryText;
    let shape = this.#shapes.get(text);
    if (
      shape !== undefined
      && shape.operation === r.operation
      && shape.collection === r.collection
      && shape.database === open.record.database
    ) {
      if (shape.decision !== r.decision || shape.policy !== r.policy || shape.rule !== r.rule) {
        const verdict = this.#encoded((w) => writeVerdict(w, r));
        this.#shapeBytes += verdict.length - shape.verdict.length;
        shape.verdict = verdict;
        shape.decision = r.decision;
        shape.policy = r.policy;
        shape.rule = r.rule;
      }
      return shape;
    }
    if (text.length > MAX_SHAPE_TEXT_CHARS) return null;
    const name = this.#encoded((w) => writeName(w, r, open.db));
    const statement = this.#encoded((w) => writeStatement(w, r, text));
    const verdict = this.#encoded((w) => writeVerdict(w, r));
    const bytes = name.length + statement.length + verdict.length;
    if (this.#shapes.size >= MAX_SHAPES || this.#shapeBytes + bytes > MAX_SHAPE_BYTES) {
      this.#shapes.clear();
      this.#shapeBytes = 0;
    }
    shape = {
      operation: r.operation,
      collection: r.collection,
      database: open.record.database,
      decision: r.decision,
      policy: r.policy,
      rule: r.rule,
      name,
      statement,
      verdict,
    };
    this.#shapes.set(text, shape);
    this.#shapeBytes += bytes;
    return shape;
  }

  /** What `write` writes, as a buffer of its own (written in the scratch writer, then copied out). */
  #encoded(write: (w: LeanWriter) => void): Buffer {
    const c = this.#scratch;
    c.pos = 0;
    write(c);
    return Buffer.from(c.buf.subarray(0, c.pos));
  }

  #statementSpan(r: StatementRecord, open: LeanSession): void {
    const w = this.#w;
    const text = r.queryText;
    const cut = text.length * 3 <= this.#maxQueryTextBytes ? null : truncateUtf8(text, this.#maxQueryTextBytes);
    const shape = cut === null ? this.#shapeOf(r, open) : null;
    w.byte(SPAN_TRACE_ID);
    w.byte(16);
    w.raw(open.traceId);
    w.byte(SPAN_SPAN_ID);
    w.byte(8);
    this.#ids.write(w, 8);
    w.byte(SPAN_PARENT);
    w.byte(8);
    w.raw(open.spanId);
    if (shape === null) writeName(w, r, open.db);
    else w.raw(shape.name);
    w.byte(SPAN_KIND);
    w.byte(KIND_CLIENT);
    w.byte(SPAN_START);
    w.timeMs(r.startTimeMs);
    w.byte(SPAN_END);
    w.timeMs(r.startTimeMs + Math.max(0, r.durationMs));
    // Attributes, in attributes.ts statementAttributes' order.
    w.raw(open.common);
    if (shape !== null) w.raw(shape.statement);
    else writeStatement(w, r, cut ?? text);
    if (cut !== null) attrBool(w, K.ATTR_AIRLOCK_QUERY_TEXT_TRUNCATED, true);
    if (r.statusCode !== null) {
      attrString(w, K.ATTR_DB_RESPONSE_STATUS_CODE, r.statusCode);
      attrString(w, K.ATTR_ERROR_TYPE, r.statusCode);
    }
    if (shape !== null) w.raw(shape.verdict);
    else writeVerdict(w, r);
    if (r.reason !== null) attrString(w, K.ATTR_AIRLOCK_REASON, r.reason);
    attrStrings(w, K.ATTR_AIRLOCK_MASKED_COLUMNS, r.maskedColumns);
    if (r.rows !== null) attrNumber(w, K.ATTR_AIRLOCK_ROWS, r.rows);
    if (r.accessRequest !== null) attrString(w, K.ATTR_AIRLOCK_ACCESS_REQUEST, r.accessRequest);
    attrBool(w, K.ATTR_AIRLOCK_ROLLED_BACK, r.rolledBack);
    w.room(6);
    w.buf[w.pos++] = SPAN_DROPPED_ATTRS;
    w.buf[w.pos++] = 0;
    w.buf[w.pos++] = SPAN_DROPPED_EVENTS;
    w.buf[w.pos++] = 0;
    w.buf[w.pos++] = SPAN_DROPPED_LINKS;
    w.buf[w.pos++] = 0;
    // Status (attributes.ts statementStatus): ERROR with a message for a denial or an error, else UNSET.
    w.byte(SPAN_STATUS);
    const st = w.begin();
    const error = r.decision === 'deny' || r.statusCode !== null;
    if (error) {
      const message = r.reason ?? (r.statusCode === null ? 'denied' : null);
      if (message === null) {
        w.byte(STATUS_MESSAGE);
        const m = w.begin();
        w.chars('SQLSTATE ');
        w.chars(r.statusCode!);
        w.finish(m);
      } else if (message !== '') {
        w.byte(STATUS_MESSAGE);
        w.string(message);
      }
    }
    w.byte(STATUS_CODE);
    w.byte(error ? STATUS_ERROR : 0);
    w.finish(st);
    flags(w);
  }

  /** Appends the session's span (its statements are written already). */
  sessionEnded(sessionId: string, endTimeMs: number): void {
    const open = this.#sessions.get(sessionId);
    if (open === undefined) return;
    this.#sessions.delete(sessionId);
    this.#ended.set(sessionId, open);
    if (this.#ended.size > MAX_ENDED_SESSIONS) this.#ended.delete(this.#ended.keys().next().value!);
    const w = this.#w;
    const frame = w.pos;
    const s = open.record;
    try {
      w.room(FRAME_HEADER_BYTES + 1);
      w.pos += FRAME_HEADER_BYTES;
      w.buf[w.pos++] = KIND_SESSION_SPAN;
      w.byte(SPAN_TRACE_ID);
      w.byte(16);
      w.raw(open.traceId);
      w.byte(SPAN_SPAN_ID);
      w.byte(8);
      w.raw(open.spanId);
      w.byte(SPAN_NAME);
      const name = w.begin();
      w.chars('session ');
      w.chars(s.database);
      w.finish(name);
      w.byte(SPAN_KIND);
      w.byte(KIND_SERVER);
      w.byte(SPAN_START);
      w.timeMs(s.startTimeMs);
      w.byte(SPAN_END);
      w.timeMs(Math.max(endTimeMs, s.startTimeMs));
      // attributes.ts sessionSpanAttributes, then airlock.statements set when the span ends.
      w.raw(open.common);
      if (s.clientAddress !== '') attrString(w, K.ATTR_CLIENT_ADDRESS, s.clientAddress);
      if (s.binding !== '') attrString(w, K.ATTR_AIRLOCK_BINDING, s.binding);
      attrString(w, K.ATTR_AIRLOCK_SESSION_ID, s.sessionId);
      attrNumber(w, K.ATTR_AIRLOCK_STATEMENTS, open.statements);
      w.byte(SPAN_DROPPED_ATTRS);
      w.byte(0);
      w.byte(SPAN_DROPPED_EVENTS);
      w.byte(0);
      w.byte(SPAN_DROPPED_LINKS);
      w.byte(0);
      w.byte(SPAN_STATUS);
      w.byte(2);
      w.byte(STATUS_CODE);
      w.byte(0);
      flags(w);
      seal(w, frame);
    } catch (err) {
      w.pos = frame;
      throw err;
    }
    this.count++;
  }
}

function flags(w: LeanWriter): void {
  w.byte(SPAN_FLAGS_KEY0);
  w.byte(SPAN_FLAGS_KEY1);
  w.fixed32(SPAN_FLAGS);
}

/** Writes the frame header for the kind byte and span at w.buf[start + 8 .. w.pos) (spool.ts sealFrame). */
function seal(w: LeanWriter, start: number): void {
  w.buf.writeUInt32LE(w.pos - start - FRAME_HEADER_BYTES, start);
  const crc = crc32(w.buf.subarray(start + FRAME_HEADER_BYTES, w.pos));
  const b = w.buf; // byte stores: no heap number for a CRC past 2^31 (timeMs)
  b[start + 4] = crc;
  b[start + 5] = crc >>> 8;
  b[start + 6] = crc >>> 16;
  b[start + 7] = crc >>> 24;
}

/**
 * The SDK's telemetry.sdk.version: the version of the @opentelemetry/core that @opentelemetry/resources uses
 * (defaultResource() takes it from core's SDK_INFO), read from its package.json without loading either package.
 */
function sdkVersion(): string {
  const resources = fileURLToPath(import.meta.resolve('@opentelemetry/resources'));
  const entry = pathToFileURL(createRequire(resources).resolve('@opentelemetry/core'));
  for (let dir = new URL('./', entry); dir.pathname !== '/'; dir = new URL('../', dir)) {
    let text: string;
    try {
      text = readFileSync(new URL('package.json', dir), 'utf8');
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: string; version?: string };
    if (pkg.name === '@opentelemetry/core' && typeof pkg.version === 'string') return pkg.version;
  }
  throw new Error('audit: cannot find the version of @opentelemetry/core');
}

/**
 * Resource and scope fields as the SDK serializes them for the SDK encoder's resource (defaultResource() merged
 * with service.name and service.instance.id) and a tracer named scopeName.
 */
function leanEnvelope(serviceName: string, instanceId: string, scopeName: string): RequestEnvelope {
  const w = new LeanWriter(1024);
  const attr = (key: Buffer, v: string): void => {
    w.byte(0x0a); // Resource.attributes
    const kv = w.begin();
    w.raw(key);
    const any = w.begin();
    w.byte(ANY_STRING);
    w.string(v);
    w.finish(any);
    w.finish(kv);
  };
  w.byte(0x0a); // ResourceSpans.resource
  const res = w.begin();
  attr(K.ATTR_SERVICE_NAME, serviceName);
  attr(K.ATTR_SERVICE_INSTANCE_ID, instanceId);
  attr(K.ATTR_TELEMETRY_SDK_LANGUAGE, 'nodejs');
  attr(K.ATTR_TELEMETRY_SDK_NAME, 'opentelemetry');
  attr(K.ATTR_TELEMETRY_SDK_VERSION, sdkVersion());
  w.byte(0x10);
  w.byte(0); // dropped_attributes_count
  w.finish(res);
  const resourceField = Buffer.from(w.buf.subarray(0, w.pos));
  w.pos = 0;
  w.byte(0x0a); // ScopeSpans.scope
  const scope = w.begin();
  w.byte(0x0a);
  w.string(scopeName);
  w.finish(scope);
  return { resourceField, scopeField: Buffer.from(w.buf.subarray(0, w.pos)) };
}

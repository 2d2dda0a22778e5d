// A statement span's OTLP Span message, written straight from its StatementRecord: the bytes the OpenTelemetry
// SDK's tracer + ProtobufTraceSerializer would write for the same span (same field order, same minimal
// varints, the SDK's attribute order from attributes.ts), without making an SDK Span object, cleaning its
// attributes, or turning hex ids back into bytes. The SDK stays the reference: lean-span.test.ts encodes the
// same records both ways, with the same ids, and compares the bytes. Measured in docs/performance.md: the SDK
// path cost ~30 µs of the worker's CPU per statement under bench/run.ts, most of the audit's price.
//
// Only attribute values the records produce are written (strings, booleans, non-negative safe integers,
// arrays of strings); statementSpan() returns false for anything else and the encoder takes the SDK path.
import type { Attributes } from '@opentelemetry/api';
import type { StatementRecord } from './types.ts';
import { hrTime, statementAttributes, statementSpanName, statementStatus } from './attributes.ts';

/** Span.kind CLIENT on the wire (the API's SpanKind.CLIENT is 2; OTLP adds one). */
const OTLP_KIND_CLIENT = 3;
/** Sampled trace flags | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, the parent (the session span) being local. */
const SPAN_FLAGS = 0x01 | 0x100;

/** A growable buffer with the protobuf writes a Span needs. Reused across spans and batches. */
export class LeanWriter {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  pos = 0;

  reset(): void { this.pos = 0; }

  #room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
  varint(v: number): void {
    this.#room(10);
    while (v > 127) { this.buf[this.pos++] = (v & 127) | 128; v = Math.floor(v / 128); }
    this.buf[this.pos++] = v;
  }
  tag(field: number, wire: number): void { this.varint((field << 3) | wire); }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  string(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.#room(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }
  fixed32(v: number): void {
    this.#room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  /** epoch ms → fixed64 nanoseconds, as the SDK's hrTime + writeHrTimeAsFixed64 give it. */
  timeMs(ms: number): void {
    const [s, ns] = hrTime(ms);
    // s * 1e9 + ns exceeds 2^53: split as the SDK does, without BigInt.
    const sLo = s & 0xffff;
    const sHi = (s / 65536) >>> 0;
    const fromLo = sLo * 1e9;
    const fromHi = sHi * 1e9;
    const low32 = (fromLo >>> 0) + (((fromHi & 0xffff) * 65536) >>> 0) + ns;
    const high = (Math.floor(fromLo / 4294967296) + ((fromHi / 65536) >>> 0) + Math.floor(low32 / 4294967296)) >>> 0;
    this.#room(8);
    this.buf.writeUInt32LE(low32 >>> 0, this.pos);
    this.buf.writeUInt32LE(high, this.pos + 4);
    this.pos += 8;
  }
  /** Reserve one length byte; finish() moves the body if the length needs more. */
  begin(): number {
    this.#room(1);
    return this.pos++;
  }
  finish(at: number): void {
    const len = this.pos - at - 1;
    let size = 1;
    for (let v = len; v > 127; v = Math.floor(v / 128)) size++;
    if (size > 1) {
      this.#room(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    let v = len;
    let p = at;
    while (v > 127) { this.buf[p++] = (v & 127) | 128; v = Math.floor(v / 128); }
    this.buf[p] = v;
  }
}

/** False when a value is of a kind this writer does not handle (the caller uses the SDK then). */
function writeAttributes(w: LeanWriter, attrs: Attributes): boolean {
  for (const key in attrs) {
    const v = attrs[key];
    w.tag(9, 2);
    const kv = w.begin();
    w.tag(1, 2); w.string(key);
    w.tag(2, 2);
    const any = w.begin();
    if (typeof v === 'string') { w.tag(1, 2); w.string(v); }
    else if (typeof v === 'boolean') { w.tag(2, 0); w.varint(v ? 1 : 0); }
    else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) { w.tag(3, 0); w.varint(v); }
    else if (Array.isArray(v)) {
      w.tag(5, 2);
      const arr = w.begin();
      for (const item of v) {
        if (typeof item !== 'string') return false;
        w.tag(1, 2);
        const iv = w.begin();
        w.tag(1, 2); w.string(item);
        w.finish(iv);
      }
      w.finish(arr);
    } else return false;
    w.finish(any);
    w.finish(kv);
  }
  return true;
}

/**
 * Appends the Span message body of a statement span to `w` (no tag or length of its own) and returns true; or
 * leaves `w` as it was and returns false (a value kind it does not write).
 */
export function statementSpan(w: LeanWriter, r: StatementRecord, traceId: Uint8Array, spanId: Uint8Array, parentSpanId: Uint8Array,
  database: string, common: Attributes, maxQueryTextBytes: number): boolean {
  const start = w.pos;
  w.tag(1, 2); w.bytes(traceId);
  w.tag(2, 2); w.bytes(spanId);
  w.tag(4, 2); w.bytes(parentSpanId);
  w.tag(5, 2); w.string(statementSpanName(r, database));
  w.tag(6, 0); w.varint(OTLP_KIND_CLIENT);
  w.tag(7, 1); w.timeMs(r.startTimeMs);
  w.tag(8, 1); w.timeMs(r.startTimeMs + Math.max(0, r.durationMs));
  if (!writeAttributes(w, statementAttributes(common, r, maxQueryTextBytes))) { w.pos = start; return false; }
  w.tag(10, 0); w.varint(0);     // dropped attributes
  w.tag(12, 0); w.varint(0);     // dropped events
  w.tag(14, 0); w.varint(0);     // dropped links
  w.tag(15, 2);
  const st = w.begin();
  const status = statementStatus(r);
  if (status !== null && status.message) { w.tag(2, 2); w.string(status.message); }
  w.tag(3, 0); w.varint(status === null ? 0 : status.code);
  w.finish(st);
  w.tag(16, 5); w.fixed32(SPAN_FLAGS);
  return true;
}

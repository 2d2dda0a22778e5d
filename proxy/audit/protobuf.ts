// Minimal protocol-buffers wire format (https://protobuf.dev/programming-guides/encoding/): just what the
// OTLP trace messages need. Hand-written so a span is encoded once, straight into the spool frame that is
// later sent as-is (see otlp.ts); the test receiver decodes with protobufjs from the official .proto files,
// so this code is checked against an independent implementation.

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Appends to one growing buffer; reuse it (reset()) across records so encoding allocates nothing per field. */
export class PbWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  reset(): void {
    this.pos = 0;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Unsigned varint for 0 <= v < 2^53 (JS safe integers; timestamps go through fixed64 instead). */
  varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** Start a length-delimited field; returns the mark to pass to end(). One byte is reserved for the length. */
  begin(field: number): number {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    return this.pos++;
  }

  /** Close a field opened with begin(): write its length, moving the body right if it needs more than one byte. */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 0x80) {
      this.buf[mark] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    this.pos += extra;
    let v = len;
    let at = mark;
    while (v >= 0x80) {
      this.buf[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[at] = v;
  }

  /**
   * A string field, at most maxBytes of UTF-8. Buffer.write stops before a character that would not fit
   * whole, so a cut never splits a code point. Returns false when the string was cut.
   */
  string(field: number, s: string, maxBytes = 0x7fffffff): boolean {
    const mark = this.begin(field);
    if (s.length < 0x80 && s.length <= maxBytes && this.ascii(s)) {
      this.buf[mark] = s.length;                       // < 0x80: the reserved byte holds the length
      return true;
    }
    const room = Math.min(maxBytes, s.length * 3);    // UTF-16 unit → at most 3 UTF-8 bytes
    this.ensure(room);
    const n = this.buf.write(s, this.pos, room, 'utf8');
    this.pos += n;
    this.end(mark);
    return room >= s.length * 3 || Buffer.byteLength(s, 'utf8') === n;
  }

  /** Appends the UTF-8 of s with no tag or length: a piece of a field opened with begin() (span names). */
  text(s: string): void {
    if (s.length < 0x80 && this.ascii(s)) return;
    this.ensure(s.length * 3);
    this.pos += this.buf.write(s, this.pos, s.length * 3, 'utf8');
  }

  /**
   * Short strings: a charCode loop beats Buffer.write's per-call cost. Appends s and returns true when it is
   * all ASCII; otherwise writes nothing that counts (pos unchanged) and returns false.
   */
  private ascii(s: string): boolean {
    this.ensure(s.length);
    const b = this.buf;
    const at = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      b[at + i] = c;
    }
    this.pos = at + s.length;
    return true;
  }

  /** One byte that needs no encoding: a constant tag below field 16, a short length, an ASCII character. */
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /**
   * fixed64 holding micros × 1000 (unix ns), without a BigInt per value: µs since 1970 is exact in a double,
   * ns is not, so the product is formed in two 32-bit halves. Negative or non-finite input writes 0.
   */
  fixed64Nanos(field: number, micros: number): void {
    this.tag(field, WIRE_I64);
    this.ensure(8);
    if (!(micros > 0)) micros = 0;
    const hi = Math.floor(micros / 0x100000000);
    const lo = (micros - hi * 0x100000000) * 1000;     // < 2^42: exact
    const carry = Math.floor(lo / 0x100000000);
    const b = this.buf;
    let at = this.pos;
    let l = lo - carry * 0x100000000;
    let h = hi * 1000 + carry;                        // < 2^32 until the year 2554
    for (let i = 0; i < 4; i++) { b[at++] = l & 0xff; l = Math.floor(l / 256); }
    for (let i = 0; i < 4; i++) { b[at++] = h & 0xff; h = Math.floor(h / 256); }
    this.pos = at;
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  fixed64(field: number, v: bigint): void {
    this.tag(field, WIRE_I64);
    this.ensure(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }

  /** int64 as varint; only non-negative values are written here (row counts). */
  int64(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  bool(field: number, v: boolean): void {
    this.tag(field, WIRE_VARINT);
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  raw(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    if (n > 32) {
      this.buf.set(b, this.pos);
    } else {
      // Pre-encoded attribute keys are a few dozen bytes: a loop is cheaper than set()'s call overhead.
      const d = this.buf;
      const at = this.pos;
      for (let i = 0; i < n; i++) d[at + i] = b[i]!;
    }
    this.pos += n;
  }
}

export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes a varint at `at` into a buffer sized by the caller; returns the next offset. */
export function putVarint(b: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    b[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  b[at++] = v;
  return at;
}

export class PbDecodeError extends Error {}

/** Walks the fields of one message. Bounds are checked before every read: input may be a torn or foreign file. */
export class PbReader {
  readonly buf: Buffer;
  pos: number;
  readonly limit: number;
  field = 0;
  wire = 0;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.limit = end;
  }

  /** Advance to the next field; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.limit) return false;
    const key = this.varint();
    this.field = Math.floor(key / 8);
    this.wire = key % 8;
    if (this.field === 0) throw new PbDecodeError('field number 0');
    return true;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.limit) throw new PbDecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    throw new PbDecodeError('varint longer than 10 bytes');
  }

  /** The body of a length-delimited field, as a view into the input. */
  lengthDelimited(): Buffer {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.limit) throw new PbDecodeError(`length ${len} past the end of the message`);
    const view = this.buf.subarray(this.pos, end);
    this.pos = end;
    return view;
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.limit) throw new PbDecodeError('truncated fixed64');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.limit) throw new PbDecodeError('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  skip(): void {
    switch (this.wire) {
      case WIRE_VARINT: this.varint(); return;
      case WIRE_I64: this.pos += 8; break;
      case WIRE_LEN: this.lengthDelimited(); return;
      case WIRE_I32: this.pos += 4; break;
      default: throw new PbDecodeError(`unsupported wire type ${this.wire}`);
    }
    if (this.pos > this.limit) throw new PbDecodeError('truncated field');
  }
}

// Protocol-buffers wire format (https://protobuf.dev/programming-guides/encoding/), reading side: spans are
// encoded by the OpenTelemetry SDK's serializer (otlp.ts); this walks its output to cut a request into the
// spool's per-span records, and reads spooled spans back for `airlock audit tail`. Bounds are checked on
// every read: a spool file may be torn or foreign.

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

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
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        this.pos += 4;
        break;
      default:
        throw new PbDecodeError(`unsupported wire type ${this.wire}`);
    }
    if (this.pos > this.limit) throw new PbDecodeError('truncated field');
  }
}

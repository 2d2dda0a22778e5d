// A proto3 codec for the few messages of proto/airlock/v1/distribution.proto, driven by the field tables in
// proto.ts. It replaces @grpc/proto-loader and protobufjs, which the sidecar loaded whole (58 module files) for
// these messages alone (issue 16, idle RSS). Field kinds: string, uint32, uint64, int64, a nested message,
// and repeated messages; nothing else is needed, and a table naming another kind throws at its first use.
//
// Both directions are what proto-loader gave with distribution/proto.ts's options of before (keepCase: false,
// longs: String, enums: String, defaults: true, oneofs: true); proto.test.ts checks them against protobufjs
// byte for byte and object for object:
// - encode: the fields present on the object (neither undefined nor null), in field-number order, a default
//   value included ('' and '0' are written when given, as protobufjs writes them); repeated messages one
//   record each. Coercions as protobufjs's fromObject: a string field takes String(v), uint32 v >>> 0, a
//   64-bit field a decimal string or a bigint (exact, modulo 2^64) or a number (truncated and saturated, as Long).
// - decode: an object with every field, defaults filled in ('' for strings, 0, '0' for 64-bit, null for a
//   message, [] for a repeated field), repeated fields first then the others in field-number order (the key
//   order of protobufjs's toObject), 64-bit values as exact decimal strings (uint64 up to 2^64 - 1, int64
//   negative), strings decoded by Node as protobufjs did (invalid UTF-8 becomes U+FFFD). Unknown fields of
//   any wire type (groups included) are skipped; a scalar field set twice keeps the last; a message field
//   set twice keeps the last whole (protobufjs replaced rather than merged); repeated fields append.
// - garbage fails closed: a truncated varint or field, a varint over 10 bytes, a length past the end, a
//   field number 0 or over 2^29 - 1, wire type 6 or 7, an unmatched end-group, a known field with another
//   wire type throw an Error (grpc-js answers a throwing deserializer with INTERNAL). Sizes are bounded by
//   grpc-js's maximum message size only.

export type ScalarKind = 'string' | 'uint32' | 'uint64' | 'int64';

export interface FieldSpec {
  /** The name the code sees: the .proto's name in camelCase, as proto-loader with keepCase: false. */
  readonly name: string;
  readonly number: number;
  readonly kind: ScalarKind | MessageSpec;
  readonly repeated: boolean;
}

export interface MessageSpec {
  /** Fully qualified, e.g. airlock.v1.PolicyUpdate. */
  readonly name: string;
  readonly fields: readonly FieldSpec[];
}

type Obj = Record<string, unknown>;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_SGROUP = 3;
const WIRE_EGROUP = 4;
const WIRE_I32 = 5;
const MAX_FIELD_NUMBER = 2 ** 29 - 1;

const wireOf = (kind: FieldSpec['kind']): number =>
  kind === 'uint32' || kind === 'uint64' || kind === 'int64' ? WIRE_VARINT : WIRE_LEN;

// What each message is compiled to once: fields sorted by number for encoding, a lookup by number for decoding,
// the repeated fields first for the decoded object's key order.
interface Compiled {
  readonly spec: MessageSpec;
  readonly byNumber: ReadonlyMap<number, FieldSpec>;
  readonly encodeOrder: readonly FieldSpec[];
  readonly keyOrder: readonly FieldSpec[];
}
const compiled = new WeakMap<MessageSpec, Compiled>();

function compile(spec: MessageSpec): Compiled {
  let c = compiled.get(spec);
  if (c !== undefined) return c;
  const byNumber = new Map<number, FieldSpec>();
  const names = new Set<string>();
  for (const f of spec.fields) {
    if (!Number.isInteger(f.number) || f.number < 1 || f.number > MAX_FIELD_NUMBER || byNumber.has(f.number))
      throw new Error(`${spec.name}.${f.name}: bad or duplicate field number ${f.number}`);
    if (names.has(f.name)) throw new Error(`${spec.name}.${f.name}: duplicate field name`);
    if (f.repeated && typeof f.kind === 'string')
      throw new Error(`${spec.name}.${f.name}: repeated scalars are not supported by this codec`);
    if (typeof f.kind === 'string' && !['string', 'uint32', 'uint64', 'int64'].includes(f.kind))
      throw new Error(`${spec.name}.${f.name}: unsupported kind ${f.kind}`);
    byNumber.set(f.number, f);
    names.add(f.name);
  }
  const encodeOrder = [...spec.fields].sort((a, b) => a.number - b.number);
  const keyOrder = [...encodeOrder.filter((f) => f.repeated), ...encodeOrder.filter((f) => !f.repeated)];
  c = { spec, byNumber, encodeOrder, keyOrder };
  compiled.set(spec, c);
  for (const f of spec.fields) if (typeof f.kind !== 'string') compile(f.kind);
  return c;
}

// ---- encoding ---------------------------------------------------------------------------------------------

/** Bytes of a message body, collected as chunks and joined once. */
class Out {
  readonly chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  /** A varint of a non-negative integer below 2^53. */
  varint(n: number): void {
    const bytes: number[] = [];
    while (n >= 0x80) {
      bytes.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    bytes.push(n);
    this.push(Buffer.from(bytes));
  }
  /** A varint of a 64-bit value given as its unsigned bits. */
  varint64(v: bigint): void {
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) return this.varint(Number(v));
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Buffer.from(bytes));
  }
  tag(number: number, wire: number): void {
    this.varint(number * 8 + wire);
  }
}

const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/**
 * A 64-bit field's value as its unsigned 64 bits, as protobufjs's fromObject made it (Long.fromValue(v, unsigned)):
 * a decimal string or a bigint modulo 2^64; a number truncated toward zero, NaN as 0, and out of range saturated
 * (uint64: below 0 is 0, from 2^64 on is 2^64 - 1; int64: at ±2^63).
 */
function bits64(v: unknown, unsigned: boolean, at: string): bigint {
  if (typeof v === 'string') {
    if (!/^-?[0-9]+$/.test(v)) throw new Error(`${at}: ${JSON.stringify(v)} is not a decimal integer`);
    return BigInt.asUintN(64, BigInt(v));
  }
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 0n;
    if (unsigned) {
      if (v < 0) return 0n;
      if (v >= TWO_64) return 2n ** 64n - 1n;
    } else {
      if (v <= -TWO_63) return 2n ** 63n;
      if (v + 1 >= TWO_63) return 2n ** 63n - 1n;
    }
    return BigInt.asUintN(64, BigInt(Math.trunc(v)));
  }
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  throw new Error(`${at}: a 64-bit integer must be a decimal string, a number or a bigint, not ${typeof v}`);
}

function encodeBody(c: Compiled, m: Obj, out: Out): void {
  for (const f of c.encodeOrder) {
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    const at = `${c.spec.name}.${f.name}`;
    if (f.repeated) {
      if (!Array.isArray(v)) throw new Error(`${at}: array expected`);
      for (const [i, e] of v.entries()) encodeMessageField(f, e, out, `${at}[${i}]`);
      continue;
    }
    switch (f.kind) {
      case 'string': {
        const b = Buffer.from(typeof v === 'string' ? v : String(v), 'utf8');
        out.tag(f.number, WIRE_LEN);
        out.varint(b.length);
        out.push(b);
        break;
      }
      case 'uint32':
        out.tag(f.number, WIRE_VARINT);
        out.varint((v as number) >>> 0);
        break;
      case 'uint64':
      case 'int64':
        out.tag(f.number, WIRE_VARINT);
        out.varint64(bits64(v, f.kind === 'uint64', at));
        break;
      default:
        encodeMessageField(f, v, out, at);
    }
  }
}

function encodeMessageField(f: FieldSpec, v: unknown, out: Out, at: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${at}: object expected`);
  const inner = new Out();
  encodeBody(compile(f.kind as MessageSpec), v as Obj, inner);
  out.tag(f.number, WIRE_LEN);
  out.varint(inner.length);
  for (const b of inner.chunks) out.push(b);
}

/** The wire bytes of `m` as a `spec` message. */
export function encode(spec: MessageSpec, m: object): Buffer {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error(`${spec.name}: object expected`);
  const out = new Out();
  encodeBody(compile(spec), m as Obj, out);
  return Buffer.concat(out.chunks, out.length);
}

// ---- decoding ---------------------------------------------------------------------------------------------

class In {
  readonly buf: Buffer;
  pos: number;
  end: number;
  /** The last varint read, as two unsigned 32-bit halves. */
  lo = 0;
  hi = 0;
  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Reads a varint of up to 10 bytes into lo/hi (bits beyond 64 dropped, as protobufjs). */
  varint(): void {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error(`truncated varint at offset ${this.pos}`);
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new Error(`varint longer than 10 bytes at offset ${this.pos - 10}`);
  }

  /** A length prefix, checked against what is left. */
  length(): number {
    const at = this.pos;
    this.varint();
    if (this.hi !== 0 || this.lo > this.end - this.pos)
      throw new Error(`length at offset ${at} runs past the end of the message`);
    return this.lo;
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw new Error(`truncated field at offset ${this.pos}`);
    this.pos += n;
  }

  /** Reads a tag; returns [field number, wire type]. */
  tag(): [number, number] {
    const at = this.pos;
    this.varint();
    const number = this.lo >>> 3;
    const wire = this.lo & 7;
    if (this.hi !== 0 || number === 0 || number > MAX_FIELD_NUMBER)
      throw new Error(`invalid field number at offset ${at}`);
    if (wire > WIRE_I32) throw new Error(`invalid wire type ${wire} at offset ${at}`);
    return [number, wire];
  }

  /** Skips the value of an unknown field; a group up to its matching end (without recursion). */
  skipValue(number: number, wire: number): void {
    const groups: number[] = [];
    for (;;) {
      switch (wire) {
        case WIRE_VARINT:
          this.varint();
          break;
        case WIRE_I64:
          this.skip(8);
          break;
        case WIRE_LEN:
          this.skip(this.length());
          break;
        case WIRE_SGROUP:
          groups.push(number);
          break;
        case WIRE_EGROUP:
          if (groups.pop() !== number) throw new Error(`unmatched end of group ${number} before offset ${this.pos}`);
          break;
        case WIRE_I32:
          this.skip(4);
          break;
      }
      if (groups.length === 0) return;
      [number, wire] = this.tag();
    }
  }

  uint64(): string {
    if (this.hi === 0) return String(this.lo);
    if (this.hi < 0x200000) return String(this.hi * 2 ** 32 + this.lo);
    return ((BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
  }

  int64(): string {
    if (this.hi & 0x80000000) return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
    return this.uint64();
  }
}

function defaults(c: Compiled): Obj {
  const o: Obj = {};
  for (const f of c.keyOrder) {
    if (f.repeated) o[f.name] = [];
    else if (f.kind === 'string') o[f.name] = '';
    else if (f.kind === 'uint32') o[f.name] = 0;
    else if (f.kind === 'uint64' || f.kind === 'int64') o[f.name] = '0';
    else o[f.name] = null;
  }
  return o;
}

function decodeBody(c: Compiled, r: In): Obj {
  const o = defaults(c);
  while (r.pos < r.end) {
    const at = r.pos;
    const [number, wire] = r.tag();
    const f = c.byNumber.get(number);
    if (f === undefined) {
      if (wire === WIRE_EGROUP) throw new Error(`end of group ${number} without its start at offset ${at}`);
      r.skipValue(number, wire);
      continue;
    }
    const want = wireOf(f.kind);
    if (wire !== want)
      throw new Error(
        `${c.spec.name}.${f.name} (field ${number}) at offset ${at}: wire type ${wire}, expected ${want}`,
      );
    switch (f.kind) {
      case 'string': {
        const n = r.length();
        o[f.name] = r.buf.toString('utf8', r.pos, r.pos + n);
        r.pos += n;
        break;
      }
      case 'uint32':
        r.varint();
        o[f.name] = r.lo;
        break;
      case 'uint64':
        r.varint();
        o[f.name] = r.uint64();
        break;
      case 'int64':
        r.varint();
        o[f.name] = r.int64();
        break;
      default: {
        const n = r.length();
        const inner = new In(r.buf, r.pos, r.pos + n);
        const v = decodeBody(compile(f.kind), inner);
        r.pos += n;
        if (f.repeated) (o[f.name] as Obj[]).push(v);
        else o[f.name] = v;
      }
    }
  }
  return o;
}

/** The object of a `spec` message's bytes; throws on bytes that are not one. */
export function decode(spec: MessageSpec, bytes: Uint8Array): Obj {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return decodeBody(compile(spec), new In(buf, 0, buf.length));
  } catch (e) {
    throw new Error(`cannot decode ${spec.name}: ${(e as Error).message}`);
  }
}

// Decoders for single messages, each given (buf, start, end): one whole message, type byte at `start`, as
// framed by eachFrame/FrameReader. They check the type byte and that the length word matches [start, end),
// read nothing at or past `end`, and require every byte to be consumed — PostgreSQL's pq_getmsgend() rejects
// trailing bytes ("invalid message format") and so do we: a message two parsers would read differently must
// not pass. Any violation throws WireError (close with FATAL 08P01).
//
// Text is decoded as UTF-8 and bytes that are not valid UTF-8 are refused rather than turned into U+FFFD:
// statements and names are what policy decides on, and must be exactly the text PostgreSQL sees. That holds
// only while the session's client_encoding is UTF8 (it pins it; see README.md).
import { isUtf8 } from 'node:buffer';
import { AuthCode, Backend, Frontend } from './codes.ts';
import { WireError } from './frames.ts';

/** One field of a RowDescription, as PostgreSQL sent it (protocol-message-formats: RowDescription). */
export interface FieldInfo {
  readonly name: string;
  readonly tableOid: number; // 0 when the column is not a simple reference to a table column
  readonly attnum: number; // 0 likewise
  readonly typeOid: number;
  readonly typeLen: number;
  readonly typeMod: number;
  readonly format: 0 | 1; // 0 text, 1 binary
}

const EMPTY = Buffer.alloc(0);
/** Strings up to this many bytes are scanned for their NUL and for non-ASCII bytes in JavaScript (see str()). */
const SHORT_STRING_BYTES = 256;

/**
 * A cursor over one message body. One instance serves every decoder (reset by open()): decoders run one at a
 * time and never call each other, and a per-message cursor object was a measurable share of the extended
 * protocol's garbage (a Bind, Describe, Execute, RowDescription and ReadyForQuery per pgbench transaction).
 */
class Body {
  buf: Buffer = EMPTY;
  at = 0;
  end = 0;
  what = '';

  reset(buf: Buffer, start: number, end: number, what: string): this {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= buf.length && end - start >= 5)) {
      throw new WireError(`${what}: not a whole message (offsets ${start}..${end} of ${buf.length})`);
    }
    const len = buf.readInt32BE(start + 1);
    if (len !== end - start - 1)
      throw new WireError(`${what}: length word ${len} does not match the framed ${end - start - 1} bytes`);
    this.buf = buf;
    this.what = what;
    this.at = start + 5;
    this.end = end;
    return this;
  }

  need(n: number, field: string): void {
    if (this.end - this.at < n) throw new WireError(`${this.what}: message ends inside ${field}`);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.at++]!;
  }
  i16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  i32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  /**
   * A NUL-terminated string inside the message. Names and short statements (pgbench's unnamed portal, "P0_1",
   * a column name) are scanned in JavaScript: the empty string costs no call into the runtime and an ASCII one
   * a single Latin-1 decode (ASCII reads the same in Latin-1 and UTF-8), where indexOf + isUtf8 + toString made
   * three. Longer or non-ASCII text takes the native path, which validates the UTF-8.
   */
  str(field: string): string {
    const buf = this.buf;
    const s = this.at;
    const stop = Math.min(this.end, s + SHORT_STRING_BYTES);
    let high = 0;
    let i = s;
    for (; i < stop; i++) {
      const c = buf[i]!;
      if (c === 0) break;
      high |= c;
    }
    if (i < stop) {
      this.at = i + 1;
      if (i === s) return '';
      if (high < 0x80) return buf.toString('latin1', s, i);
      return text(buf, s, i, this.what, field);
    }
    const nul = buf.indexOf(0, i);
    if (nul < 0 || nul >= this.end) throw new WireError(`${this.what}: ${field} is not NUL-terminated`);
    const v = text(buf, s, nul, this.what, field);
    this.at = nul + 1;
    return v;
  }
  /** n bytes as a view into the message (valid as long as the message's buffer is). */
  bytes(n: number, field: string): Buffer {
    if (n < 0) throw new WireError(`${this.what}: negative length ${n} for ${field}`);
    this.need(n, field);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  /** Steps over n bytes (a value not needed), with the same checks as bytes(). */
  skip(n: number, field: string): void {
    if (n < 0) throw new WireError(`${this.what}: negative length ${n} for ${field}`);
    this.need(n, field);
    this.at += n;
  }
  rest(): Buffer {
    const v = this.buf.subarray(this.at, this.end);
    this.at = this.end;
    return v;
  }
  done(): void {
    if (this.at !== this.end)
      throw new WireError(`${this.what}: ${this.end - this.at} unexpected bytes at the end of the message`);
  }
  /** A format code; only text (0) and binary (1) exist. */
  format(field: string): 0 | 1 {
    const f = this.i16(field);
    if (f !== 0 && f !== 1) throw new WireError(`${this.what}: unsupported format code ${f} in ${field}`);
    return f;
  }
}

/**
 * A string field that is not valid UTF-8 (the only client_encoding Airlock lets a session use). Not a framing
 * error: the message is whole and the stream stays in step, so the session answers it as PostgreSQL does
 * (22021 character_not_in_repertoire, "invalid byte sequence for encoding", from pq_getmsgstring's
 * conversion) and goes on, instead of closing the connection.
 */
export class InvalidTextError extends WireError {
  override name = 'InvalidTextError';
}

function text(buf: Buffer, start: number, end: number, what: string, field: string): string {
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw new InvalidTextError(`${what}: ${field} is not valid UTF-8`);
  return view.toString('utf8');
}

const body = new Body();

function open(buf: Buffer, start: number, end: number, type: number, what: string): Body {
  if (start >= 0 && start < buf.length && buf[start] !== type) {
    throw new WireError(`${what}: expected type '${String.fromCharCode(type)}', got 0x${buf[start]!.toString(16)}`);
  }
  return body.reset(buf, start, end, what);
}

/** Query ('Q'): the SQL text. */
export function readQuery(buf: Buffer, start: number, end: number): string {
  const m = open(buf, start, end, Frontend.Query, 'Query');
  const sql = m.str('query text');
  m.done();
  return sql;
}

/** Parse ('P'). */
export function readParse(
  buf: Buffer,
  start: number,
  end: number,
): { name: string; query: string; paramTypes: number[] } {
  const m = open(buf, start, end, Frontend.Parse, 'Parse');
  const name = m.str('statement name');
  const q = m.str('query text');
  const n = m.u16('parameter type count'); // PostgreSQL reads it unsigned (pq_getmsgint(…, 2))
  m.need(4 * n, 'parameter types');
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = m.u32('parameter type');
  m.done();
  return { name, query: q, paramTypes };
}

/** Bind ('B'). `params` are views into the message: copy what outlives it. */
export function readBind(
  buf: Buffer,
  start: number,
  end: number,
): {
  portal: string;
  statement: string;
  paramFormats: number[];
  params: (Buffer | null)[];
  resultFormats: number[];
} {
  const m = open(buf, start, end, Frontend.Bind, 'Bind');
  const portal = m.str('portal name');
  const statement = m.str('statement name');
  const nf = m.u16('parameter format count');
  m.need(2 * nf, 'parameter formats');
  const paramFormats = new Array<number>(nf);
  for (let i = 0; i < nf; i++) paramFormats[i] = m.format('parameter formats');
  const np = m.u16('parameter count');
  // The 0 / 1 / N rule (protocol-message-formats: Bind); PostgreSQL rejects any other count with 08P01.
  if (nf > 1 && nf !== np) throw new WireError(`Bind: ${nf} parameter formats for ${np} parameters`);
  const params = new Array<Buffer | null>(np);
  for (let i = 0; i < np; i++) {
    const len = m.i32('parameter length');
    if (len === -1) {
      params[i] = null;
      continue;
    }
    if (len < 0) throw new WireError(`Bind: parameter ${i + 1} has invalid length ${len}`);
    params[i] = m.bytes(len, 'parameter value');
  }
  const nr = m.u16('result format count');
  m.need(2 * nr, 'result formats');
  const resultFormats = new Array<number>(nr);
  for (let i = 0; i < nr; i++) resultFormats[i] = m.format('result formats');
  m.done();
  return { portal, statement, paramFormats, params, resultFormats };
}

const NO_FORMATS: readonly number[] = Object.freeze([]);

/**
 * Bind ('B') without its parameter values: what a proxy that forwards the Bind unchanged needs (the portal and
 * statement names and the result formats), validated exactly as readBind validates the whole message, but
 * without a Buffer view per parameter or the format arrays (one Bind per transaction in pgbench -M prepared;
 * each view is a typed-array allocation). `resultFormats` is a shared frozen empty array when there are none.
 */
export function readBindTarget(
  buf: Buffer,
  start: number,
  end: number,
): { portal: string; statement: string; resultFormats: readonly number[] } {
  const m = open(buf, start, end, Frontend.Bind, 'Bind');
  const portal = m.str('portal name');
  const statement = m.str('statement name');
  const nf = m.u16('parameter format count');
  m.need(2 * nf, 'parameter formats');
  for (let i = 0; i < nf; i++) m.format('parameter formats');
  const np = m.u16('parameter count');
  if (nf > 1 && nf !== np) throw new WireError(`Bind: ${nf} parameter formats for ${np} parameters`);
  for (let i = 0; i < np; i++) {
    const len = m.i32('parameter length');
    if (len === -1) continue;
    if (len < 0) throw new WireError(`Bind: parameter ${i + 1} has invalid length ${len}`);
    m.skip(len, 'parameter value');
  }
  const nr = m.u16('result format count');
  m.need(2 * nr, 'result formats');
  let resultFormats = NO_FORMATS;
  if (nr > 0) {
    const rf = new Array<number>(nr);
    for (let i = 0; i < nr; i++) rf[i] = m.format('result formats');
    resultFormats = rf;
  }
  m.done();
  return { portal, statement, resultFormats };
}

function readKindName(
  buf: Buffer,
  start: number,
  end: number,
  type: number,
  what: string,
): { kind: 'S' | 'P'; name: string } {
  const m = open(buf, start, end, type, what);
  const k = m.u8('target kind');
  if (k !== 0x53 && k !== 0x50)
    throw new WireError(`${what}: invalid target kind 0x${k.toString(16)}; expected 'S' or 'P'`);
  const name = m.str('name');
  m.done();
  return { kind: k === 0x53 ? 'S' : 'P', name };
}
/** Describe ('D' from a client): statement ('S') or portal ('P'). */
export function readDescribe(buf: Buffer, start: number, end: number): { kind: 'S' | 'P'; name: string } {
  return readKindName(buf, start, end, Frontend.Describe, 'Describe');
}
/** Close ('C' from a client). */
export function readClose(buf: Buffer, start: number, end: number): { kind: 'S' | 'P'; name: string } {
  return readKindName(buf, start, end, Frontend.Close, 'Close');
}

/** Execute ('E' from a client). maxRows <= 0 means no limit, as in PostgreSQL. */
export function readExecute(buf: Buffer, start: number, end: number): { portal: string; maxRows: number } {
  const m = open(buf, start, end, Frontend.Execute, 'Execute');
  const portal = m.str('portal name');
  const maxRows = m.i32('row limit');
  m.done();
  return { portal, maxRows };
}

/** FunctionCall ('F'). The whole message is validated; only the function is returned (it is denied or allowed by it). */
export function readFunctionCall(buf: Buffer, start: number, end: number): { functionOid: number } {
  const m = open(buf, start, end, Frontend.FunctionCall, 'FunctionCall');
  const functionOid = m.u32('function OID');
  const nf = m.u16('argument format count');
  for (let i = 0; i < nf; i++) m.format('argument formats');
  const na = m.u16('argument count');
  if (nf > 1 && nf !== na) throw new WireError(`FunctionCall: ${nf} argument formats for ${na} arguments`);
  for (let i = 0; i < na; i++) {
    const len = m.i32('argument length');
    if (len === -1) continue;
    m.bytes(len, 'argument value');
  }
  m.format('result format');
  m.done();
  return { functionOid };
}

/**
 * RowDescriptions decoded lately, as their bytes and their fields. A session describes the same few result
 * shapes over and over (pgbench: one per transaction, simple or extended); the same bytes decode to the same
 * fields, so a byte compare replaces the decode (a string and an object per column, and their garbage).
 */
const ROW_DESCRIPTION_CACHE = 8;
const ROW_DESCRIPTION_CACHE_MAX_BYTES = 4096;
const recentRowDescriptions: { bytes: Buffer; fields: FieldInfo[] }[] = [];
let recentNext = 0;

function sameBytes(buf: Buffer, start: number, end: number, bytes: Buffer): boolean {
  const n = bytes.length;
  if (end - start !== n) return false;
  if (n > 64) return buf.compare(bytes, 0, n, start, end) === 0;
  for (let i = 0; i < n; i++) if (buf[start + i] !== bytes[i]) return false;
  return true;
}

/**
 * RowDescription ('T'). The array and its fields are frozen and may be the very ones an earlier call returned
 * for the same bytes: never modify them (copy, as Describe S + Bind formats does with `{ ...f, format }`).
 */
export function readRowDescription(buf: Buffer, start: number, end: number): FieldInfo[] {
  if (Number.isInteger(start) && start >= 0 && end <= buf.length) {
    for (let k = 0; k < recentRowDescriptions.length; k++) {
      const e = recentRowDescriptions[k]!;
      if (sameBytes(buf, start, end, e.bytes)) return e.fields;
    }
  }
  const fields = decodeRowDescription(buf, start, end);
  if (end - start <= ROW_DESCRIPTION_CACHE_MAX_BYTES) {
    for (const f of fields) Object.freeze(f);
    Object.freeze(fields);
    // Copied: the message's own buffer belongs to the reader that framed it.
    const entry = { bytes: Buffer.from(buf.subarray(start, end)), fields };
    if (recentRowDescriptions.length < ROW_DESCRIPTION_CACHE) recentRowDescriptions.push(entry);
    else recentRowDescriptions[recentNext] = entry;
    recentNext = (recentNext + 1) % ROW_DESCRIPTION_CACHE;
  }
  return fields;
}

function decodeRowDescription(buf: Buffer, start: number, end: number): FieldInfo[] {
  const m = open(buf, start, end, Backend.RowDescription, 'RowDescription');
  const n = m.u16('field count');
  m.need(19 * n, 'fields'); // each field is at least an empty name + 18 bytes: rejects a huge count early
  const fields = new Array<FieldInfo>(n);
  for (let i = 0; i < n; i++) {
    const name = m.str('field name');
    const tableOid = m.u32('table OID');
    const attnum = m.i16('column number');
    const typeOid = m.u32('type OID');
    const typeLen = m.i16('type length');
    const typeMod = m.i32('type modifier');
    const format = m.format('format code');
    fields[i] = { name, tableOid, attnum, typeOid, typeLen, typeMod, format };
  }
  m.done();
  return fields;
}

/** CommandComplete ('C' from a server): the tag, e.g. "UPDATE 3". */
export function readCommandComplete(buf: Buffer, start: number, end: number): string {
  const m = open(buf, start, end, Backend.CommandComplete, 'CommandComplete');
  const tag = m.str('command tag');
  m.done();
  return tag;
}

/** ReadyForQuery ('Z'): 0x49 idle, 0x54 in a transaction, 0x45 in a failed transaction. */
export function readReadyForQuery(buf: Buffer, start: number, end: number): number {
  const m = open(buf, start, end, Backend.ReadyForQuery, 'ReadyForQuery');
  const s = m.u8('transaction status');
  if (s !== 0x49 && s !== 0x54 && s !== 0x45)
    throw new WireError(`ReadyForQuery: invalid transaction status 0x${s.toString(16)}`);
  m.done();
  return s;
}

/** ErrorResponse / NoticeResponse: field code character → value (protocol-error-fields.html). */
export function readErrorFields(buf: Buffer, start: number, end: number): Map<string, string> {
  const t = start >= 0 && start < buf.length ? buf[start] : -1;
  const what = t === Backend.NoticeResponse ? 'NoticeResponse' : 'ErrorResponse';
  const m = open(buf, start, end, t === Backend.NoticeResponse ? Backend.NoticeResponse : Backend.ErrorResponse, what);
  const fields = new Map<string, string>();
  for (;;) {
    const code = m.u8('field type');
    if (code === 0) break;
    fields.set(String.fromCharCode(code), m.str('field value'));
  }
  m.done();
  return fields;
}

export type AuthenticationRequest =
  | { type: 'ok' }
  | { type: 'cleartext' }
  | { type: 'md5'; salt: Buffer }
  | { type: 'sasl'; mechanisms: string[] }
  | { type: 'sasl-continue'; data: Buffer }
  | { type: 'sasl-final'; data: Buffer }
  | { type: 'other'; code: number };

/** Authentication ('R'). `salt` and `data` are views into the message. */
export function readAuthentication(buf: Buffer, start: number, end: number): AuthenticationRequest {
  const m = open(buf, start, end, Backend.Authentication, 'Authentication');
  const code = m.i32('authentication code');
  switch (code) {
    case AuthCode.Ok:
      m.done();
      return { type: 'ok' };
    case AuthCode.CleartextPassword:
      m.done();
      return { type: 'cleartext' };
    case AuthCode.MD5Password: {
      const salt = m.bytes(4, 'MD5 salt');
      m.done();
      return { type: 'md5', salt };
    }
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const s = m.str('SASL mechanism');
        if (s === '') break;
        mechanisms.push(s);
      }
      m.done();
      return { type: 'sasl', mechanisms };
    }
    case AuthCode.SASLContinue:
      return { type: 'sasl-continue', data: m.rest() };
    case AuthCode.SASLFinal:
      return { type: 'sasl-final', data: m.rest() };
    default:
      m.rest();
      return { type: 'other', code };
  }
}

/** ParameterStatus ('S' from a server). */
export function readParameterStatus(buf: Buffer, start: number, end: number): { name: string; value: string } {
  const m = open(buf, start, end, Backend.ParameterStatus, 'ParameterStatus');
  const name = m.str('parameter name');
  const value = m.str('parameter value');
  m.done();
  return { name, value };
}

/** BackendKeyData ('K'). The key is copied (it outlives the message): 4 bytes in 3.0, up to 256 in 3.2. */
export function readBackendKeyData(buf: Buffer, start: number, end: number): { processId: number; secretKey: Buffer } {
  const m = open(buf, start, end, Backend.BackendKeyData, 'BackendKeyData');
  const processId = m.i32('process ID');
  const n = m.end - m.at;
  if (n < 4 || n > 256) throw new WireError(`BackendKeyData: ${n}-byte secret key; expected 4..256`);
  return { processId, secretKey: Buffer.from(m.rest()) };
}

/** CopyInResponse ('G') / CopyOutResponse ('H' from a server) / CopyBothResponse ('W'). */
export function readCopyResponse(buf: Buffer, start: number, end: number): { format: 0 | 1; columnFormats: number[] } {
  const t = start >= 0 && start < buf.length ? buf[start] : -1;
  const type = t === Backend.CopyInResponse || t === Backend.CopyBothResponse ? t : Backend.CopyOutResponse;
  const m = open(buf, start, end, type, 'CopyResponse');
  const f = m.u8('overall format');
  if (f !== 0 && f !== 1) throw new WireError(`CopyResponse: invalid overall format ${f}`);
  const n = m.u16('column count');
  m.need(2 * n, 'column formats');
  const columnFormats = new Array<number>(n);
  for (let i = 0; i < n; i++) columnFormats[i] = m.format('column formats');
  m.done();
  // In text COPY every column is text (protocol-message-formats: CopyOutResponse).
  if (f === 0 && columnFormats.some((c) => c !== 0)) throw new WireError('CopyResponse: binary column in a text COPY');
  return { format: f, columnFormats };
}

/**
 * The format of result column i under Bind's result format codes: none → all text, one → all columns use it,
 * N → one per column (protocol-message-formats: Bind). With N codes and i >= N PostgreSQL fails the Bind
 * ("bind message has N result formats but query has M columns"), so no row can arrive: that is a WireError.
 */
export function resultFormatFor(resultFormats: readonly number[], i: number): 0 | 1 {
  const n = resultFormats.length;
  const f = n === 0 ? 0 : n === 1 ? resultFormats[0] : resultFormats[i];
  if (f === 0 || f === 1) return f;
  throw new WireError(`no result format for column ${i} among ${n} result format codes`);
}

// Builders for the messages the proxy writes itself (protocol-message-formats.html). Each builder measures,
// allocates exactly once and fills every byte; messages whose bytes never vary are serialized once at load
// (brianc/node-postgres/packages/pg-protocol/src/serializer.ts syncBuffer) and must never be written into.
//
// Strings are written as UTF-8 C strings. A NUL inside one would end it early and shift every later field, so
// builders refuse it (RangeError: a programming error, not the peer's) — except in error and notice text,
// which may quote user-controlled names and must never fail while reporting a failure: there NUL becomes U+FFFD.
import { Backend, Frontend, TxStatus } from './codes.ts';
import type { FieldInfo } from './read.ts';

export interface PgErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function cstr(s: string, what: string): string {
  if (s.includes('\0')) throw new RangeError(`${what} must not contain NUL`);
  return s;
}

/** A message with `bodySize` bytes after the length word; header written, body left to the caller. */
function typed(type: number, bodySize: number): Buffer {
  const out = Buffer.allocUnsafe(5 + bodySize);
  out[0] = type;
  out.writeInt32BE(4 + bodySize, 1);
  return out;
}

/** Writes s as a C string at `at`; returns the offset after the NUL. */
function putStr(out: Buffer, at: number, s: string): number {
  at += out.write(s, at, 'utf8');
  out[at] = 0;
  return at + 1;
}

function fieldsMessage(type: number, f: PgErrorFields): Buffer {
  // S (localized severity) and V (never localized, since 9.6) carry the same word: the proxy does not localize.
  const fields: [number, string][] = [
    [0x53, f.severity],
    [0x56, f.severity],
    [0x43, f.code],
    [0x4d, f.message],
  ];
  if (f.detail !== undefined) fields.push([0x44, f.detail]);
  if (f.hint !== undefined) fields.push([0x48, f.hint]);
  let size = 1;
  for (const kv of fields) {
    kv[1] = kv[1].replaceAll('\0', '\uFFFD');
    size += 1 + Buffer.byteLength(kv[1]) + 1;
  }
  const out = typed(type, size);
  let at = 5;
  for (const [k, v] of fields) {
    out[at++] = k;
    at = putStr(out, at, v);
  }
  out[at] = 0;
  return out;
}

/** ErrorResponse ('E'): fields S, V, C, M, then D and H when given. */
export function errorResponse(f: PgErrorFields): Buffer {
  return fieldsMessage(Backend.ErrorResponse, f);
}
/** NoticeResponse ('N'): same fields as errorResponse. */
export function noticeResponse(f: PgErrorFields): Buffer {
  return fieldsMessage(Backend.NoticeResponse, f);
}

function rfq(status: number): Buffer {
  const b = typed(Backend.ReadyForQuery, 1);
  b[5] = status;
  return b;
}
export const RFQ_IDLE: Buffer = rfq(TxStatus.Idle);
export const RFQ_IN_TX: Buffer = rfq(TxStatus.InTransaction);
export const RFQ_FAILED: Buffer = rfq(TxStatus.Failed);
/** ReadyForQuery ('Z') with transaction status I, T or E: one of the constants above, not a new buffer. */
export function readyForQuery(status: 0x49 | 0x54 | 0x45): Buffer {
  switch (status) {
    case TxStatus.Idle:
      return RFQ_IDLE;
    case TxStatus.InTransaction:
      return RFQ_IN_TX;
    case TxStatus.Failed:
      return RFQ_FAILED;
  }
  throw new RangeError(`invalid ReadyForQuery status ${status}`);
}

function auth(code: number, extra = 0): Buffer {
  const b = typed(Backend.Authentication, 4 + extra);
  b.writeInt32BE(code, 5);
  return b;
}
export const AUTH_OK: Buffer = auth(0);
export const AUTH_CLEARTEXT: Buffer = auth(3);
/** AuthenticationCleartextPassword: the constant AUTH_CLEARTEXT. */
export function authenticationCleartextPassword(): Buffer {
  return AUTH_CLEARTEXT;
}
/** AuthenticationMD5Password with its 4-byte salt. */
export function authenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw new RangeError(`MD5 salt must be 4 bytes, got ${salt.length}`);
  const b = auth(5, 4);
  salt.copy(b, 9);
  return b;
}
/** AuthenticationSASL: the mechanisms offered, e.g. ['SCRAM-SHA-256']. */
export function authenticationSASL(mechanisms: readonly string[]): Buffer {
  let extra = 1;
  for (const m of mechanisms) extra += Buffer.byteLength(cstr(m, 'SASL mechanism')) + 1;
  const b = auth(10, extra);
  let at = 9;
  for (const m of mechanisms) at = putStr(b, at, m);
  b[at] = 0;
  return b;
}
/** AuthenticationSASLContinue (11) / AuthenticationSASLFinal (12) with their data. */
export function authenticationSASLData(code: 11 | 12, data: Buffer): Buffer {
  const b = auth(code, data.length);
  data.copy(b, 9);
  return b;
}

export function parameterStatus(name: string, value: string): Buffer {
  const out = typed(
    Backend.ParameterStatus,
    Buffer.byteLength(cstr(name, 'parameter name')) + 1 + Buffer.byteLength(cstr(value, 'parameter value')) + 1,
  );
  putStr(out, putStr(out, 5, name), value);
  return out;
}

/** BackendKeyData ('K'). The key is 4 bytes in protocol 3.0. */
export function backendKeyData(processId: number, secretKey: Buffer): Buffer {
  const out = typed(Backend.BackendKeyData, 4 + secretKey.length);
  out.writeInt32BE(processId, 5);
  secretKey.copy(out, 9);
  return out;
}

export function commandComplete(tag: string): Buffer {
  const out = typed(Backend.CommandComplete, Buffer.byteLength(cstr(tag, 'command tag')) + 1);
  putStr(out, 5, tag);
  return out;
}

function empty(type: number): Buffer {
  return typed(type, 0);
}
export const EMPTY_QUERY_RESPONSE: Buffer = empty(Backend.EmptyQueryResponse);
export const PARSE_COMPLETE: Buffer = empty(Backend.ParseComplete);
export const BIND_COMPLETE: Buffer = empty(Backend.BindComplete);
export const CLOSE_COMPLETE: Buffer = empty(Backend.CloseComplete);
export const NO_DATA: Buffer = empty(Backend.NoData);
export const PORTAL_SUSPENDED: Buffer = empty(Backend.PortalSuspended);
export const SYNC: Buffer = empty(Frontend.Sync);
export const FLUSH: Buffer = empty(Frontend.Flush);
export const TERMINATE: Buffer = empty(Frontend.Terminate);
/** CopyDone ('c') is the same in both directions. */
export const COPY_DONE: Buffer = empty(Frontend.CopyDone);

export function copyFail(message: string): Buffer {
  const out = typed(Frontend.CopyFail, Buffer.byteLength(cstr(message, 'CopyFail message')) + 1);
  putStr(out, 5, message);
  return out;
}

/** CopyData ('d'), same in both directions. */
export function copyData(data: Buffer): Buffer {
  const out = typed(Frontend.CopyData, data.length);
  data.copy(out, 5);
  return out;
}

/** CopyInResponse ('G') / CopyOutResponse ('H') / CopyBothResponse ('W'). */
export function copyResponse(type: 0x47 | 0x48 | 0x57, format: 0 | 1, columnFormats: readonly (0 | 1)[]): Buffer {
  const out = typed(type, 1 + 2 + 2 * columnFormats.length);
  out[5] = format;
  out.writeUInt16BE(columnFormats.length, 6);
  let at = 8;
  for (const f of columnFormats) {
    out.writeInt16BE(f, at);
    at += 2;
  }
  return out;
}

/** Query ('Q'). */
export function query(sql: string): Buffer {
  const out = typed(Frontend.Query, Buffer.byteLength(cstr(sql, 'query text')) + 1);
  putStr(out, 5, sql);
  return out;
}

/**
 * PasswordMessage ('p'). A string is a password (or md5 response) and gets its terminating NUL; a Buffer is
 * written as is — the body of a SASLInitialResponse or SASLResponse, built by the caller.
 */
export function passwordMessage(payload: Buffer | string): Buffer {
  if (typeof payload === 'string') {
    const out = typed(Frontend.PasswordMessage, Buffer.byteLength(cstr(payload, 'password')) + 1);
    putStr(out, 5, payload);
    return out;
  }
  const out = typed(Frontend.PasswordMessage, payload.length);
  payload.copy(out, 5);
  return out;
}

/** SASLInitialResponse ('p'): mechanism, then the client-first-message with its int32 length. */
export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  const out = typed(
    Frontend.PasswordMessage,
    Buffer.byteLength(cstr(mechanism, 'SASL mechanism')) + 1 + 4 + data.length,
  );
  const at = putStr(out, 5, mechanism);
  out.writeInt32BE(data.length, at);
  data.copy(out, at + 4);
  return out;
}

/** Parse ('P'). */
export function parse(name: string, sql: string, paramTypes: readonly number[] = []): Buffer {
  const out = typed(
    Frontend.Parse,
    Buffer.byteLength(cstr(name, 'statement name'))
      + 1
      + Buffer.byteLength(cstr(sql, 'query text'))
      + 1
      + 2
      + 4 * paramTypes.length,
  );
  let at = putStr(out, putStr(out, 5, name), sql);
  at = out.writeUInt16BE(paramTypes.length, at);
  for (const t of paramTypes) at = out.writeUInt32BE(t, at);
  return out;
}

/** Bind ('B'). Parameters are raw values (text or binary per their format code), null for SQL NULL. */
export function bind(m: {
  portal?: string;
  statement?: string;
  paramFormats?: readonly number[];
  params?: readonly (Buffer | null)[];
  resultFormats?: readonly number[];
}): Buffer {
  const portal = cstr(m.portal ?? '', 'portal name');
  const statement = cstr(m.statement ?? '', 'statement name');
  const pf = m.paramFormats ?? [];
  const params = m.params ?? [];
  const rf = m.resultFormats ?? [];
  let size =
    Buffer.byteLength(portal) + 1 + Buffer.byteLength(statement) + 1 + 2 + 2 * pf.length + 2 + 2 + 2 * rf.length;
  for (const p of params) size += 4 + (p === null ? 0 : p.length);
  const out = typed(Frontend.Bind, size);
  let at = putStr(out, putStr(out, 5, portal), statement);
  at = out.writeUInt16BE(pf.length, at);
  for (const f of pf) at = out.writeInt16BE(f, at);
  at = out.writeUInt16BE(params.length, at);
  for (const p of params) {
    if (p === null) {
      at = out.writeInt32BE(-1, at);
      continue;
    }
    at = out.writeInt32BE(p.length, at);
    at += p.copy(out, at);
  }
  at = out.writeUInt16BE(rf.length, at);
  for (const f of rf) at = out.writeInt16BE(f, at);
  return out;
}

function kindName(type: number, kind: 'S' | 'P', name: string): Buffer {
  const out = typed(type, 1 + Buffer.byteLength(cstr(name, 'name')) + 1);
  out[5] = kind.charCodeAt(0);
  putStr(out, 6, name);
  return out;
}
/** Describe ('D') a prepared statement ('S') or portal ('P'). */
export function describe(kind: 'S' | 'P', name = ''): Buffer {
  return kindName(Frontend.Describe, kind, name);
}
/** Close ('C') a prepared statement ('S') or portal ('P'). */
export function close(kind: 'S' | 'P', name = ''): Buffer {
  return kindName(Frontend.Close, kind, name);
}

/** Execute ('E'); maxRows 0 = no limit. */
export function execute(portal = '', maxRows = 0): Buffer {
  const out = typed(Frontend.Execute, Buffer.byteLength(cstr(portal, 'portal name')) + 1 + 4);
  out.writeInt32BE(maxRows, putStr(out, 5, portal));
  return out;
}

/** FunctionCall ('F'). */
export function functionCall(
  functionOid: number,
  argFormats: readonly number[],
  args: readonly (Buffer | null)[],
  resultFormat: 0 | 1,
): Buffer {
  let size = 4 + 2 + 2 * argFormats.length + 2 + 2;
  for (const a of args) size += 4 + (a === null ? 0 : a.length);
  const out = typed(Frontend.FunctionCall, size);
  let at = out.writeUInt32BE(functionOid, 5);
  at = out.writeUInt16BE(argFormats.length, at);
  for (const f of argFormats) at = out.writeInt16BE(f, at);
  at = out.writeUInt16BE(args.length, at);
  for (const a of args) {
    if (a === null) {
      at = out.writeInt32BE(-1, at);
      continue;
    }
    at = out.writeInt32BE(a.length, at);
    at += a.copy(out, at);
  }
  out.writeInt16BE(resultFormat, at);
  return out;
}

/** RowDescription ('T'). */
export function rowDescription(fields: readonly FieldInfo[]): Buffer {
  let size = 2;
  for (const f of fields) size += Buffer.byteLength(cstr(f.name, 'column name')) + 1 + 18;
  const out = typed(Backend.RowDescription, size);
  let at = out.writeUInt16BE(fields.length, 5);
  for (const f of fields) {
    at = putStr(out, at, f.name);
    at = out.writeUInt32BE(f.tableOid, at);
    at = out.writeInt16BE(f.attnum, at);
    at = out.writeUInt32BE(f.typeOid, at);
    at = out.writeInt16BE(f.typeLen, at);
    at = out.writeInt32BE(f.typeMod, at);
    at = out.writeInt16BE(f.format, at);
  }
  return out;
}

/** DataRow ('D'): strings are written as UTF-8 text values, null as SQL NULL (length -1). */
export function dataRow(values: readonly (Buffer | string | null)[]): Buffer {
  let size = 2;
  for (const v of values) size += 4 + (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  const out = typed(Backend.DataRow, size);
  let at = out.writeUInt16BE(values.length, 5);
  for (const v of values) {
    if (v === null) {
      at = out.writeInt32BE(-1, at);
      continue;
    }
    if (typeof v === 'string') {
      const n = out.write(v, at + 4, 'utf8');
      out.writeInt32BE(n, at);
      at += 4 + n;
    } else {
      at = out.writeInt32BE(v.length, at);
      at += v.copy(out, at);
    }
  }
  return out;
}

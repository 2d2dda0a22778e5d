// The startup phase's untyped packets: an int32 length (counting itself), an int32 request code, a body
// (protocol-message-formats: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). They carry no type
// byte, so they are told apart only by connection state — the caller knows it is reading a client's first
// packet (or the packet after an SSL/GSSENC refusal) — and the code (pgbouncer/pgbouncer/src/proto.c
// get_header), never by guessing from byte values.
//
// Protocol versions. We accept major 3 with any minor, and always continue in 3.0: PostgreSQL 15 upstreams
// speak 3.0 only, and the proxy relays their BackendKeyData. A client asking for a newer minor (3.2 from
// libpq 18, for longer cancel keys) or sending `_pq_.` protocol options gets NegotiateProtocolVersion
// (newest minor 0 + the options we did not recognise) before authentication, exactly as a PostgreSQL 15
// server answers it (backend/tcop/backend_startup.c SendNegotiateProtocolVersion); see
// negotiateProtocolVersionFor(). Major versions other than 3 are refused.
import { isUtf8 } from 'node:buffer';
import { RequestCode } from './codes.ts';
import { WireError } from './frames.ts';

/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH (libpq/pqcomm.h). See readStartupLength for how it is applied. */
export const MAX_STARTUP_PACKET_LENGTH = 10000;
/** Longest cancel key protocol 3.2 allows (PostgreSQL 18 MAX_CANCEL_KEY_LENGTH); 3.0 keys are 4 bytes. */
export const MAX_CANCEL_KEY_LENGTH = 256;

export type StartupPacket =
  | { kind: 'startup'; protocol: number; params: Map<string, string> }
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: Buffer /* 4 bytes in v3.0 */ };

/**
 * The length of the startup packet at `at` (its whole size, length word included), or null until 4 bytes
 * are there. Throws WireError below 8 (length + code) or above 10000. PostgreSQL's check
 * (ProcessStartupPacket) allows 10000 bytes after the length word; we count the length word too, which is
 * 4 bytes stricter and fails closed — no client's startup packet comes near either.
 */
export function readStartupLength(buf: Buffer, at: number): number | null {
  if (buf.length - at < 4) return null;
  const len = buf.readInt32BE(at); // signed: a huge length reads negative and fails the bound
  if (len < 8 || len > MAX_STARTUP_PACKET_LENGTH) {
    throw new WireError(`invalid startup packet length ${len}: must be 8..${MAX_STARTUP_PACKET_LENGTH}`);
  }
  return len;
}

/** Parses one whole startup-phase packet, buf[start, end) (length word included). Throws WireError. */
export function parseStartup(buf: Buffer, start: number, end: number): StartupPacket {
  if (start < 0 || end > buf.length || end - start < 8) {
    throw new WireError(`startup packet of ${end - start} bytes is shorter than 8`);
  }
  const len = readStartupLength(buf, start)!;
  if (len !== end - start) throw new WireError(`startup packet says ${len} bytes but ${end - start} were framed`);
  const code = buf.readUInt32BE(start + 4);
  switch (code) {
    case RequestCode.SSLRequest:
      if (len !== 8) throw new WireError(`SSLRequest must be 8 bytes, got ${len}`);
      return SSL;
    case RequestCode.GSSENCRequest:
      if (len !== 8) throw new WireError(`GSSENCRequest must be 8 bytes, got ${len}`);
      return GSSENC;
    case RequestCode.CancelRequest: {
      const keyLen = len - 12;
      if (keyLen < 4 || keyLen > MAX_CANCEL_KEY_LENGTH) {
        throw new WireError(`CancelRequest carries a ${keyLen}-byte key; expected 4..${MAX_CANCEL_KEY_LENGTH}`);
      }
      // Copied: the key outlives the chunk (it is looked up in the session table after this returns).
      return {
        kind: 'cancel',
        processId: buf.readInt32BE(start + 8),
        secretKey: Buffer.from(buf.subarray(start + 12, end)),
      };
    }
  }
  const major = code >>> 16;
  if (major !== 3) {
    // 1234.x codes we do not know (a future request type) and protocol 2.0 alike: refuse, as PostgreSQL does.
    throw new WireError(
      `unsupported frontend protocol ${major}.${code & 0xffff}: the proxy supports 3.0 (3.x is negotiated down)`,
    );
  }
  // Body: name\0value\0 … \0. PostgreSQL (ProcessStartupPacket) stops at an empty name and requires that to be
  // the last byte ("invalid startup packet layout: expected terminator as last byte").
  const params = new Map<string, string>();
  let at = start + 8;
  for (;;) {
    if (at >= end) throw new WireError('invalid startup packet layout: expected terminator as last byte');
    if (buf[at] === 0) {
      if (at !== end - 1) throw new WireError('invalid startup packet layout: expected terminator as last byte');
      break;
    }
    const nameEnd = buf.indexOf(0, at);
    if (nameEnd < 0 || nameEnd >= end)
      throw new WireError('invalid startup packet layout: unterminated parameter name');
    const valueEnd = nameEnd + 1 < end ? buf.indexOf(0, nameEnd + 1) : -1;
    if (valueEnd < 0 || valueEnd >= end)
      throw new WireError('invalid startup packet layout: unterminated parameter value');
    // A later duplicate overrides an earlier one, as in PostgreSQL.
    params.set(utf8(buf, at, nameEnd, 'parameter name'), utf8(buf, nameEnd + 1, valueEnd, 'parameter value'));
    at = valueEnd + 1;
  }
  return { kind: 'startup', protocol: code, params };
}

const SSL: StartupPacket = Object.freeze({ kind: 'ssl' });
const GSSENC: StartupPacket = Object.freeze({ kind: 'gssenc' });

function utf8(buf: Buffer, start: number, end: number, what: string): string {
  // The names and values decide identity and session settings: bytes we would decode differently from the
  // server (invalid UTF-8 becomes U+FFFD here) are refused rather than guessed at.
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw new WireError(`startup packet ${what} is not valid UTF-8`);
  return view.toString('utf8');
}
/**
 * For a v3 startup packet: the NegotiateProtocolVersion message to send before authentication, or null when
 * the client asked for exactly 3.0 with no `_pq_.` options. PostgreSQL 15 sends it in the same two cases;
 * the session then continues in 3.0, and the options named are ignored (they must not be forwarded upstream).
 */
export function negotiateProtocolVersionFor(p: { protocol: number; params: Map<string, string> }): Buffer | null {
  const unsupported: string[] = [];
  for (const name of p.params.keys()) if (name.startsWith('_pq_.')) unsupported.push(name);
  if ((p.protocol & 0xffff) === 0 && unsupported.length === 0) return null;
  return negotiateProtocolVersion(0, unsupported);
}

/** NegotiateProtocolVersion ('v'): newest minor version supported, then the unrecognised option names. */
export function negotiateProtocolVersion(newestMinor: number, unsupportedOptions: readonly string[]): Buffer {
  let size = 1 + 4 + 4 + 4;
  for (const o of unsupportedOptions) size += Buffer.byteLength(o) + 1;
  const out = Buffer.allocUnsafe(size);
  out[0] = 0x76;
  out.writeInt32BE(size - 1, 1);
  out.writeInt32BE(newestMinor, 5);
  out.writeInt32BE(unsupportedOptions.length, 9);
  let at = 13;
  for (const o of unsupportedOptions) {
    at += out.write(o, at, 'utf8');
    out[at++] = 0;
  }
  return out;
}

/** A v3.0 StartupMessage with these parameters (user first, as libpq orders it; values must not contain NUL). */
export function startupMessage(params: Record<string, string>): Buffer {
  let size = 4 + 4 + 1;
  for (const [k, v] of Object.entries(params)) {
    if (k.length === 0) throw new RangeError('startup parameter name must not be empty');
    if (k.includes('\0') || v.includes('\0'))
      throw new RangeError(`startup parameter ${JSON.stringify(k)} contains NUL`);
    size += Buffer.byteLength(k) + 1 + Buffer.byteLength(v) + 1;
  }
  if (size > MAX_STARTUP_PACKET_LENGTH)
    throw new RangeError(`startup packet of ${size} bytes exceeds ${MAX_STARTUP_PACKET_LENGTH}`);
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(size, 0);
  out.writeInt32BE(RequestCode.Protocol30, 4);
  let at = 8;
  for (const [k, v] of Object.entries(params)) {
    at += out.write(k, at, 'utf8');
    out[at++] = 0;
    at += out.write(v, at, 'utf8');
    out[at++] = 0;
  }
  out[at] = 0;
  return out;
}

/** CancelRequest for (processId, secretKey). Sent on a new connection, which the server closes afterwards. */
export function cancelRequest(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < 4 || secretKey.length > MAX_CANCEL_KEY_LENGTH) {
    throw new RangeError(`cancel key must be 4..${MAX_CANCEL_KEY_LENGTH} bytes, got ${secretKey.length}`);
  }
  const out = Buffer.allocUnsafe(12 + secretKey.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(RequestCode.CancelRequest, 4);
  out.writeInt32BE(processId, 8);
  secretKey.copy(out, 12);
  return out;
}

function fixed(code: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(code, 4);
  return b;
}

// Serialized once at load (style.md §2). Never write into these.
export const SSL_REQUEST: Buffer = fixed(RequestCode.SSLRequest);
export const GSSENC_REQUEST: Buffer = fixed(RequestCode.GSSENCRequest);
/** The one-byte answers to SSLRequest / GSSENCRequest: 'N' refuses, 'S' (SSL) or 'G' (GSSENC) accepts. */
export const SSL_NO: Buffer = Buffer.from('N');
export const SSL_YES: Buffer = Buffer.from('S');

// Apply one MaskStrategy to one column value, given as offsets into the buffer it arrived in.
//
// Which types get a textual mask. A client decodes each value by its type OID and format
// (protocol-message-formats: RowDescription). For text-like types any UTF-8 string is a valid
// value in both formats (textsend/textrecv: the binary form of text, varchar, bpchar and name is
// the client-encoding bytes), so `***`, `a***@x.io` or a hex digest decode fine. For every other
// type (int, numeric, date, uuid, bytea, bool, arrays, ranges, …) a textual mask would make the
// client's decoder throw (node-postgres parses int8 text, pgJDBC reads 4 bytes of int4 binary),
// so every strategy becomes SQL NULL there: NULL is the one value every type accepts, and it
// leaks nothing. Types created after initdb (OID >= FirstNormalObjectId 16384: extension types
// such as citext, enums, composites) are unknown to us: in text format they are treated as text
// (citext, enum labels and composite literals are strings to a client); in binary format we do
// not know the layout, so they become NULL.
//
// json and jsonb keep a valid JSON document: `redact` gives the JSON string "***", `hash` the
// digest as a JSON string, `partial` masks a JSON string scalar like any text and turns any other
// JSON value (object, array, number) into "***" — a partial view of a document's text would show
// its structure and its last characters, which is neither useful nor safe. jsonb in binary format
// is a version byte (1) followed by the JSON text (jsonb_send); another version becomes NULL.
//
// Encoding: text values are decoded as UTF-8. The session is expected to pin client_encoding to
// UTF8; bytes that are not valid UTF-8 are masked as `***` by `partial` (never cut blindly).
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { MaskStrategy } from '../../policy/types.ts';
import type { MaskSettings } from './types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { MaskError } from './mask-error.ts';

/** How a value of a field is masked: as text, as JSON text, as binary jsonb, or replaced by NULL. */
export type ValueKind = 'text' | 'bpchar' | 'json' | 'jsonb-binary' | 'other';

// pg_type.dat OIDs (PostgreSQL 15; stable across versions).
const TEXT_OIDS: ReadonlySet<number> = new Set([
  25, // text
  1043, // varchar
  19, // name
  705, // unknown (an untyped literal: SELECT 'x')
]);
const BPCHAR_OID = 1042;
const JSON_OID = 114;
const JSONB_OID = 3802;
/** FirstNormalObjectId (access/transam.h): OIDs below it are built in, so we know what they are. */
const FIRST_NORMAL_OID = 16384;

export function valueKind(typeOid: number, format: 0 | 1): ValueKind {
  if (TEXT_OIDS.has(typeOid)) return 'text';
  if (typeOid === BPCHAR_OID) return 'bpchar';
  if (typeOid === JSON_OID) return 'json'; // json_send is the text, in both formats
  if (typeOid === JSONB_OID) return format === 0 ? 'json' : 'jsonb-binary';
  if (typeOid >= FIRST_NORMAL_OID && format === 0) return 'text';
  return 'other';
}

export function fieldKind(field: FieldInfo): ValueKind {
  return valueKind(field.typeOid, field.format);
}

// Constant results, serialized once (shared/style.md §2). Callers copy them, never write into them.
const REDACTED = Buffer.from('***');
const REDACTED_JSON = Buffer.from('"***"');
const REDACTED_JSONB = Buffer.from('\x01"***"', 'latin1');
const EMPTY = Buffer.alloc(0);

/** Digest length shown by `hash`: 16 hex chars = 64 bits, ample to keep joins and GROUP BY distinct. */
const HASH_HEX_CHARS = 16;
/** A shorter HMAC key would make the digest guessable by trying keys; a binding's key is 32 random bytes. */
export const MIN_HASH_KEY_BYTES = 16;
const keys = new WeakMap<Buffer, KeyObject>();

function hmacHex(key: Buffer, value: Buffer): string {
  let k = keys.get(key);
  if (k === undefined) {
    if (key.length < MIN_HASH_KEY_BYTES) {
      throw new MaskError(`hash masking needs a key of at least ${MIN_HASH_KEY_BYTES} bytes, got ${key.length}`);
    }
    k = createSecretKey(key);
    keys.set(key, k);
  }
  return createHmac('sha256', k).update(value).digest('hex').slice(0, HASH_HEX_CHARS);
}

/** The UTF-8 text of buf[start..end), or null when those bytes are not valid UTF-8. */
function decodeUtf8(buf: Buffer, start: number, end: number): string | null {
  const s = buf.toString('utf8', start, end);
  // toString replaces invalid sequences with U+FFFD; only then pay for the exact check (the
  // value may hold a genuine U+FFFD).
  if (s.includes('\uFFFD') && !isUtf8(buf.subarray(start, end))) return null;
  return s;
}

const WHITESPACE = /\s/;

/**
 * Partial view of a string, on code points (a character is never cut in half).
 * Emails (one `@`, no whitespace, a dotted domain): first character + `***@` + domain.
 * Anything else: at most the last 4 code points and never more than a third of the value, the rest
 * as `*` (length kept); values shorter than 5 code points show nothing.
 */
export function partialText(s: string): string {
  const at = s.indexOf('@');
  if (at > 0 && at === s.lastIndexOf('@') && isEmailDomain(s, at + 1) && !WHITESPACE.test(s)) {
    const first = String.fromCodePoint(s.codePointAt(0)!);
    return `${first}***@${s.slice(at + 1)}`;
  }
  // Code points, not UTF-16 units: every code point has exactly one unit that is not a low
  // surrogate (the input came from valid UTF-8, so there are no lone surrogates).
  let n = 0;
  for (let i = 0; i < s.length; i++) if (!isLowSurrogate(s.charCodeAt(i))) n++;
  const keep = n < 5 ? 0 : Math.min(4, Math.floor(n / 3));
  let from = s.length;
  for (let k = 0; k < keep; k++) {
    from--;
    if (isLowSurrogate(s.charCodeAt(from)) && from > 0) from--;
  }
  return '*'.repeat(n - keep) + s.slice(from);
}

/**
 * partialText on the bytes, for an all-ASCII value (the common case: every masked row of a bulk read
 * goes through here). Same result as `partialText` of the decoded string, without the decode, the
 * regex and two intermediate strings; null when a byte is not ASCII (then the string path decides).
 * For ASCII, /\s/ is exactly \t \n \v \f \r and space.
 */
function partialAscii(buf: Buffer, start: number, end: number, bpchar: boolean): Buffer | null {
  if (bpchar) while (end > start && buf[end - 1] === 0x20) end--; // char(n) padding is not part of the value
  let at = -1;
  let ats = 0;
  let space = false;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return null;
    if (c === 0x40) {
      if (at < 0) at = i;
      ats++;
    } else if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) space = true;
  }
  const n = end - start;
  if (at > start && ats === 1 && !space) {
    // isEmailDomain: the first '.' after the '@' has a byte before it and after it; no trailing '.'.
    let dot = -1;
    for (let i = at + 1; i < end; i++)
      if (buf[i] === 0x2e) {
        dot = i;
        break;
      }
    if (dot > at + 1 && dot < end - 1 && buf[end - 1] !== 0x2e) {
      const out = Buffer.allocUnsafe(4 + end - at); // first byte, '***', then '@' and the domain
      out[0] = buf[start]!;
      out[1] = out[2] = out[3] = 0x2a;
      buf.copy(out, 4, at, end);
      return out;
    }
  }
  const keep = n < 5 ? 0 : Math.min(4, Math.floor(n / 3));
  const out = Buffer.allocUnsafe(n);
  out.fill(0x2a, 0, n - keep);
  buf.copy(out, n - keep, end - keep, end);
  return out;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function isEmailDomain(s: string, from: number): boolean {
  const dot = s.indexOf('.', from);
  return dot > from && dot < s.length - 1 && s[s.length - 1] !== '.';
}

/**
 * Mask buf[start..end) (a non-NULL value) of the given kind. Returns the replacement bytes, or null
 * for SQL NULL. The result may be a shared constant: copy it, never write into it.
 */
export function maskValue(
  strategy: MaskStrategy,
  buf: Buffer,
  start: number,
  end: number,
  kind: ValueKind,
  settings: MaskSettings,
): Buffer | null {
  if (strategy === 'null' || kind === 'other') return null;
  switch (kind) {
    case 'text':
    case 'bpchar':
      return maskText(strategy, buf, start, end, kind === 'bpchar', settings);
    case 'json':
      return maskJson(strategy, buf, start, end, settings);
    case 'jsonb-binary': {
      // jsonb_send: int8 version (1) then the text. Another version is a layout we do not know.
      if (end - start < 1 || buf[start] !== 1) return null;
      if (strategy === 'redact') return REDACTED_JSONB;
      const json = maskJson(strategy, buf, start + 1, end, settings);
      const out = Buffer.allocUnsafe(json.length + 1);
      out[0] = 1;
      json.copy(out, 1);
      return out;
    }
  }
}

function maskText(
  strategy: Exclude<MaskStrategy, 'null'>,
  buf: Buffer,
  start: number,
  end: number,
  bpchar: boolean,
  settings: MaskSettings,
): Buffer {
  switch (strategy) {
    case 'redact':
      return REDACTED;
    case 'hash':
      return Buffer.from(hmacHex(settings.hashKey, buf.subarray(start, end)), 'latin1');
    case 'partial': {
      if (end === start) return EMPTY;
      const fast = partialAscii(buf, start, end, bpchar);
      if (fast !== null) return fast;
      let s = decodeUtf8(buf, start, end);
      if (s === null) return REDACTED;
      if (bpchar) s = s.replace(/ +$/, ''); // char(n) padding is not part of the value
      return Buffer.from(partialText(s), 'utf8');
    }
  }
}

function maskJson(
  strategy: Exclude<MaskStrategy, 'null'>,
  buf: Buffer,
  start: number,
  end: number,
  settings: MaskSettings,
): Buffer {
  switch (strategy) {
    case 'redact':
      return REDACTED_JSON;
    case 'hash':
      return Buffer.from(`"${hmacHex(settings.hashKey, buf.subarray(start, end))}"`, 'latin1');
    case 'partial': {
      const text = decodeUtf8(buf, start, end);
      if (text === null) return REDACTED_JSON;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return REDACTED_JSON;
      }
      if (typeof parsed !== 'string') return REDACTED_JSON;
      return Buffer.from(JSON.stringify(partialText(parsed)), 'utf8');
    }
  }
}

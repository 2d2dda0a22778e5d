// Scrub row values PostgreSQL echoes back in ErrorResponse ('E') and NoticeResponse ('N').
//
// Both are a type byte, Int32 length, then fields: a one-byte code and a C string, ended by a zero
// byte (protocol-error-fields). PostgreSQL puts row values in several of them:
//   D detail   `Key (email)=(alice@x.io) already exists.`, `Failing row contains (1, alice@x.io, …).`
//   M message  `invalid input syntax for type integer: "alice@x.io"` (a cast of a masked value),
//              `value "2147483648" is out of range for type integer`, `character with byte sequence
//              0xe2 0x82 0xac in encoding "UTF8" has no equivalent in encoding "LATIN1"`
//   W where    `JSON data, line 1: alice…`, PL/pgSQL lines with variable values
//   q, p       internal query text (dynamic SQL built from row values) and a position in it
//   H hint     sometimes quotes input
// A detail is formatted by the server from whatever it was checking; we cannot tell which of the
// values in it come from masked columns. So once a masked column is in play for the statement, D,
// W, q and p are dropped whole, a hint that quotes anything is dropped, and the message keeps its
// text only up to the first quoted segment that is not a name PostgreSQL also reported in the
// s/t/c/d/n fields (schema, table, column, data type, constraint). Everything from there up to the
// last double quote becomes `"***"`: a value may itself contain quotes, so the segment boundaries
// inside that span cannot be trusted; the text after the last quote cannot be inside a quoted value
// and is kept (`value "***" is out of range for type integer`). Unknown field codes are dropped:
// clients must ignore them anyway (protocol-error-fields), and we cannot vouch for their content.
// Kept as is: S, V, C (SQLSTATE), s, t, c, d, n, P, F, L, R.
//
// Text is handled as latin1 so every byte maps to one char and back unchanged, whatever the client
// encoding (all server encodings keep ASCII `"` and `:` as single bytes).
import { MaskError } from './mask-error.ts';

const ERROR_RESPONSE = 0x45;  // 'E'
const NOTICE_RESPONSE = 0x4e; // 'N'

const KEEP: ReadonlySet<number> = new Set([
  0x53 /* S */, 0x56 /* V */, 0x43 /* C */, 0x73 /* s */, 0x74 /* t */, 0x63 /* c */, 0x64 /* d */,
  0x6e /* n */, 0x50 /* P */, 0x46 /* F */, 0x4c /* L */, 0x52 /* R */,
]);
const MESSAGE = 0x4d; // M
const HINT = 0x48;    // H
/** Fields whose values are names PostgreSQL reports about the error, not data. */
const NAME_FIELDS: ReadonlySet<number> = new Set([0x73, 0x74, 0x63, 0x64, 0x6e]);

const HEX_BYTE = /0x[0-9a-f]{2}/i;

// RAISE in PL/pgSQL (and plpy.notice/error in PL/Python) formats arbitrary text, values unquoted
// (`RAISE NOTICE 'email is %', email`): nothing in such a message or hint can be trusted. Known
// imperfection: C extensions and other procedural languages can do the same under their own
// routine names; only the message rules below apply to them.
const SQLSTATE = 0x43; // C
const ROUTINE = 0x52;  // R
const RAISE_EXCEPTION = 'P0001';
const USER_TEXT_ROUTINES: ReadonlySet<string> = new Set(['exec_stmt_raise', 'PLy_output', 'PLy_exception_set']);
const USER_TEXT_HIDDEN = 'message hidden by Airlock: it may contain values of masked columns';

/**
 * Returns a scrubbed copy of the ErrorResponse/NoticeResponse at buf[start..end), or null when it
 * can go out unchanged (no masked column in play, or nothing in it to scrub). `maskedColumns` are
 * the bare names of masked columns in the relations the statement touched; a non-empty set scrubs
 * even when `anyMasked` is false (a caller that knows of masked columns is never ignored).
 */
export function scrubErrorFields(buf: Buffer, start: number, end: number,
                                 maskedColumns: ReadonlySet<string>, anyMasked: boolean): Buffer | null {
  if (!(start >= 0 && end <= buf.length && end - start >= 6)) {
    throw new MaskError(`ErrorResponse: bounds ${start}..${end} invalid for a ${buf.length}-byte buffer`);
  }
  const type = buf[start]!;
  if (type !== ERROR_RESPONSE && type !== NOTICE_RESPONSE) {
    throw new MaskError(`ErrorResponse: type byte 0x${type.toString(16)} is neither 'E' nor 'N'`);
  }
  const len = buf.readInt32BE(start + 1);
  if (len !== end - start - 1) throw new MaskError(`ErrorResponse: length field ${len} does not match message size ${end - start - 1}`);
  if (buf[end - 1] !== 0) throw new MaskError('ErrorResponse: not terminated by a zero byte');

  // Parse every field (strictly, even when we end up changing nothing).
  const fields: { code: number; from: number; to: number }[] = [];
  let pos = start + 5;
  while (buf[pos] !== 0) {
    const code = buf[pos]!;
    const from = pos + 1;
    const to = buf.indexOf(0, from);
    if (to === -1 || to >= end - 1) throw new MaskError(`ErrorResponse: field '${String.fromCharCode(code)}' is not terminated`);
    fields.push({ code, from, to });
    pos = to + 1;
  }
  if (pos !== end - 1) throw new MaskError('ErrorResponse: bytes after the terminating zero');
  if (!anyMasked && maskedColumns.size === 0) return null;

  const names = new Set<string>();
  let userText = false;
  for (const f of fields) {
    if (NAME_FIELDS.has(f.code)) names.add(buf.toString('latin1', f.from, f.to));
    else if (f.code === SQLSTATE) userText ||= buf.toString('latin1', f.from, f.to) === RAISE_EXCEPTION;
    else if (f.code === ROUTINE) userText ||= USER_TEXT_ROUTINES.has(buf.toString('latin1', f.from, f.to));
  }

  let changed = false;
  const kept: { code: number; text: Buffer }[] = [];
  for (const f of fields) {
    const raw = buf.subarray(f.from, f.to);
    if (KEEP.has(f.code)) { kept.push({ code: f.code, text: raw }); continue; }
    if (f.code === MESSAGE) {
      const m = userText ? USER_TEXT_HIDDEN : scrubMessage(raw.toString('latin1'), names);
      if (m === null) kept.push({ code: f.code, text: raw });
      else { kept.push({ code: f.code, text: Buffer.from(m, 'latin1') }); changed = true; }
      continue;
    }
    if (f.code === HINT && !userText && quietHint(raw.toString('latin1'))) {
      kept.push({ code: f.code, text: raw });
      continue;
    }
    changed = true; // D, W, q, p, a quoting hint, or a field code we do not know: dropped
  }
  if (!changed) return null;

  let size = 5 + 1;
  for (const k of kept) size += 1 + k.text.length + 1;
  const out = Buffer.allocUnsafe(size);
  out[0] = type;
  out.writeInt32BE(size - 1, 1);
  let w = 5;
  for (const k of kept) {
    out[w++] = k.code;
    w += k.text.copy(out, w);
    out[w++] = 0;
  }
  out[w++] = 0;
  return out;
}

function quietHint(h: string): boolean {
  return !/["']/.test(h) && !HEX_BYTE.test(h);
}

/**
 * The message with everything from the first quoted segment that is not a reported name (or the
 * first hex byte dump) up to the last double quote replaced by `"***"`; null when nothing is.
 */
export function scrubMessage(m: string, names: ReadonlySet<string>): string | null {
  let cut = -1;
  let q = 0;
  let inQuote = false;
  for (let i = 0; i <= m.length; i++) {
    if (i < m.length && m.charCodeAt(i) !== 0x22) continue;
    const part = m.slice(q, i);
    if (inQuote) {
      if (i === m.length || !names.has(part)) { cut = q - 1; break; } // unterminated or not a name
    } else {
      const h = part.search(HEX_BYTE);
      if (h !== -1) { cut = q + h; break; }
    }
    inQuote = !inQuote;
    q = i + 1;
  }
  if (cut === -1) return null;
  // The text after the last quote is outside every quoted value only when the quotes pair up.
  let quotes = 0;
  for (let i = 0; i < m.length; i++) if (m.charCodeAt(i) === 0x22) quotes++;
  const lastQuote = m.lastIndexOf('"');
  const tail = quotes % 2 === 0 && lastQuote > cut ? m.slice(lastQuote + 1) : '';
  return `${m.slice(0, cut)}"***"${HEX_BYTE.test(tail) ? '' : tail}`;
}

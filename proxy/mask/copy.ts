// Mask COPY … TO STDOUT output: rewrite one CopyData message ('d', Int32 len, data).
//
// PostgreSQL sends one row per CopyData (copyto.c CopySendEndOfRow flushes per row), but the
// protocol does not promise it. We handle any number of complete rows in one message and throw
// MaskError (fail closed: the session ends the connection) for a message that does not end at a row
// boundary; rows are never reassembled across messages.
//
// Text format (sql-copy "Text Format"): columns separated by the delimiter (default tab), rows by
// `\n` (the protocol always uses \n, copyto.c), NULL written as the null string (default `\N`),
// and in values backslash, newline, carriage return, tab, the delimiter and \b \f \v escaped with a
// backslash. A raw newline therefore always ends a row.
// CSV format (sql-copy "CSV Format"): delimiter default `,`, quote default `"`, escape default the
// quote; a value is quoted when it contains the delimiter, quote, CR or LF or equals the null string
// (default: empty, so an empty string is written `""` and NULL as nothing); inside quotes the quote
// and escape characters are preceded by the escape character. Newlines may sit inside quotes.
//
// COPY carries no type information, so every masked column is masked as text (`***`, `a***@x.io`,
// a hex digest) — the output is a text stream and no binary decoder can break on it; `null` writes
// the null string.
//
// With HEADER the first CopyData holds the column names, not values: the session forwards it
// unmasked rather than passing it here (it would be masked like a row).
//
// Where the result goes (a bulk COPY is one call per row, so nothing per row the row does not need): a
// message with nothing to replace is handed back as the view of the input it is, and a masked one is
// written into the output slab (slab.ts). The session passes either as it passes an unmasked message.
import type { MaskSettings, RowMask } from './types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { MaskError } from './mask-error.ts';
import { fieldKind, maskValue } from './strategies.ts';
import { copyBytes, place, type Span } from './slab.ts';

export interface CopyOptions {
  readonly format: 'text' | 'csv';
  /** One byte; default tab (text) or comma (csv). */
  readonly delimiter?: string;
  /** CSV only; one byte; default `"`. */
  readonly quote?: string;
  /** CSV only; one byte; default the quote character. */
  readonly escape?: string;
  /** Default `\N` (text) or the empty string (csv). */
  readonly null?: string;
}

/** Why the session must refuse COPY table TO … (FORMAT binary) when a column in it is masked. */
export const copyBinaryMaskUnsupported =
  'COPY of a table in binary format cannot be masked (its values carry no type information the proxy could mask safely); use COPY (SELECT … FROM table) TO STDOUT (FORMAT binary), or FORMAT text or csv';

const COPY_DATA = 0x64; // 'd'
const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const MAX_MESSAGE_LEN = 0x7fffffff;

interface Resolved {
  csv: boolean;
  delim: number;
  quote: number;
  escape: number;
  nul: Buffer;
  /** Text format: 1 for the bytes that end or escape a field (delimiter, newline, backslash), 0 for the rest. */
  special: Uint8Array;
}
// Options resolve once per COPY, not per message: the session keeps the same object for a COPY.
const resolvedCache = new WeakMap<CopyOptions, Resolved>();

function oneByte(what: string, v: string): number {
  const b = Buffer.from(v, 'utf8');
  if (b.length !== 1) throw new MaskError(`COPY ${what} must be a single one-byte character, got ${JSON.stringify(v)}`);
  return b[0]!;
}

let lastOpts: CopyOptions | null = null;
let lastResolved: Resolved | null = null;

function resolve(opts: CopyOptions): Resolved {
  if (opts === lastOpts) return lastResolved!; // a bulk COPY: every message has the same options
  let r = resolvedCache.get(opts);
  if (r === undefined) r = resolveNew(opts);
  lastOpts = opts;
  lastResolved = r;
  return r;
}

function resolveNew(opts: CopyOptions): Resolved {
  const csv = opts.format === 'csv';
  if (!csv && opts.format !== 'text') throw new MaskError(`COPY format ${String(opts.format)} cannot be masked`);
  const delim = oneByte('delimiter', opts.delimiter ?? (csv ? ',' : '\t'));
  const quote = csv ? oneByte('quote', opts.quote ?? '"') : -1;
  const escape = csv ? oneByte('escape', opts.escape ?? opts.quote ?? '"') : -1;
  if (delim === LF || delim === CR || (!csv && delim === BACKSLASH) || delim === quote) {
    throw new MaskError(`COPY delimiter ${JSON.stringify(opts.delimiter)} is not usable`);
  }
  const special = new Uint8Array(256);
  special[delim] = special[LF] = special[BACKSLASH] = 1;
  const r = { csv, delim, quote, escape, nul: Buffer.from(opts.null ?? (csv ? '' : '\\N'), 'utf8'), special };
  resolvedCache.set(opts, r);
  return r;
}

function unchanged(buf: Buffer, start: number, end: number, out: Span): Span {
  out.buf = buf;
  out.start = start;
  out.end = end;
  return out;
}

// Masked fields of the current message between the parsing and the writing pass (module scratch:
// synchronous, never re-entered, cleared before return).
// The arrays keep their length (truncating them would give their storage back, to be grown again on the next
// row); `recorded` counts the entries of the current message, and clearRecorded() drops its replacements.
const fieldStart: number[] = [];
const fieldEnd: number[] = [];
const replacement: Buffer[] = [];
let recorded = 0;
const EMPTY = Buffer.alloc(0);

function clearRecorded(): void {
  for (let k = 0; k < recorded; k++) replacement[k] = EMPTY; // no masked value outlives the call
  recorded = 0;
}

/** buf[start, end) is one whole CopyData message (type byte and length agree), or MaskError. */
function checkCopyData(buf: Buffer, start: number, end: number): void {
  if (!(start >= 0 && end <= buf.length && end - start >= 5)) {
    throw new MaskError(`CopyData: bounds ${start}..${end} invalid for a ${buf.length}-byte buffer`);
  }
  if (buf[start] !== COPY_DATA) throw new MaskError(`CopyData: type byte 0x${buf[start]!.toString(16)} is not 'd'`);
  const len = buf.readInt32BE(start + 1);
  if (len !== end - start - 1)
    throw new MaskError(`CopyData: length field ${len} does not match message size ${end - start - 1}`);
}

/**
 * The CopyData message buf[start, end) with the masked columns of every row in it replaced, into `out` (and
 * returned): the input itself when nothing in it changed, else a copy in the output slab.
 */
export function maskCopyData(
  buf: Buffer,
  start: number,
  end: number,
  columnMask: RowMask,
  opts: CopyOptions,
  settings: MaskSettings,
  out: Span,
): Span {
  checkCopyData(buf, start, end);
  const o = resolve(opts);
  try {
    let pos = start + 5;
    if (o.csv) while (pos < end) pos = csvRow(buf, pos, end, columnMask, o, settings);
    else while (pos < end) pos = textRow(buf, pos, end, columnMask, o, settings);
    return recorded === 0 ? unchanged(buf, start, end, out) : spliced(buf, start, end, out);
  } finally {
    clearRecorded();
  }
}

/**
 * The CopyData message buf[start, end) with every recorded field [fieldStart, fieldEnd) replaced by its
 * replacement, in order, and the length field set to the new size, written into the output slab (`out`).
 * Text, CSV and binary masking share it.
 */
function spliced(buf: Buffer, start: number, end: number, out: Span): Span {
  let size = end - start;
  for (let k = 0; k < recorded; k++) size += replacement[k]!.length - (fieldEnd[k]! - fieldStart[k]!);
  if (size - 1 > MAX_MESSAGE_LEN) throw new MaskError('CopyData: masked message exceeds the protocol message size');
  const dst = place(size, out);
  const at = out.start;
  dst[at] = COPY_DATA;
  dst.writeInt32BE(size - 1, at + 1);
  let w = at + 5;
  let cursor = start + 5;
  for (let k = 0; k < recorded; k++) {
    w += copyBytes(buf, cursor, fieldStart[k]!, dst, w);
    const r = replacement[k]!;
    w += copyBytes(r, 0, r.length, dst, w);
    cursor = fieldEnd[k]!;
  }
  w += copyBytes(buf, cursor, end, dst, w);
  if (w !== out.end) throw new MaskError(`CopyData: internal size mismatch ${w - at} != ${size}`);
  return out;
}

function record(fs: number, fe: number, bytes: Buffer): void {
  fieldStart[recorded] = fs;
  fieldEnd[recorded] = fe;
  replacement[recorded] = bytes;
  recorded++;
}

// ---- text format ----------------------------------------------------------------------------

/** Parse one row starting at pos; record its masked fields; return the position after its `\n`. */
function textRow(buf: Buffer, pos: number, end: number, mask: RowMask, o: Resolved, settings: MaskSettings): number {
  const ncols = mask.length;
  let col = 0;
  let fs = pos;
  let escaped = false; // the field holds a backslash: its value must be decoded before masking
  const special = o.special;
  for (;;) {
    while (pos < end && special[buf[pos]!] === 0) pos++; // most bytes: one table load
    if (pos >= end) throw new MaskError('CopyData: message does not end at a row boundary');
    const c = buf[pos]!;
    if (c === BACKSLASH) {
      if (pos + 1 >= end || buf[pos + 1] === LF) throw new MaskError('CopyData: backslash at the end of a row');
      escaped = true;
      pos += 2;
      continue;
    }
    // Field [fs, pos) ends here (c is the delimiter or the newline).
    if (ncols === 0) {
      if (c !== LF || pos !== fs) throw new MaskError('CopyData: row has columns, the COPY has none');
      return pos + 1;
    }
    if (col >= ncols) throw new MaskError(`CopyData: row has more than ${ncols} columns`);
    const strategy = mask[col];
    if (strategy != null) maskTextField(buf, fs, pos, escaped, strategy, o, settings);
    col++;
    if (c === LF) {
      if (col !== ncols) throw new MaskError(`CopyData: row has ${col} columns, expected ${ncols}`);
      return pos + 1;
    }
    pos++;
    fs = pos;
    escaped = false;
  }
}

function isNullField(buf: Buffer, fs: number, fe: number, nul: Buffer): boolean {
  const n = nul.length;
  if (fe - fs !== n) return false;
  for (let i = 0; i < n; i++) if (buf[fs + i] !== nul[i]) return false; // a byte or two: no native call
  return true;
}

function maskTextField(
  buf: Buffer,
  fs: number,
  fe: number,
  escaped: boolean,
  strategy: NonNullable<RowMask[number]>,
  o: Resolved,
  settings: MaskSettings,
): void {
  if (isNullField(buf, fs, fe, o.nul)) return; // NULL stays NULL
  let v: Buffer | null;
  if (escaped) {
    const value = decodeText(buf, fs, fe);
    v = maskValue(strategy, value, 0, value.length, 'text', settings);
  } else {
    v = maskValue(strategy, buf, fs, fe, 'text', settings); // no escape: the bytes are the value
  }
  record(fs, fe, v === null ? o.nul : encodeText(v, o.delim));
}

const OCTAL = (c: number): boolean => c >= 0x30 && c <= 0x37;
function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Undo text-format escapes (sql-copy "Text Format", copyfromparse.c CopyReadAttributesText). */
export function decodeText(buf: Buffer, fs: number, fe: number): Buffer {
  let first = fs;
  while (first < fe && buf[first] !== BACKSLASH) first++;
  if (first === fe) return buf.subarray(fs, fe);
  const out = Buffer.allocUnsafe(fe - fs);
  let w = 0;
  for (let p = fs; p < fe; ) {
    const c = buf[p++]!;
    if (c !== BACKSLASH || p >= fe) {
      out[w++] = c;
      continue;
    }
    const e = buf[p++]!;
    switch (e) {
      case 0x62:
        out[w++] = 0x08;
        break; // \b
      case 0x66:
        out[w++] = 0x0c;
        break; // \f
      case 0x6e:
        out[w++] = LF;
        break; // \n
      case 0x72:
        out[w++] = CR;
        break; // \r
      case 0x74:
        out[w++] = 0x09;
        break; // \t
      case 0x76:
        out[w++] = 0x0b;
        break; // \v
      case 0x78: {
        // \xh or \xhh; a bare \x is an x
        const h1 = p < fe ? hexVal(buf[p]!) : -1;
        if (h1 < 0) {
          out[w++] = e;
          break;
        }
        p++;
        const h2 = p < fe ? hexVal(buf[p]!) : -1;
        if (h2 < 0) {
          out[w++] = h1;
          break;
        }
        p++;
        out[w++] = (h1 << 4) | h2;
        break;
      }
      default:
        if (OCTAL(e)) {
          // \d, \dd or \ddd octal
          let v = e - 0x30;
          if (p < fe && OCTAL(buf[p]!)) {
            v = (v << 3) + buf[p++]! - 0x30;
            if (p < fe && OCTAL(buf[p]!)) v = (v << 3) + buf[p++]! - 0x30;
          }
          out[w++] = v & 0xff;
        } else {
          out[w++] = e; // any other character stands for itself
        }
    }
  }
  return out.subarray(0, w);
}

/** Escape a value for text format the way copyto.c CopyAttributeOutText does. */
export function encodeText(v: Buffer, delim: number): Buffer {
  let extra = 0;
  for (let i = 0; i < v.length; i++) if (textEscape(v[i]!, delim) !== 0) extra++;
  if (extra === 0) return v;
  const out = Buffer.allocUnsafe(v.length + extra);
  let w = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    const e = textEscape(c, delim);
    if (e !== 0) {
      out[w++] = BACKSLASH;
      out[w++] = e;
    } else out[w++] = c;
  }
  return out;
}

/** The character after the backslash for c, or 0 when c goes out as itself. */
function textEscape(c: number, delim: number): number {
  switch (c) {
    case 0x08:
      return 0x62;
    case 0x0c:
      return 0x66;
    case LF:
      return 0x6e;
    case CR:
      return 0x72;
    case 0x09:
      return 0x74;
    case 0x0b:
      return 0x76;
    case BACKSLASH:
      return BACKSLASH;
    default:
      return c === delim ? c : 0;
  }
}

// ---- CSV format -----------------------------------------------------------------------------

function csvRow(buf: Buffer, pos: number, end: number, mask: RowMask, o: Resolved, settings: MaskSettings): number {
  const ncols = mask.length;
  let col = 0;
  for (;;) {
    const fs = pos;
    let quoted = false;
    if (pos < end && buf[pos] === o.quote) {
      quoted = true;
      pos++;
      for (;;) {
        if (pos >= end) throw new MaskError('CopyData: message does not end at a row boundary (open quote)');
        const c = buf[pos]!;
        if (
          c === o.escape
          && o.escape !== o.quote
          && pos + 1 < end
          && (buf[pos + 1] === o.quote || buf[pos + 1] === o.escape)
        ) {
          pos += 2;
          continue;
        }
        if (c === o.quote) {
          if (o.escape === o.quote && pos + 1 < end && buf[pos + 1] === o.quote) {
            pos += 2;
            continue;
          }
          pos++;
          break;
        }
        pos++;
      }
    } else {
      while (pos < end && buf[pos] !== o.delim && buf[pos] !== LF) {
        // PostgreSQL quotes any value holding a quote or CR; meeting one here means we misread the row.
        if (buf[pos] === o.quote || buf[pos] === CR)
          throw new MaskError('CopyData: unexpected quote or CR in an unquoted CSV value');
        pos++;
      }
    }
    if (pos >= end) throw new MaskError('CopyData: message does not end at a row boundary');
    const c = buf[pos]!;
    if (c !== o.delim && c !== LF) throw new MaskError('CopyData: text after a closing quote in a CSV value');
    if (ncols === 0) {
      if (c !== LF || pos !== fs) throw new MaskError('CopyData: row has columns, the COPY has none');
      return pos + 1;
    }
    if (col >= ncols) throw new MaskError(`CopyData: row has more than ${ncols} columns`);
    const strategy = mask[col];
    if (strategy != null) maskCsvField(buf, fs, pos, quoted, strategy, o, settings);
    col++;
    pos++;
    if (c === LF) {
      if (col !== ncols) throw new MaskError(`CopyData: row has ${col} columns, expected ${ncols}`);
      return pos;
    }
  }
}

function maskCsvField(
  buf: Buffer,
  fs: number,
  fe: number,
  quoted: boolean,
  strategy: NonNullable<RowMask[number]>,
  o: Resolved,
  settings: MaskSettings,
): void {
  if (!quoted && isNullField(buf, fs, fe, o.nul)) return; // NULL stays NULL
  const value = quoted ? decodeCsvQuoted(buf, fs + 1, fe - 1, o) : buf.subarray(fs, fe);
  const v = maskValue(strategy, value, 0, value.length, 'text', settings);
  record(fs, fe, v === null ? o.nul : encodeCsv(v, o, quoted));
}

function decodeCsvQuoted(buf: Buffer, fs: number, fe: number, o: Resolved): Buffer {
  const out = Buffer.allocUnsafe(fe - fs);
  let w = 0;
  for (let p = fs; p < fe; p++) {
    const c = buf[p]!;
    // Inside quotes the escape character escapes the quote and itself (doubled quote when equal).
    if (c === o.escape && p + 1 < fe && (buf[p + 1] === o.quote || buf[p + 1] === o.escape)) p++;
    out[w++] = buf[p]!;
  }
  return out.subarray(0, w);
}

/** Quote like copyto.c CopyAttributeOutCSV: when needed, or when the original value was quoted (FORCE_QUOTE). */
export function encodeCsv(
  v: Buffer,
  o: { delim: number; quote: number; escape: number; nul: Buffer },
  forceQuote: boolean,
): Buffer {
  let quote = forceQuote || v.equals(o.nul) || (v.length === 2 && v[0] === BACKSLASH && v[1] === 0x2e); // \. would end COPY FROM
  let extra = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === o.delim || c === o.quote || c === LF || c === CR) quote = true;
    if (c === o.quote || c === o.escape) extra++;
  }
  if (!quote) return v;
  const out = Buffer.allocUnsafe(v.length + extra + 2);
  let w = 0;
  out[w++] = o.quote;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === o.quote || c === o.escape) out[w++] = o.escape;
    out[w++] = c;
  }
  out[w++] = o.quote;
  return out;
}

// ---- binary format --------------------------------------------------------------------------
//
// sql-copy "Binary Format": an 11-byte signature `PGCOPY\n\377\r\n\0`, Int32 flags, Int32 header-extension
// length and that many bytes; then per tuple Int16 field count and per field Int32 length (-1 = NULL) and the
// value in the type's binary (send) format; the trailer is an Int16 -1. copyto.c sends the header in the same
// CopyData as the first tuple (or the trailer, for no rows), one tuple per CopyData, the trailer alone.
// A binary value can only be masked knowing its type: the session takes the types from a Describe of the
// COPY's query (`fields`, format 1), so masking is exactly that of a binary DataRow (strategies.ts).

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Bit 16 of the flags: each tuple carries an OID (WITH OIDS, gone since PostgreSQL 12); other high bits are critical. */
const CRITICAL_FLAGS = 0xffff0000;

/** Where one binary COPY stream is: the header is read once, nothing may follow the trailer. */
export interface BinaryCopyState {
  readonly mask: RowMask;
  readonly fields: readonly FieldInfo[];
  header: boolean;
  ended: boolean;
}

export function binaryCopyState(mask: RowMask, fields: readonly FieldInfo[]): BinaryCopyState {
  if (mask.length !== fields.length)
    throw new MaskError(`COPY: mask has ${mask.length} entries for ${fields.length} columns`);
  return { mask, fields, header: false, ended: false };
}

/** As maskCopyData, for the binary format: the masked fields of every tuple in buf[start, end) replaced, into `out`. */
export function maskCopyBinary(
  buf: Buffer,
  start: number,
  end: number,
  st: BinaryCopyState,
  settings: MaskSettings,
  out: Span,
): Span {
  checkCopyData(buf, start, end);
  let pos = start + 5;
  try {
    if (!st.header) {
      if (
        end - pos < SIGNATURE.length + 8
        || buf.compare(SIGNATURE, 0, SIGNATURE.length, pos, pos + SIGNATURE.length) !== 0
      ) {
        throw new MaskError('binary COPY: the stream does not start with the PGCOPY signature');
      }
      pos += SIGNATURE.length;
      const flags = buf.readUInt32BE(pos);
      if ((flags & CRITICAL_FLAGS) !== 0)
        throw new MaskError(`binary COPY: header flags 0x${flags.toString(16)} are not understood`);
      const ext = buf.readInt32BE(pos + 4);
      pos += 8;
      if (ext < 0 || ext > end - pos)
        throw new MaskError(`binary COPY: header extension length ${ext} runs past the message end`);
      pos += ext;
      st.header = true;
    }
    const ncols = st.mask.length;
    while (pos < end) {
      if (st.ended) throw new MaskError('binary COPY: data after the trailer');
      if (end - pos < 2) throw new MaskError('binary COPY: message does not end at a tuple boundary');
      const count = buf.readInt16BE(pos);
      pos += 2;
      if (count === -1) {
        st.ended = true;
        continue;
      }
      if (count !== ncols) throw new MaskError(`binary COPY: tuple has ${count} fields, expected ${ncols}`);
      for (let i = 0; i < count; i++) {
        if (end - pos < 4) throw new MaskError('binary COPY: message does not end at a tuple boundary');
        const n = buf.readInt32BE(pos);
        pos += 4;
        if (n === -1) continue; // NULL stays NULL
        if (n < 0 || n > end - pos)
          throw new MaskError(`binary COPY: field ${i + 1} length ${n} runs past the message end`);
        const strategy = st.mask[i];
        if (strategy != null) {
          const v = maskValue(strategy, buf, pos, pos + n, fieldKind(st.fields[i]!), settings);
          // The length prefix belongs to the replacement: NULL is a -1 length and no bytes.
          record(pos - 4, pos + n, lengthPrefixed(v));
        }
        pos += n;
      }
    }
    return recorded === 0 ? unchanged(buf, start, end, out) : spliced(buf, start, end, out);
  } finally {
    clearRecorded();
  }
}

const NULL_FIELD = Buffer.from([0xff, 0xff, 0xff, 0xff]);
function lengthPrefixed(v: Buffer | null): Buffer {
  if (v === null) return NULL_FIELD;
  const out = Buffer.allocUnsafe(4 + v.length);
  out.writeInt32BE(v.length, 0);
  v.copy(out, 4);
  return out;
}

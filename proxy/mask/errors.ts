// Hide values of masked columns that PostgreSQL echoes back in ErrorResponse ('E') and NoticeResponse ('N'),
// and keep everything else: SQLSTATE, names, positions (issue 12: identifiers are not values).
//
// Both are a type byte, Int32 length, then fields: a one-byte code and a C string, ended by a zero byte
// (protocol-error-fields). Decided per message and per field:
//
// Whether to look at all: the caller passes the masked columns (`schema.table.column`) of the relations
// whose rows the statement reads or writes (MaskPlan.touched). None → the message goes out as it came:
// a statement that reads no masked column cannot echo one, whatever it raises — a NOTICE from an allowed
// function included (a user function reading masked tables internally is its CALL rule's to grant, the
// same trust its results get; policy/decide.ts, opaque outputs).
//
// Raised while analysing the client's own text: a cursor position `P` with no context `W` and no internal
// query `q`, on an error of class 42 (syntax error or access rule violation), means PostgreSQL was parsing
// or analysing the statement the client sent, before any row was read (inside a function, SPI and the
// SQL-function executor move `P` into `p`/`q`, and add `W`; the executor reports a position only for
// errors at plan initialisation, class 0A, with no values). Such an error quotes only the client's own text
// and catalog names (`column "emial" does not exist`, its hint `Perhaps you meant to reference the column
// "customers.email"`): kept whole. The class is asked too so that a data error (class 22, 23) carrying a
// position in some future release is still scrubbed.
//
// Otherwise, field by field:
//   M message  quoted segments that are names PostgreSQL also reported in s/t/c/d/n (schema, table, column,
//              data type, constraint) are kept; from the first other quoted segment (or byte dump) up to the
//              last double quote becomes `"***"`: `invalid input syntax for type integer: "***"` — a value may
//              contain quotes, so nothing inside that span is trusted. Values PostgreSQL prints unquoted: the
//              name list of a reg* input (`improper relation name (too many dotted names): <value>`, a short
//              list of shapes, UNQUOTED_ECHO) and, for a data exception (class 22), anything after the first
//              `: ` that is not one quoted segment, become `***`. Text written by user code (PL/pgSQL
//              RAISE, PL/Python plpy) formats values unquoted: its message is replaced by a fixed sentence.
//   D detail   the key of a unique, exclusion or foreign-key violation keeps its column list and hides
//              the values when a key column is masked (`Key (email)=(***) already exists.`), or keeps
//              them when none is; `Failing row contains (…)` of a table with a masked column becomes
//              `Failing row contains (***).`; any other detail is dropped (we cannot tell what it quotes).
//   W context  lines that only name a function and a line (`PL/pgSQL function f(integer) line 3 at RAISE`,
//              `SQL function "f" statement 1`) are kept; others (`SQL statement "…"`, `COPY t, line 1: "…"`,
//              `JSON data, line 1: …`) are dropped.
//   q, p       internal query text (dynamic SQL built from row values) and a position in it: dropped.
//   H hint     kept unless it quotes anything or dumps bytes.
//   unknown    dropped: clients must ignore them anyway (protocol-error-fields), and we cannot vouch for them.
//   S, V, C, s, t, c, d, n, P, F, L, R: kept.
//
// Text is handled as latin1 so every byte maps to one char and back unchanged, whatever the client
// encoding (all server encodings keep ASCII `"`, `(`, `)` and `,` as single bytes).
import { MaskError } from './mask-error.ts';

const ERROR_RESPONSE = 0x45; // 'E'
const NOTICE_RESPONSE = 0x4e; // 'N'

const KEEP: ReadonlySet<number> = new Set([
  0x53 /* S */, 0x56 /* V */, 0x43 /* C */, 0x73 /* s */, 0x74 /* t */, 0x63 /* c */, 0x64 /* d */, 0x6e /* n */,
  0x50 /* P */, 0x46 /* F */, 0x4c /* L */, 0x52 /* R */,
]);
const MESSAGE = 0x4d; // M
const HINT = 0x48; // H
const DETAIL = 0x44; // D
const CONTEXT = 0x57; // W
const INTERNAL_QUERY = 0x71; // q
const POSITION = 0x50; // P
const SCHEMA = 0x73; // s
const TABLE = 0x74; // t
/** Fields whose values are names PostgreSQL reports about the error, not data. */
const NAME_FIELDS: ReadonlySet<number> = new Set([0x73, 0x74, 0x63, 0x64, 0x6e]);

const HEX_BYTE = /0x[0-9a-f]{2}/i;

// RAISE in PL/pgSQL (and plpy.notice/error in PL/Python) formats arbitrary text, values unquoted
// (`RAISE NOTICE 'email is %', email`): nothing in such a message or hint can be trusted. Known
// imperfection: C extensions and other procedural languages can do the same under their own
// routine names; only the message rules below apply to them.
const SQLSTATE = 0x43; // C
const ROUTINE = 0x52; // R
const RAISE_EXCEPTION = 'P0001';
const USER_TEXT_ROUTINES: ReadonlySet<string> = new Set(['exec_stmt_raise', 'PLy_output', 'PLy_exception_set']);
const USER_TEXT_HIDDEN = 'message hidden by Airlock: it may contain values of masked columns';

/**
 * Returns a scrubbed copy of the ErrorResponse/NoticeResponse at buf[start..end), or null when it can go
 * out unchanged. `touched` are the masked columns ("schema.table.column") whose values the statement could
 * carry (MaskPlan.touched); empty → null at once.
 */
export function scrubErrorFields(buf: Buffer, start: number, end: number, touched: readonly string[]): Buffer | null {
  if (touched.length === 0) return null;
  if (!(start >= 0 && end <= buf.length && end - start >= 6)) {
    throw new MaskError(`ErrorResponse: bounds ${start}..${end} invalid for a ${buf.length}-byte buffer`);
  }
  const type = buf[start]!;
  if (type !== ERROR_RESPONSE && type !== NOTICE_RESPONSE) {
    throw new MaskError(`ErrorResponse: type byte 0x${type.toString(16)} is neither 'E' nor 'N'`);
  }
  const len = buf.readInt32BE(start + 1);
  if (len !== end - start - 1)
    throw new MaskError(`ErrorResponse: length field ${len} does not match message size ${end - start - 1}`);
  if (buf[end - 1] !== 0) throw new MaskError('ErrorResponse: not terminated by a zero byte');

  // Parse every field (strictly, even when we end up changing nothing).
  const fields: { code: number; from: number; to: number }[] = [];
  let pos = start + 5;
  while (buf[pos] !== 0) {
    const code = buf[pos]!;
    const from = pos + 1;
    const to = buf.indexOf(0, from);
    if (to === -1 || to >= end - 1)
      throw new MaskError(`ErrorResponse: field '${String.fromCharCode(code)}' is not terminated`);
    fields.push({ code, from, to });
    pos = to + 1;
  }
  if (pos !== end - 1) throw new MaskError('ErrorResponse: bytes after the terminating zero');

  const names = new Set<string>();
  let userText = false;
  let position = false;
  let context = false;
  let analysis = false;
  let schema: string | null = null;
  let table: string | null = null;
  let sqlstate = '';
  for (const f of fields) {
    if (NAME_FIELDS.has(f.code)) {
      const v = buf.toString('latin1', f.from, f.to);
      names.add(v);
      if (f.code === SCHEMA) schema = v;
      else if (f.code === TABLE) table = v;
    } else if (f.code === SQLSTATE) {
      const c = buf.toString('latin1', f.from, f.to);
      sqlstate = c;
      userText ||= c === RAISE_EXCEPTION;
      analysis = c.startsWith('42');
    } else if (f.code === ROUTINE) userText ||= USER_TEXT_ROUTINES.has(buf.toString('latin1', f.from, f.to));
    else if (f.code === POSITION) position = true;
    else if (f.code === CONTEXT || f.code === INTERNAL_QUERY) context = true;
  }
  // Parse analysis of the client's own statement: no row has been read (see the top of this file).
  if (position && analysis && !context && !userText) return null;

  const masked = maskedOf(touched, schema, table);
  const allMasked = maskedOf(touched, null, null).names;
  let changed = false;
  const kept: { code: number; text: Buffer }[] = [];
  for (const f of fields) {
    const raw = buf.subarray(f.from, f.to);
    let out: FieldOut;
    if (KEEP.has(f.code)) {
      kept.push({ code: f.code, text: raw });
      continue;
    }
    switch (f.code) {
      case MESSAGE:
        out = userText ? USER_TEXT_HIDDEN : (scrubMessage(raw.toString('latin1'), names, sqlstate) ?? KEEP_AS_IS);
        break;
      case DETAIL:
        out = userText ? null : scrubDetail(raw.toString('latin1'), allMasked, masked.anyInTable);
        break;
      case CONTEXT:
        out = scrubContext(raw.toString('latin1'));
        break;
      case HINT:
        out = !userText && quietHint(raw.toString('latin1')) ? KEEP_AS_IS : null;
        break;
      default:
        out = null; // q, p, a field code we do not know
    }
    if (out === KEEP_AS_IS) {
      kept.push({ code: f.code, text: raw });
      continue;
    }
    changed = true;
    if (out !== null) kept.push({ code: f.code, text: Buffer.from(out, 'latin1') });
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

/** What a field scrubber returns: the field unchanged, a replacement, or null to drop it. */
const KEEP_AS_IS: unique symbol = Symbol('keep as is');
type FieldOut = typeof KEEP_AS_IS | string | null;

/**
 * Bare names of the touched masked columns of `schema.table` (the s/t fields), or of every touched column
 * when the message names no table. In the latin1 form the message is read in (UTF-8 bytes one char each), so
 * a name with non-ASCII characters compares equal to the bytes PostgreSQL sent.
 */
function maskedOf(
  touched: readonly string[],
  schema: string | null,
  table: string | null,
): { readonly names: ReadonlySet<string>; readonly anyInTable: boolean } {
  const names = new Set<string>();
  const prefix = schema !== null && table !== null ? `${schema}.${table}.` : null;
  for (const t of touched) {
    const q = Buffer.from(t, 'utf8').toString('latin1');
    if (prefix !== null && !q.startsWith(prefix)) continue;
    names.add(q.slice(q.lastIndexOf('.') + 1));
  }
  return { names, anyInTable: names.size > 0 };
}

// `Key (cols)=(values) already exists.` (unique), `… is duplicated.` (CREATE UNIQUE INDEX), `… conflicts with
// existing key (cols)=(values).` (exclusion), `… is not present in table "t".` / `… is still referenced from
// table "t".` (foreign key): ri_triggers.c ri_ReportViolation, nbtinsert.c, execIndexing.c.
const KEY_DETAIL =
  /^Key \(([^"()]*(?:\([^"()]*\)[^"()]*)*)\)=\((.*)\) (already exists|is duplicated|is not present in table "[^"]*"|is still referenced from table "[^"]*")\.$/s;
const CONFLICT_DETAIL =
  /^Key \(([^"()]*(?:\([^"()]*\)[^"()]*)*)\)=\((.*)\) conflicts with existing key \(([^"()]*(?:\([^"()]*\)[^"()]*)*)\)=\((.*)\)\.$/s;
const FAILING_ROW = /^Failing row contains \(/;
/**
 * The key's column text contains a masked column's name. A substring test: `email` also hides the values of
 * `email_verified` (safe: more hidden, never less), and needs no idea of how the server spelled the expression.
 */
function mentionsMasked(columns: string, masked: ReadonlySet<string>): boolean {
  for (const m of masked) if (columns.includes(m)) return true;
  return false;
}

/**
 * A detail with the values of masked columns hidden. A key's columns are checked against every touched masked
 * column, not only the s/t table's: a foreign-key detail names the other table's columns (`Key (id)=(1) is still
 * referenced from table "orders"` reports t = orders). A failing row is the s/t table's (`tableHasMasked`).
 */
function scrubDetail(d: string, masked: ReadonlySet<string>, tableHasMasked: boolean): FieldOut {
  const k = KEY_DETAIL.exec(d);
  if (k !== null) return mentionsMasked(k[1]!, masked) ? `Key (${k[1]})=(***) ${k[3]}.` : KEEP_AS_IS;
  const c = CONFLICT_DETAIL.exec(d);
  if (c !== null) {
    return mentionsMasked(c[1]!, masked) || mentionsMasked(c[3]!, masked)
      ? `Key (${c[1]})=(***) conflicts with existing key (${c[3]})=(***).`
      : KEEP_AS_IS;
  }
  if (FAILING_ROW.test(d)) return tableHasMasked ? 'Failing row contains (***).' : KEEP_AS_IS;
  return null;
}

// Context lines that name code and a line number only (pl_exec.c plpgsql_exec_error_callback, functions.c
// sql_exec_error_callback). Signatures are names and types, never values.
const NAME_ONLY_CONTEXT = [
  /^PL\/pgSQL function [^"\n]*? line \d+ at [A-Za-z ]+$/,
  /^PL\/pgSQL function [^"\n]*?(?: line \d+)? during (?:function entry|exit|statement block entry|statement block exit|statement block local variable initialization)$/,
  /^SQL function "[^"\n]*"(?: statement \d+| during startup| during inlining)?$/,
];

/** The context with only name-only lines kept; null when none is left, KEEP_AS_IS when all are. */
function scrubContext(w: string): FieldOut {
  const lines = w.split('\n');
  const kept = lines.filter((l) => NAME_ONLY_CONTEXT.some((re) => re.test(l)));
  if (kept.length === lines.length) return KEEP_AS_IS;
  return kept.length === 0 ? null : kept.join('\n');
}

function quietHint(h: string): boolean {
  return !/["']/.test(h) && !HEX_BYTE.test(h);
}

// Messages that print an input value WITHOUT quotes. The reg* input functions (regclass, regproc, regtype,
// regoper, regconfig, …; namespace.c DeconstructQualifiedName / makeRangeVarFromNameList, regproc.c
// regoperin / regoperatorin) print the name list they were given: `'a.b.c.d'::regclass` raises
// `improper relation name (too many dotted names): a.b.c.d`, so `email::regclass` prints the email. The
// text after the prefix is hidden, whatever it is.
const UNQUOTED_ECHO: readonly string[] = [
  'improper relation name (too many dotted names): ',
  'improper qualified name (too many dotted names): ',
  'cross-database references are not implemented: ',
  'operator does not exist: ',
  'more than one operator named ',
];
const HIDDEN_TAIL = '***';

/**
 * The message with everything from the first quoted segment that is not a reported name (or the
 * first hex byte dump) up to the last double quote replaced by `"***"`; null when nothing is.
 * Input values PostgreSQL prints unquoted: after a prefix of UNQUOTED_ECHO, `***`; and for a data
 * exception (SQLSTATE class 22, `sqlstate`) whose text after the first `: ` is anything but one quoted
 * segment, that text becomes `***` — a class-22 message is about a value, and a shape we do not know
 * may print it bare (`invalid regular expression: …` loses its reason; it is only hidden when the
 * statement touches masked columns).
 */
export function scrubMessage(m: string, names: ReadonlySet<string>, sqlstate = ''): string | null {
  for (const p of UNQUOTED_ECHO) {
    if (!m.startsWith(p) || m.length === p.length) continue;
    // Some call sites quote the same list (`cross-database references are not implemented: "a.b.c"`): keep the
    // quotes' look, but hide the whole tail either way (an unquoted value may itself begin with a quote).
    return m.charCodeAt(p.length) === 0x22 ? `${p}"${HIDDEN_TAIL}"` : p + HIDDEN_TAIL;
  }
  const quoted = scrubQuoted(m, names);
  if (!sqlstate.startsWith('22')) return quoted;
  const s = quoted ?? m;
  const colon = s.indexOf(': ');
  if (colon === -1) return quoted;
  const tail = s.slice(colon + 2);
  if (tail === HIDDEN_TAIL || /^"[^"]*"$/.test(tail)) return quoted;
  return s.slice(0, colon + 2) + HIDDEN_TAIL;
}

function scrubQuoted(m: string, names: ReadonlySet<string>): string | null {
  let cut = -1;
  let q = 0;
  let inQuote = false;
  for (let i = 0; i <= m.length; i++) {
    if (i < m.length && m.charCodeAt(i) !== 0x22) continue;
    const part = m.slice(q, i);
    if (inQuote) {
      if (i === m.length || !names.has(part)) {
        cut = q - 1;
        break;
      } // unterminated or not a name
    } else {
      const h = part.search(HEX_BYTE);
      if (h !== -1) {
        cut = q + h;
        break;
      }
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

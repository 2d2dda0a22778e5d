// Names written inside string literals: '…'::regclass, nextval('…'), table_to_xml('…', …).
// PostgreSQL reads these with stringToQualifiedNameList() → SplitIdentifierString()
// (src/backend/utils/adt/varlena.c): dot-separated, whitespace around parts allowed, "…" quoted
// with "" as an escaped quote, unquoted parts ASCII-downcased (downcase_identifier, UTF-8 server),
// every part truncated to NAMEDATALEN-1 = 63 bytes. regclassin() first treats an all-digit string
// as an OID (src/backend/utils/adt/regproc.c), which names no relation we can check.

import type { RelName } from '../types.ts';

const NAME_MAX_BYTES = 63; // NAMEDATALEN - 1 (src/include/pg_config_manual.h)

export type LiteralName =
  | { readonly kind: 'name'; readonly rel: RelName }
  | { readonly kind: 'oid' }
  | { readonly kind: 'invalid' };

const INVALID: LiteralName = Object.freeze({ kind: 'invalid' });
const OID: LiteralName = Object.freeze({ kind: 'oid' });

function isSpace(c: number): boolean {
  // scanner_isspace(): space, tab, newline, carriage return, form feed
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
}

/** Truncate to at most 63 bytes of UTF-8 without splitting a character, as truncate_identifier() does. */
export function truncateIdentifier(s: string): string {
  if (s.length <= 21) return s; // one UTF-16 unit is at most 3 UTF-8 bytes: 21 units ≤ 63 bytes
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes <= NAME_MAX_BYTES) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > NAME_MAX_BYTES) break;
    out += ch;
    used += n;
  }
  return out;
}

/** Parse a possibly qualified relation name the way regclassin() would. */
export function parseLiteralName(text: string): LiteralName {
  if (/^[0-9]+$/.test(text)) return OID;
  const parts: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) return INVALID; // empty name or trailing dot
    let part = '';
    if (text.charCodeAt(i) === 34 /* " */) {
      i++;
      for (;;) {
        if (i >= n) return INVALID; // unterminated quote
        const c = text.charCodeAt(i);
        if (c === 34) {
          if (text.charCodeAt(i + 1) === 34) {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i];
        i++;
      }
      if (part === '') return INVALID; // zero-length quoted name
    } else {
      const start = i;
      while (i < n && text.charCodeAt(i) !== 46 /* . */ && !isSpace(text.charCodeAt(i))) i++;
      if (i === start) return INVALID;
      // ASCII-only downcasing: on a UTF-8 server downcase_identifier() leaves other bytes alone.
      part = text.slice(start, i).replace(/[A-Z]+/g, (m) => m.toLowerCase());
    }
    parts.push(truncateIdentifier(part));
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) break;
    if (text.charCodeAt(i) !== 46) return INVALID;
    i++;
  }
  // 3 parts: catalog.schema.relation; the catalog must be the current database or the server errors.
  if (parts.length === 1) return { kind: 'name', rel: { schema: null, name: parts[0]! } };
  if (parts.length === 2) return { kind: 'name', rel: { schema: parts[0]!, name: parts[1]! } };
  if (parts.length === 3) return { kind: 'name', rel: { schema: parts[1]!, name: parts[2]! } };
  return INVALID;
}

/** A RelName from identifier parts already resolved by the parser ([schema,] name, or catalog.schema.name). */
export function relFromParts(parts: readonly string[], defaultSchema: string | null): RelName | null {
  if (parts.length === 1) return { schema: defaultSchema, name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  if (parts.length === 3) return { schema: parts[1]!, name: parts[2]! };
  return null;
}

const SIMPLE_IDENT = /^[a-z_][a-z0-9_$]*$/;

/** Quote an identifier for a message only when PostgreSQL would need it to read it back. */
export function quoteIdent(s: string): string {
  return SIMPLE_IDENT.test(s) ? s : `"${s.replace(/"/g, '""')}"`;
}

export function qualifiedName(r: RelName): string {
  const part = (s: string): string => (s === '*' ? s : quoteIdent(s));
  return r.schema === null ? part(r.name) : `${part(r.schema)}.${part(r.name)}`;
}

// schema.table globs (and schema.function, schema.table.column names) as policies write them.
//
// Name folding: the analyzer hands us names as PostgreSQL resolved them (unquoted identifiers
// lower-cased, quoted ones verbatim). Policies are written the same way: an unquoted glob part is
// lower-cased at compile time, a part written in double quotes ("Orders", with "" for a quote) is
// kept verbatim and has no wildcard. Comparison is then exact. `*` matches any run of characters
// within one dotted part, never across a dot; a glob that is `*` alone matches every name.
// Matching allocates nothing: a glob is split into literal pieces once, at compile time.

/** One name part: literal pieces between `*`s. `['']` with star=false is never produced. */
export interface PartMatcher {
  /** Literal pieces in order; a `*` sits between consecutive pieces. */
  readonly pieces: readonly string[];
  /** True when the part contains at least one `*`. */
  readonly wild: boolean;
}
export interface NameMatcher {
  readonly schema: PartMatcher;
  readonly name: PartMatcher;
}

/**
 * Split `text` into `count` dotted parts, honouring double quotes; lower-case unquoted parts.
 * Returns null when the text does not have exactly `count` non-empty parts.
 */
export function splitName(text: string, count: number): { parts: string[]; quoted: boolean[] } | null {
  const parts: string[] = [];
  const quoted: boolean[] = [];
  let i = 0;
  while (i <= text.length) {
    if (text[i] === '"') {
      let part = '';
      i++;
      for (;;) {
        if (i >= text.length) return null; // unterminated quote
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i++];
      }
      if (part === '' || (i < text.length && text[i] !== '.')) return null;
      parts.push(part);
      quoted.push(true);
    } else {
      let end = text.indexOf('.', i);
      if (end === -1) end = text.length;
      const part = text.slice(i, end);
      if (part === '' || part.includes('"') || /\s/.test(part)) return null;
      parts.push(part.toLowerCase());
      quoted.push(false);
      i = end;
    }
    if (i >= text.length) break;
    i++; // the dot
    if (i === text.length) return null; // trailing dot
  }
  return parts.length === count ? { parts, quoted } : null;
}

function compilePart(part: string, quoted: boolean): PartMatcher {
  if (quoted) return { pieces: [part], wild: false };
  const pieces = part.split('*');
  return { pieces, wild: pieces.length > 1 };
}

/** A `schema.name` glob (or `*`) → matcher, or null when malformed. */
export function compileGlob(glob: string): NameMatcher | null {
  if (glob === '*') return { schema: STAR, name: STAR };
  const s = splitName(glob, 2);
  if (s === null) return null;
  return {
    schema: compilePart(s.parts[0] as string, s.quoted[0] as boolean),
    name: compilePart(s.parts[1] as string, s.quoted[1] as boolean),
  };
}
const STAR: PartMatcher = Object.freeze({ pieces: Object.freeze(['', '']), wild: true });

/**
 * A NOTIFY channel glob → matcher over (schema '', channel). Channels are one name, compared as
 * PostgreSQL stores them (`NOTIFY Jobs` folds to `jobs`, `pg_notify('Jobs', …)` does not): no folding,
 * no quoting; `*` matches any run of characters. Null when empty.
 */
export function compileChannelGlob(glob: string): NameMatcher | null {
  if (glob === '') return null;
  const pieces = glob.split('*');
  return { schema: STAR, name: { pieces, wild: pieces.length > 1 } };
}

export function partMatches(m: PartMatcher, s: string): boolean {
  const p = m.pieces;
  if (!m.wild) return p[0] === s;
  const first = p[0] as string;
  const last = p[p.length - 1] as string;
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  let at = first.length;
  const stop = s.length - last.length;
  for (let i = 1; i < p.length - 1; i++) {
    const piece = p[i] as string;
    const found = s.indexOf(piece, at);
    if (found === -1 || found + piece.length > stop) return false;
    at = found + piece.length;
  }
  return true;
}

export function nameMatches(m: NameMatcher, schema: string, name: string): boolean {
  return partMatches(m.schema, schema) && partMatches(m.name, name);
}

/** True when the glob has no wildcard: it names one object exactly (dangerous functions need this). */
export function isExact(m: NameMatcher): boolean {
  return !m.schema.wild && !m.name.wild;
}

/** Canonical `schema.name` of an exact matcher (for exact-name sets). */
export function exactKey(m: NameMatcher): string {
  return `${m.schema.pieces[0]}.${m.name.pieces[0]}`;
}

/** A `schema.table.column` name → its three folded parts, or null when malformed or wildcarded. */
export function parseColumnName(text: string): [string, string, string] | null {
  const s = splitName(text, 3);
  if (s === null) return null;
  for (let i = 0; i < 3; i++) if (!s.quoted[i] && (s.parts[i] as string).includes('*')) return null;
  return [s.parts[0] as string, s.parts[1] as string, s.parts[2] as string];
}

export function globHint(what: 'table' | 'function'): string {
  return `write schema.${what}, schema.*, *.${what} or * (a part in double quotes keeps its case)`;
}

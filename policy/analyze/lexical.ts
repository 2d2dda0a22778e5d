// The shape-cache key (libpg-query's normalized text) of the commonest statements, computed without
// calling into the parser's WebAssembly: `SELECT … WHERE aid = 12345` → `SELECT … WHERE aid = $1`.
//
// Sound only because it is narrow. It returns a key ONLY for text in a small lexical subset where it
// provably gives the same string libpg-query's normalizeSync would, and null (the caller then asks
// libpg-query) on anything else. The subset:
//   - the first word is SELECT; one statement (a `;` may only end the text); no WITH, LIMIT, OFFSET,
//     FETCH, INTO, NULL, TRUE or FALSE anywhere (libpg-query numbers constants in its tree walk's order, which visits
//     OFFSET before LIMIT and WITH after the body: `limit 2 offset 3` → `limit $2 offset $1`);
//   - characters: ASCII letters, digits, `_`, space, tab, CR, LF, and `( ) , . * = < > !` and `'`;
//     no comments, `-`, `+`, `/`, `:`, `$`, `"`, `;` inside, non-ASCII, or anything else;
//   - words are [A-Za-z_][A-Za-z0-9_]*; a word directly followed by `'` (E'…', B'…', U&…) is refused;
//   - operators are maximal runs of `*<>=!` (as PostgreSQL's lexer takes them) and must be `*` or one of
//     = < > <= >= <> != ;
//   - a constant is an unsigned decimal integer (digits, not followed by a letter, digit, `_` or `.`) or
//     a standard string '…' ('' inside is a quote; no backslash, since escapes depend on settings) followed
//     by a space, `,`, `)`, `;` or the end; and it must stand where an expression is compared: right after
//     a comparison operator, or directly after `(` or `,` of a list opened by `IN (`.
// Constants anywhere else (a select list, ORDER BY 1 — which libpg-query keeps —, typmods, function
// arguments, BETWEEN, negative numbers, typed literals) make it return null. Replacing one such constant
// by another keeps the statement's parse tree (both are an AexprConst in an a_expr position), so a key
// equal to a cached shape means the statement differs from the cached one in constants only.
// test: lexical.test.ts compares it with normalizeSync on generated statements (fast-check).

const enum_ = { OTHER: 0, WORD: 1, COMPARE: 2, LIST_OPEN: 3, COMMA: 4, CONST: 5, STAR: 6 } as const;

// NULL, TRUE and FALSE are constants libpg-query replaces too (`IN (null)` → `IN ($1)`): refused.
const REFUSED_WORDS = ['with', 'limit', 'offset', 'fetch', 'into', 'null', 'true', 'false'];

/** sql[s, s + word.length) equals the lower-case ASCII `word`, ignoring case; no allocation. */
function wordIs(sql: string, s: number, len: number, word: string): boolean {
  if (len !== word.length) return false;
  for (let k = 0; k < len; k++) if ((sql.charCodeAt(s + k) | 32) !== word.charCodeAt(k)) return false;
  return true;
}
function refusedWord(sql: string, s: number, len: number): boolean {
  if (len < 4 || len > 6) return false;
  for (const w of REFUSED_WORDS) if (wordIs(sql, s, len, w)) return true;
  return false;
}

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isWordChar(c: number): boolean {
  return isWordStart(c) || isDigit(c);
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}
function isOpChar(c: number): boolean {
  return c === 42 || c === 60 || c === 61 || c === 62 || c === 33;
} // * < = > !

/** libpg-query's normalized text of `sql` when it is in the subset above, else null. Never throws. */
export function lexicalNormalize(sql: string): string | null {
  const n = sql.length;
  let out = '';
  let copied = 0; // sql[copied..) not yet appended to out
  let param = 0;
  let prev: number = enum_.OTHER; // the kind of the previous token
  let first = true;
  let ended = false; // a `;` was seen: only spaces may follow
  // Paren stack as a bit string: bit 1 = the paren was opened by `IN (`; depth bounded by 30.
  let parens = 0;
  let depth = 0;
  let prevWordIn = false;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (ended) return null;
    if (isWordStart(c)) {
      const s = i;
      while (i < n && isWordChar(sql.charCodeAt(i))) i++;
      if (i < n && sql.charCodeAt(i) === 39) return null; // E'…', B'…', X'…', N'…'
      const len = i - s;
      if (first) {
        if (!wordIs(sql, s, len, 'select')) return null;
        first = false;
      } else if (refusedWord(sql, s, len)) {
        return null;
      }
      prevWordIn = wordIs(sql, s, len, 'in');
      prev = enum_.WORD;
      continue;
    }
    if (first) return null;
    const wasIn = prevWordIn;
    prevWordIn = false;
    if (isDigit(c) || c === 39) {
      const inList =
        (prev === enum_.LIST_OPEN || prev === enum_.COMMA) && depth > 0 && (parens & (1 << (depth - 1))) !== 0;
      if (prev !== enum_.COMPARE && !inList) return null;
      const s = i;
      if (c === 39) {
        i++;
        for (;;) {
          if (i >= n) return null;
          const d = sql.charCodeAt(i);
          if (d === 92) return null; // backslash: refuse, whatever the settings
          if (d === 39) {
            if (i + 1 < n && sql.charCodeAt(i + 1) === 39) {
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (d > 127) return null;
          i++;
        }
      } else {
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
        if (i < n) {
          const d = sql.charCodeAt(i);
          if (isWordChar(d) || d === 46) return null; // 1e5, 0x1F, 1_000, 5.0, 5.
        }
      }
      if (i < n) {
        const d = sql.charCodeAt(i);
        if (!(isSpace(d) || d === 44 || d === 41 || d === 59)) return null;
      }
      out += sql.slice(copied, s) + '$' + String(++param);
      copied = i;
      prev = enum_.CONST;
      continue;
    }
    if (isOpChar(c)) {
      const s = i;
      while (i < n && isOpChar(sql.charCodeAt(i))) i++;
      const len = i - s;
      const a = sql.charCodeAt(s);
      if (len === 1) {
        if (a === 42) {
          prev = enum_.STAR;
          continue;
        }
        if (a === 33) return null; // a lone `!` is not a comparison
        prev = enum_.COMPARE;
        continue; // = < >
      }
      if (len === 2) {
        const b = sql.charCodeAt(s + 1);
        if (b === 61 && (a === 60 || a === 62 || a === 33)) {
          prev = enum_.COMPARE;
          continue;
        } // <= >= !=
        if (a === 60 && b === 62) {
          prev = enum_.COMPARE;
          continue;
        } // <>
      }
      return null;
    }
    switch (c) {
      case 40: // (
        if (depth >= 30) return null;
        if (wasIn) parens |= 1 << depth;
        else parens &= ~(1 << depth);
        depth++;
        prev = wasIn ? enum_.LIST_OPEN : enum_.OTHER;
        i++;
        continue;
      case 41: // )
        if (depth === 0) return null;
        depth--;
        prev = enum_.OTHER;
        i++;
        continue;
      case 44: // ,
        prev = enum_.COMMA;
        i++;
        continue;
      case 46: {
        // . between words only: t.col, s.t.col
        const d = i + 1 < n ? sql.charCodeAt(i + 1) : 0;
        if (prev !== enum_.WORD || !(isWordStart(d) || d === 42)) return null;
        prev = enum_.OTHER;
        i++;
        continue;
      }
      case 59: // ;
        if (depth !== 0) return null;
        ended = true;
        i++;
        continue;
      default:
        return null;
    }
  }
  if (first || depth !== 0) return null;
  if (param === 0) return sql;
  return out + sql.slice(copied);
}

// Text the SQL lexer would spend quadratic time on, refused before it is parsed.
//
// PostgreSQL's lexer (scan.l, which libpg-query runs) matches a run of operator characters as one token
// and then gives back all but a part of it (`yyless`) when the run holds `/*` or `--`, or ends in `+`/`-`;
// the rest is scanned again, so a run of n such characters costs O(n²): `SELECT 1 ++…+ 1` or
// `SELECT /*/*…*/*/ 1` of 40 kB took 3–13 s to parse and normalize (found by test/fuzz/analyzer.test.ts).
// A PostgreSQL backend burns that CPU on its own; the proxy would stall every session on its event loop.
// Legitimate SQL has no operator longer than 63 characters (NAMEDATALEN), so the bound below (a single
// run of 4096, or runs whose squared lengths sum to the same) only refuses such text inside a literal or
// a comment, which we do not tell apart on purpose: a scanner that tracked quoting could be
// desynchronised from PostgreSQL's, and the run hidden from it.

/** Upper bound on Σ run² over runs of operator characters (≈ 0.1 s of lexing on the dev machine). */
export const MAX_OPERATOR_RUN_COST = 1 << 24;

const OP_CHAR = new Uint8Array(128);
for (const c of '~!@#^&|`?+-*/%<>=') OP_CHAR[c.charCodeAt(0)] = 1;

/** A reason to refuse `sql` unparsed (it holds no text of the statement), or null. Linear, allocation-free. */
export function lexerHostile(sql: string): string | null {
  let cost = 0;
  let run = 0;
  let longest = 0;
  for (let i = 0; i <= sql.length; i++) {
    const c = i < sql.length ? sql.charCodeAt(i) : 0;
    if (c < 128 && OP_CHAR[c] === 1) {
      run++;
      continue;
    }
    if (run > 1) {
      cost += run * run;
      if (run > longest) longest = run;
      if (cost > MAX_OPERATOR_RUN_COST) {
        return `the statement holds runs of operator characters (the longest ${longest} long) that PostgreSQL's SQL lexer scans in quadratic time; Airlock refuses it unparsed`;
      }
    }
    run = 0;
  }
  return null;
}

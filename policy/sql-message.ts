// Error messages of the SQL parser, made fit for the audit trail (issue 11, class 4).
//
// A denial's reason reaches the client, the audit span (airlock.reason and the span status), the
// staging counters and logs. Of a statement's own text only the normalized form (literals → $n) may
// reach those; but libpg-query's messages quote the statement: the scanner reports every error as
// `<what> at or near "<token>"` (scan.l scanner_yyerror), and the token is often a literal
// (`syntax error at or near "'secret'"`). Other parser messages interpolate values in double quotes,
// as PostgreSQL's message style asks. So a parser message keeps what it says went wrong and where
// (the character position libpg-query reports, counted from 1 like PostgreSQL's P field), never the
// text it quoted: the token tail is cut at the known `at or near "` marker, and a message that still
// quotes anything is replaced whole, since a quoted value may itself hold quotes and its end cannot be
// found without guessing.
// Pure: no I/O (policy/ rules).

/** Longest parser message kept as it is (they are short sentences; a long one is not one we know). */
const MAX_KEPT = 200;
const NEAR = ' at or near "';

/**
 * The message of a libpg-query (or PostgreSQL) error with every piece of statement text removed.
 * `position` is the 1-based character offset of the error in the statement, when known.
 */
export function scrubSqlMessage(message: string, position?: number | null): string {
  const near = message.indexOf(NEAR);
  let head = near >= 0 ? message.slice(0, near) : message;
  if (head.length > MAX_KEPT || /["'`$\\]|[\u0000-\u001f\u007f]/.test(head)) head = 'the statement does not parse';
  const at =
    typeof position === 'number' && Number.isInteger(position) && position > 0 ? ` at character ${position}` : '';
  return head + at;
}

/** scrubSqlMessage for a thrown parser error (libpg-query's SqlError carries sqlDetails.cursorPosition). */
export function scrubParseError(e: unknown): string {
  if (!(e instanceof Error)) return 'the statement does not parse';
  const details = (e as { sqlDetails?: { message?: unknown; cursorPosition?: unknown } }).sqlDetails;
  const message = typeof details?.message === 'string' ? details.message : e.message;
  // libpg-query counts cursorPosition from 0; PostgreSQL's P field, and our message, from 1.
  const position = typeof details?.cursorPosition === 'number' ? details.cursorPosition + 1 : null;
  return scrubSqlMessage(message, position);
}

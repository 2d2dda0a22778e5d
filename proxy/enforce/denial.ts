// How a denial looks to the client and how it reaches PostgreSQL (docs/adr/0001-denial-by-poison-statement.md).
// Built from the Decision, so the client's error and the audit span cannot drift (style.md §6).
import type { Decision, SessionContext, StatementFacts } from '../../policy/types.ts';
import { pairText, resolvedPair } from '../../policy/decide.ts';
import { parse as parseMessage, query as queryMessage } from '../wire/messages.ts';
import type { PgErrorFields } from '../wire/messages.ts';

export type DenyDecision = Extract<Decision, { verdict: 'deny' }>;

/**
 * The text sent upstream in place of a denied statement. No function of that name can exist in pg_catalog
 * (creating one there needs superuser and allow_system_table_mods), so PostgreSQL raises 42883 at parse
 * analysis, before executing anything, and then does exactly what it does for any failing statement: fails an
 * explicit transaction, aborts the implicit one, skips to Sync in the extended protocol. The session swallows
 * that ErrorResponse and sends the client the denial instead. Not a byte of the denied statement is forwarded.
 */
export const POISON_SQL = 'SELECT pg_catalog.airlock_statement_denied()';
/** The poison as a simple Query, and as a Parse under a reserved name (extended protocol): built once. */
export const POISON_QUERY = queryMessage(POISON_SQL);
export const POISON_PARSE = parseMessage('airlock_denied', POISON_SQL);

export function denialFields(d: DenyDecision, what: string): PgErrorFields {
  const by =
    d.policy === null ? `no AccessPolicy allows it (${d.reason})` : `AccessPolicy "${d.policy}", rule "${d.rule}"`;
  // An approve rule's denial says what to do next: the AccessRequest to approve, or why there is none.
  if (d.kind === 'approval' && d.policy !== null) {
    return {
      severity: 'ERROR',
      code: '42501',
      message: `permission denied for ${what}: ${by} requires an approved AccessRequest`,
      detail: d.reason,
    };
  }
  return { severity: 'ERROR', code: '42501', message: `permission denied for ${what}: ${by}` };
}

/**
 * What a statement-level denial or guardrail names when the decision names no pair itself (DenyDecision.what):
 * the row-changing pair for a write (`UPDATE on public.orders`, qualified as resolved against the session's
 * search_path when `ctx` is given), else the command (`SELECT statement`), never an unrelated pair.
 */
export function describeStatement(facts: StatementFacts | null, ctx: SessionContext | null = null): string {
  if (facts === null) return 'statement';
  if (facts.writes) {
    for (const a of facts.accesses) {
      if (a.kind !== 'relation' || !WRITES.has(a.operation)) continue;
      return ctx === null ? pairText(a.operation, a.kind, a.relation.schema, a.relation.name) : resolvedPair(a, ctx);
    }
  }
  return facts.command === '' ? 'statement' : `${facts.command} statement`;
}
const WRITES: ReadonlySet<string> = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY_FROM']);

/** The headline of a denial: the pair or change the decision names, else the statement (describeStatement). */
export function deniedWhat(d: DenyDecision, facts: StatementFacts | null, ctx: SessionContext | null): string {
  return d.what ?? describeStatement(facts, ctx);
}

/** A client's CancelRequest ended an approval hold: PostgreSQL's own error for a cancelled statement (57014). */
export function heldFields(d: DenyDecision, what: string): PgErrorFields {
  return d.kind === 'cancelled'
    ? proxyRefusal('57014', 'canceling statement due to user request')
    : denialFields(d, what);
}

/** A denial the proxy makes on its own (not from policy): a limit, the audit spool, the protocol. */
export function proxyRefusal(code: string, message: string, hint?: string): PgErrorFields {
  return hint === undefined ? { severity: 'ERROR', code, message } : { severity: 'ERROR', code, message, hint };
}

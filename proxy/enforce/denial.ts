// How a denial looks to the client and how it reaches PostgreSQL (docs/adr/0001-denial-by-poison-statement.md).
// Built from the Decision, so the client's error and the audit span cannot drift (style.md §6).
import type { Decision, StatementFacts } from '../../policy/types.ts';
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

export function denialFields(d: DenyDecision, what: string): PgErrorFields {
  const by = d.policy === null ? `no AccessPolicy allows it (${d.reason})` : `AccessPolicy "${d.policy}", rule "${d.rule}"`;
  // An approve rule's denial says what to do next: the AccessRequest to approve, or why there is none.
  if (d.policy !== null && d.reason.startsWith('it needs an approved AccessRequest')) {
    return { severity: 'ERROR', code: '42501', message: `permission denied for ${what}: ${by} requires an approved AccessRequest`, detail: d.reason };
  }
  return { severity: 'ERROR', code: '42501', message: `permission denied for ${what}: ${by}` };
}

/** "DELETE on public.orders", from the first access the statement makes; the command tag otherwise. */
export function describeStatement(facts: StatementFacts | null): string {
  if (facts === null) return 'statement';
  const a = facts.accesses[0];
  if (a === undefined) return facts.command === '' ? 'statement' : facts.command;
  const name = a.relation.schema === null ? a.relation.name : `${a.relation.schema}.${a.relation.name}`;
  return a.kind === 'function' ? `${a.operation} of function ${name}` : `${a.operation} on ${name}`;
}

/** A denial the proxy makes on its own (not from policy): a limit, the audit spool, the protocol. */
export function proxyRefusal(code: string, message: string, hint?: string): PgErrorFields {
  return hint === undefined ? { severity: 'ERROR', code, message } : { severity: 'ERROR', code, message, hint };
}

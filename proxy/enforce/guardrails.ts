// Guardrails the proxy enforces on a statement's result rather than on its text: maxAffectedRows (design.md
// "Guardrails"). The session runs a guarded write inside a transaction (or savepoint) of its own, reads the
// transaction's tuple counters before and after it, and rolls it back when it changed too many rows
// (docs/adr/0001-denial-by-poison-statement.md). Here: which statements are guarded, the count, and every
// refusal a guard makes, each built from one DenyDecision so the client's error and the audit agree.
import type { Decision, SessionContext, StatementFacts } from '../../policy/types.ts';
import type { PgErrorFields } from '../wire/messages.ts';
import { denialFields, describeStatement } from './denial.ts';
import type { DenyDecision } from './denial.ts';

/** The rule a guardrail denial names (audit: airlock.rule). */
export const MAX_AFFECTED_ROWS_RULE = 'guardrails.maxAffectedRows';

/** A guarded write in flight: what it may change, and what the session holds until the count is known. */
export interface Guard {
  readonly limit: number;
  readonly policy: string | null;
  readonly inBlock: boolean; // SAVEPOINT inside a transaction block, else BEGIN … COMMIT/ROLLBACK
  readonly what: string;
  held: Buffer[];
  heldRows: number;
  /** Rows the statement changed: the transaction's tuple counters after it minus before it (CHANGED_ROWS_SQL). */
  count: number | null;
  /** The counters when the statement started (null until read). */
  before: number | null;
  /** The row count of its CommandComplete tag (a lower bound of count). */
  tagCount: number | null;
  /** Result rows beyond the limit are forwarded as they come rather than held (session/guard.ts guardRow). */
  streaming: boolean;
  failed: boolean;
}

export function guard(limit: number, policy: string | null, inBlock: boolean, what: string): Guard {
  return {
    limit,
    policy,
    inBlock,
    what,
    held: [],
    heldRows: 0,
    count: null,
    before: null,
    tagCount: null,
    streaming: false,
    failed: false,
  };
}

/**
 * What a statement really changed, for maxAffectedRows (issue 11): the current transaction's tuple counters
 * (pg_stat_get_xact_tuples_*: inserted + updated + deleted, pending subtransactions included), read before
 * and after the statement inside the same transaction. They count every shape — DML inside WITH, several
 * data-modifying CTEs, EXPLAIN ANALYZE, rules, triggers and cascades — where the CommandComplete tag counts
 * only the top-level statement's own rows. TOAST tables are left out (one wide value is many chunks) and so
 * is pg_catalog. A row moved between partitions counts twice (a delete and an insert). With track_counts off
 * the counters stay at zero: the query answers -1 and the guard fails closed.
 */
export const CHANGED_ROWS_SQL =
  "SELECT CASE WHEN pg_catalog.current_setting('track_counts')::pg_catalog.bool THEN"
  + ' COALESCE(pg_catalog.sum(pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)'
  + ' + pg_catalog.pg_stat_get_xact_tuples_updated(c.oid) + pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid)), 0) ELSE -1 END::pg_catalog.int8'
  + " FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'm', 'p') AND c.relnamespace <> 'pg_catalog'::pg_catalog.regnamespace";

/** The decision limits the rows this statement may change: it writes, or runs user code that may (runsUserCode). */
export function isGuarded(
  d: Decision,
  f: StatementFacts,
  ctx: SessionContext,
): d is Extract<Decision, { verdict: 'allow' | 'warn' }> {
  return (
    (d.verdict === 'allow' || d.verdict === 'warn')
    && d.guardrails.maxAffectedRows !== null
    && (f.writes || runsUserCode(f, ctx))
  );
}

/**
 * The statement runs code that may change rows the analyzer cannot see: a function or procedure that is not
 * a built-in (one outside pg_catalog, as the name resolves), or a DO block. maxAffectedRows counts such
 * statements like writes (issue 11): a STABLE function may still call a volatile one that deletes.
 */
export function runsUserCode(f: StatementFacts, ctx: SessionContext): boolean {
  for (const a of f.accesses) {
    if (a.kind !== 'function') continue;
    const { schema, name } = a.relation;
    if (schema === null ? !ctx.catalogFunctions.has(name) : schema !== 'pg_catalog') return true;
    if (name === 'do') return true;
  }
  return false;
}

/** A guarded statement and its guard, for a session about to run it. */
export function guardFor(
  d: Extract<Decision, { verdict: 'allow' | 'warn' }>,
  f: StatementFacts,
  ctx: SessionContext,
  inBlock: boolean,
): Guard {
  return guard(d.guardrails.maxAffectedRows!, d.guardrails.policy, inBlock, describeStatement(f, ctx));
}

/** A denial of a guarded statement the proxy cannot count on its own, with the client's error built from it. */
export interface GuardRefusal {
  readonly decision: DenyDecision;
  readonly fields: PgErrorFields;
}

function refusal(
  d: Extract<Decision, { verdict: 'allow' | 'warn' }>,
  f: StatementFacts,
  ctx: SessionContext,
  reason: string,
  must: string,
): GuardRefusal {
  const decision: DenyDecision = {
    verdict: 'deny',
    policy: d.guardrails.policy,
    rule: MAX_AFFECTED_ROWS_RULE,
    reason,
    kind: 'guardrail',
  };
  const fields = denialFields(decision, describeStatement(f, ctx));
  fields.message += `: a write limited by maxAffectedRows must be ${must}`;
  return { decision, fields };
}

/** A guarded write among other statements of one Query: its count could not be told from theirs. */
export function guardedInMultiStatement(
  d: Extract<Decision, { verdict: 'allow' | 'warn' }>,
  f: StatementFacts,
  ctx: SessionContext,
): GuardRefusal {
  return refusal(d, f, ctx, 'guarded write in a multi-statement string', 'sent as a statement on its own');
}

/** A guarded write executed with a row limit: the portal could be resumed after the count was read. */
export function guardedInParts(
  d: Extract<Decision, { verdict: 'allow' | 'warn' }>,
  f: StatementFacts,
  ctx: SessionContext,
): GuardRefusal {
  return refusal(d, f, ctx, 'guarded write fetched in parts', 'executed in one Execute (row limit 0)');
}

/** Changed rows could not be counted (CHANGED_ROWS_SQL answered -1: track_counts is off on the server). */
export const UNCOUNTABLE = -1;

/** Statements whose CommandComplete row count counts rows they changed: a lower bound of the real count. */
const TAG_COUNTS_CHANGES: ReadonlySet<string> = new Set([
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'CopyStmt',
]);

/** The count from the counters before and after (CHANGED_ROWS_SQL), never below what the tag says. */
export function settleCount(g: Guard, facts: StatementFacts | null, after: number): void {
  if (g.before === null || g.before < 0 || after < 0) {
    g.count = UNCOUNTABLE;
    return;
  }
  const tag = facts !== null && TAG_COUNTS_CHANGES.has(facts.tag) ? (g.tagCount ?? 0) : 0;
  g.count = Math.max(tag, after - g.before);
}

/** Over the limit — or not countable, which fails closed. */
export function guardOver(g: Guard): boolean {
  return g.count !== null && (g.count === UNCOUNTABLE || g.count > g.limit);
}

function guardReason(g: Guard): string {
  return g.count === UNCOUNTABLE
    ? `affected rows that could not be counted (the server's track_counts is off), so maxAffectedRows ${g.limit} could not be checked`
    : `affected ${g.count} rows, more than maxAffectedRows ${g.limit}`;
}

/** A statement rolled back by maxAffectedRows: its denial and the error the client gets (42501; ADR 0001). */
export function guardRollback(g: Guard): GuardRefusal {
  const reason = guardReason(g);
  const decision: DenyDecision = {
    verdict: 'deny',
    policy: g.policy,
    rule: MAX_AFFECTED_ROWS_RULE,
    reason,
    kind: 'guardrail',
  };
  const fields: PgErrorFields = {
    severity: 'ERROR',
    code: '42501',
    message: `permission denied for ${g.what}: ${reason.replace(/^affected/, 'it affected')} of AccessPolicy "${g.policy}"; rolled back`,
  };
  return { decision, fields };
}

// The audit record of one statement, built from the decision it ran (or was refused) under: the same
// DenyDecision the client's error was built from (enforce/denial.ts denialFields), so the two cannot drift.
// Pure: the session supplies the clock and what the response stream learnt (rows, masked columns, SQLSTATE).
import type { Decision } from '../../policy/types.ts';
import type { AuditDecision, StatementRecord } from '../../audit/types.ts';
import type { Run } from './requests.ts';

/**
 * `rn` ran with `d` (its own decision, or a denial that replaced it: a guardrail rollback) and ended with
 * SQLSTATE `code` (null: success). `searchPath0` qualifies an unqualified relation as PostgreSQL resolved it.
 */
export function statementRecord(
  sessionId: string,
  rn: Run,
  d: Decision,
  code: string | null,
  endMs: number,
  searchPath0: string | undefined,
): StatementRecord {
  const f = rn.facts;
  const a = f?.accesses[0];
  const rel =
    a === undefined
      ? null
      : a.relation.schema === null
        ? searchPath0 !== undefined && a.kind === 'relation'
          ? `${searchPath0}.${a.relation.name}`
          : a.relation.name
        : `${a.relation.schema}.${a.relation.name}`;
  const grant = grantOf(d);
  // A statement that ran on an approved AccessRequest is audited as `approve`, naming the request.
  const decision: AuditDecision =
    d.verdict === 'warn'
      ? 'warn'
      : d.verdict === 'deny'
        ? 'deny'
        : d.verdict === 'approve' || grant !== undefined
          ? 'approve'
          : 'allow';
  return {
    sessionId,
    startTimeMs: rn.startMs,
    durationMs: endMs - rn.startMs,
    operation: f?.command ?? 'UNKNOWN',
    collection: rel,
    queryText: rn.normalized,
    statusCode: code,
    decision,
    policy: d.policy === '' ? null : d.policy,
    rule: d.rule === '' ? null : d.rule,
    reason: d.verdict === 'deny' ? d.reason : d.verdict === 'warn' ? (d.wouldDeny[0]?.reason ?? null) : null,
    maskedColumns: rn.maskedColumns ?? NO_COLUMNS,
    rows: rn.rows,
    accessRequest: grant ?? null,
    rolledBack: rn.rolledBack,
  };
}

/** The AccessRequest a decision names: the grant that allowed it, or the one a denied approval hold created. */
export function grantOf(d: Decision): string | undefined {
  return d.verdict === 'allow' || d.verdict === 'warn' ? d.grant : d.verdict === 'deny' ? d.accessRequest : undefined;
}

const NO_COLUMNS: readonly string[] = Object.freeze([]);

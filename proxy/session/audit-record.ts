// The audit record of one statement, built from the decision it ran (or was refused) under: the same
// DenyDecision the client's error was built from (enforce/denial.ts denialFields), so the two cannot drift.
// Pure: the session supplies the clock and what the response stream learnt (rows, masked columns, SQLSTATE).
import type { Decision, RelName } from '../../policy/types.ts';
import type { AuditDecision, StatementRecord } from '../../audit/types.ts';
import type { Run } from './requests.ts';

/** A record the caller refills for each statement (AuditSink.statement: sinks that keep a record copy it). */
export type StatementRecordSlot = { -readonly [K in keyof StatementRecord]: StatementRecord[K] };

/** A record with every field set, in the order statementRecord writes them (one shape for V8). */
export function newStatementRecord(): StatementRecordSlot {
  return {
    sessionId: '',
    startTimeMs: 0.5, // a double from the start: the field stays a double in place, not a new number per write
    durationMs: 0.5,
    operation: '',
    collection: null,
    queryText: '',
    statusCode: null,
    decision: 'allow',
    policy: null,
    rule: null,
    reason: null,
    maskedColumns: NO_COLUMNS,
    rows: null,
    accessRequest: null,
    rolledBack: false,
  };
}

/**
 * `rn` ran with `d` (its own decision, or a denial that replaced it: a guardrail rollback) and ended with
 * SQLSTATE `code` (null: success). `searchPath0` qualifies an unqualified relation as PostgreSQL resolved it.
 * Written into `into` when given (the session reuses one record: no object per statement), else a new record.
 */
export function statementRecord(
  sessionId: string,
  rn: Run,
  d: Decision,
  code: string | null,
  endMs: number,
  searchPath0: string | undefined,
  into: StatementRecordSlot = newStatementRecord(),
): StatementRecord {
  const f = rn.facts;
  const a = f?.accesses[0];
  const rel =
    a === undefined
      ? null
      : a.relation.schema === null
        ? searchPath0 !== undefined && a.kind === 'relation'
          ? qualified(searchPath0, a.relation)
          : a.relation.name
        : qualified(a.relation.schema, a.relation);
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
  into.sessionId = sessionId;
  into.startTimeMs = rn.startMs;
  into.durationMs = endMs - rn.startMs;
  into.operation = f?.command ?? 'UNKNOWN';
  into.collection = rel;
  into.queryText = rn.normalized;
  into.statusCode = code;
  into.decision = decision;
  into.policy = d.policy === '' ? null : d.policy;
  into.rule = d.rule === '' ? null : d.rule;
  into.reason = d.verdict === 'deny' ? d.reason : d.verdict === 'warn' ? (d.wouldDeny[0]?.reason ?? null) : null;
  into.maskedColumns = rn.maskedColumns ?? NO_COLUMNS;
  into.rows = rn.rows;
  into.accessRequest = grant ?? null;
  into.rolledBack = rn.rolledBack;
  return into;
}

/** The AccessRequest a decision names: the grant that allowed it, or the one a denied approval hold created. */
export function grantOf(d: Decision): string | undefined {
  return d.verdict === 'allow' || d.verdict === 'warn' ? d.grant : d.verdict === 'deny' ? d.accessRequest : undefined;
}

const NO_COLUMNS: readonly string[] = Object.freeze([]);

// `<schema>.<name>` of the last relation named (its own schema, or search_path[0]). The relation objects come
// from the decision cache (the same object for every run of a statement), so a repeated statement reuses the
// string: a new one per statement was a concatenation that the span writer then flattened, two strings.
let lastRelation: RelName | null = null;
let lastSchema = '';
let lastQualified = '';

function qualified(schema: string, r: RelName): string {
  if (r !== lastRelation || schema !== lastSchema) {
    lastQualified = `${schema}.${r.name}`;
    lastRelation = r;
    lastSchema = schema;
  }
  return lastQualified;
}

// The attributes, names and status of audit spans (design.md "Audit spans"), from the records the sessions
// hand the sink (types.ts). Used where spans are made (encoder.ts: the proxy's worker, the operator).
import type { Attributes, SpanStatus } from '@opentelemetry/api';
import { SpanStatusCode } from '@opentelemetry/api';
import type { SessionRecord, StatementRecord } from './types.ts';
import * as sc from './semconv.ts';
import { truncateUtf8 } from './values.ts';

export { hrTime, truncateUtf8 } from './values.ts';

/** The attributes every span of a session carries (its statements repeat them, as the conventions ask). */
export function sessionCommonAttributes(s: SessionRecord): Attributes {
  const a: Attributes = { [sc.ATTR_DB_SYSTEM_NAME]: sc.DB_SYSTEM_NAME_VALUE_POSTGRESQL };
  if (s.database !== '') a[sc.ATTR_DB_NAMESPACE] = s.database;
  if (s.serverAddress !== '') a[sc.ATTR_SERVER_ADDRESS] = s.serverAddress;
  if (s.serverPort > 0) a[sc.ATTR_SERVER_PORT] = s.serverPort;
  if (s.subject !== '') a[sc.ATTR_AIRLOCK_SUBJECT] = s.subject;
  return a;
}

/** The session span's own attributes: the common ones, then who connected, through which binding. */
export function sessionSpanAttributes(s: SessionRecord, common: Attributes): Attributes {
  const a: Attributes = { ...common };
  if (s.clientAddress !== '') a[sc.ATTR_CLIENT_ADDRESS] = s.clientAddress;
  if (s.binding !== '') a[sc.ATTR_AIRLOCK_BINDING] = s.binding;
  a[sc.ATTR_AIRLOCK_SESSION_ID] = s.sessionId;
  return a;
}

/** Session span name `session <db>`; kind SERVER (the proxy serves the client and calls PostgreSQL for it). */
export function sessionSpanName(s: SessionRecord): string {
  return `session ${s.database}`;
}

/** Statement span name `<operation> <db>.<table>` (design.md "Audit spans"); kind CLIENT, as a driver's. */
export function statementSpanName(r: StatementRecord, database: string): string {
  if (r.collection === null) return database === '' ? r.operation : `${r.operation} ${database}`;
  return database === '' ? `${r.operation} ${r.collection}` : `${r.operation} ${database}.${r.collection}`;
}

/**
 * A statement span's attributes: the session's, then the statement's. db.query.text is the normalized text
 * (literals already replaced by $n in the session); masked values are never in a record at all.
 */
export function statementAttributes(common: Attributes, r: StatementRecord, maxQueryTextBytes: number): Attributes {
  const a: Attributes = { ...common };
  a[sc.ATTR_DB_OPERATION_NAME] = r.operation;
  if (r.collection !== null) a[sc.ATTR_DB_COLLECTION_NAME] = r.collection;
  const cut = truncateUtf8(r.queryText, maxQueryTextBytes);
  a[sc.ATTR_DB_QUERY_TEXT] = cut ?? r.queryText;
  if (cut !== null) a[sc.ATTR_AIRLOCK_QUERY_TEXT_TRUNCATED] = true;
  if (r.statusCode !== null) {
    a[sc.ATTR_DB_RESPONSE_STATUS_CODE] = r.statusCode;
    a[sc.ATTR_ERROR_TYPE] = r.statusCode;
  }
  a[sc.ATTR_AIRLOCK_DECISION] = r.decision;
  if (r.policy !== null) a[sc.ATTR_AIRLOCK_POLICY] = r.policy;
  if (r.rule !== null) a[sc.ATTR_AIRLOCK_RULE] = r.rule;
  if (r.reason !== null) a[sc.ATTR_AIRLOCK_REASON] = r.reason;
  a[sc.ATTR_AIRLOCK_MASKED_COLUMNS] = r.maskedColumns as string[];
  if (r.rows !== null) a[sc.ATTR_AIRLOCK_ROWS] = r.rows;
  if (r.accessRequest !== null) a[sc.ATTR_AIRLOCK_ACCESS_REQUEST] = r.accessRequest;
  a[sc.ATTR_AIRLOCK_ROLLED_BACK] = r.rolledBack;
  return a;
}

/**
 * ERROR, with the reason (or the SQLSTATE) as message, for a denial or a failed statement; otherwise null:
 * the status stays UNSET, as the OTel spec asks of instrumentations on success.
 */
export function statementStatus(r: StatementRecord): SpanStatus | null {
  if (r.decision === 'deny') {
    return {
      code: SpanStatusCode.ERROR,
      message: r.reason ?? (r.statusCode === null ? 'denied' : `SQLSTATE ${r.statusCode}`),
    };
  }
  if (r.statusCode !== null) return { code: SpanStatusCode.ERROR, message: r.reason ?? `SQLSTATE ${r.statusCode}` };
  return null;
}

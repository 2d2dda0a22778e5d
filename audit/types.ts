// Contract between the session (proxy/session) and the audit exporter (audit/).
// One StatementRecord per statement becomes one OpenTelemetry span (design.md "Audit spans").
// The session builds records without formatting anything: the exporter does the work off the hot path.

export type AuditDecision = 'allow' | 'deny' | 'approve' | 'warn';

export interface SessionRecord {
  readonly sessionId: string; // 16 hex chars, unique per proxy process
  readonly subject: string; // Kubernetes user name of the identity
  readonly database: string; // db.namespace
  readonly binding: string; // DatabaseBinding name
  readonly serverAddress: string; // upstream host
  readonly serverPort: number;
  readonly clientAddress: string;
  readonly startTimeMs: number;
}

export interface StatementRecord {
  readonly sessionId: string;
  readonly startTimeMs: number; // epoch ms (performance.timeOrigin + now())
  readonly durationMs: number;
  readonly operation: string; // db.operation.name, e.g. SELECT
  readonly collection: string | null; // db.collection.name: first relation touched, "schema.table"
  readonly queryText: string; // db.query.text: normalized, literals → $n; never raw literals
  readonly statusCode: string | null; // db.response.status_code: SQLSTATE of an error, null on success
  readonly decision: AuditDecision;
  readonly policy: string | null;
  readonly rule: string | null;
  readonly reason: string | null; // for deny/warn: why
  readonly maskedColumns: readonly string[];
  readonly rows: number | null; // rows returned or affected
  readonly accessRequest: string | null;
  readonly rolledBack: boolean; // a guardrail rolled the statement back
}

export interface AuditSink {
  sessionStarted(s: SessionRecord): void;
  /**
   * Must not throw and must not block the caller; returns false when onFailure=block refuses new statements.
   * `r` is valid during the call only: the proxy refills one record for every statement (no object per
   * statement), so a sink that keeps a record keeps a copy.
   */
  statement(r: StatementRecord): boolean;
  sessionEnded(sessionId: string, endTimeMs: number): void;
  /** True while the spool has room (or onFailure is drop-oldest): the session checks it before running a statement. */
  accepting(): boolean;
  close(): Promise<void>;
}

/** Used where audit is off (tests of other parts, `--audit none`). */
export const NULL_AUDIT: AuditSink = {
  sessionStarted() {},
  statement() {
    return true;
  },
  sessionEnded() {},
  accepting() {
    return true;
  },
  async close() {},
};

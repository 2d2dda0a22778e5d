// Record builders shared by the audit tests and the crash-test child process.
import type { SessionRecord, StatementRecord } from '../types.ts';

export function session(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    sessionId: id,
    subject: 'system:serviceaccount:ml:trainer',
    database: 'orders',
    binding: 'orders',
    serverAddress: 'orders-pg.db.svc',
    serverPort: 5432,
    clientAddress: '127.0.0.1',
    startTimeMs: 1_700_000_000_000.5,
    ...over,
  };
}

export function statement(sessionId: string, n: number, over: Partial<StatementRecord> = {}): StatementRecord {
  return {
    sessionId,
    startTimeMs: 1_700_000_000_001 + n,
    durationMs: 0.25,
    operation: 'SELECT',
    collection: 'public.orders',
    queryText: `SELECT id FROM public.orders WHERE id = $1 /* ${n} */`,
    statusCode: null,
    decision: 'allow',
    policy: 'trainer',
    rule: 'read-app-tables',
    reason: null,
    maskedColumns: [],
    rows: 1,
    accessRequest: null,
    rolledBack: false,
    ...over,
  };
}

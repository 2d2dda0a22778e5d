// statementRecord: the audit record built from the decision a statement ran (or was refused) under (pure; the
// end-to-end cases are in test/proxy/decisions.test.ts and test/proxy/approvals.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decision, StatementFacts } from '../../policy/types.ts';
import { NO_MASKS } from '../../policy/types.ts';
import { run } from './requests.ts';
import { statementRecord } from './audit-record.ts';

const facts: StatementFacts = {
  tag: 'UpdateStmt',
  command: 'UPDATE',
  accesses: [{ operation: 'UPDATE', relation: { schema: null, name: 'orders' }, kind: 'relation' }],
  unsupported: [],
  effects: [],
  unfilteredWrite: false,
  writes: true,
  outputs: [],
  copyTo: null,
  transaction: false,
  executes: null,
  prepares: null,
};
const allow = (o: Partial<Extract<Decision, { verdict: 'allow' | 'warn' }>> = {}): Decision => ({
  verdict: 'allow',
  policy: 'ops',
  rule: 'writes',
  masks: NO_MASKS,
  wouldDeny: [],
  guardrails: { maxAffectedRows: null, policy: null },
  ...o,
});

test('an allowed statement: operation, resolved collection, rows, no reason', () => {
  const rn = run(facts, allow(), 1000, 'UPDATE orders SET total = $1');
  rn.rows = 3;
  rn.maskedColumns = ['public.orders.total'];
  const r = statementRecord('s1', rn, rn.decision, null, 1012.5, 'public');
  assert.deepEqual(r, {
    sessionId: 's1',
    startTimeMs: 1000,
    durationMs: 12.5,
    operation: 'UPDATE',
    collection: 'public.orders',
    queryText: 'UPDATE orders SET total = $1',
    statusCode: null,
    decision: 'allow',
    policy: 'ops',
    rule: 'writes',
    reason: null,
    maskedColumns: ['public.orders.total'],
    rows: 3,
    accessRequest: null,
    rolledBack: false,
  });
});

test('a denial carries its reason and SQLSTATE; empty policy and rule names are null', () => {
  const d: Decision = { verdict: 'deny', policy: null, rule: null, reason: 'statement too large' };
  const rn = run(null, d, 5, '');
  const r = statementRecord('s1', rn, d, '54000', 6, undefined);
  assert.equal(r.decision, 'deny');
  assert.equal(r.reason, 'statement too large');
  assert.equal(r.statusCode, '54000');
  assert.equal(r.operation, 'UNKNOWN');
  assert.equal(r.collection, null);
  assert.deepEqual(r.maskedColumns, []);
  const empty = statementRecord(
    's1',
    run(null, allow({ policy: '', rule: '' }), 5, ''),
    allow({ policy: '', rule: '' }),
    null,
    6,
    undefined,
  );
  assert.equal(empty.policy, null);
  assert.equal(empty.rule, null);
});

test('warn names what enforcement would have denied', () => {
  const d = allow({
    verdict: 'warn',
    wouldDeny: [{ policy: 'staged', rule: null, reason: 'no rule allows UPDATE on public.orders' }],
  });
  const r = statementRecord('s1', run(facts, d, 0, 'q'), d, null, 1, 'public');
  assert.equal(r.decision, 'warn');
  assert.equal(r.reason, 'no rule allows UPDATE on public.orders');
});

test('a statement allowed by a grant, or denied after an approval hold, names its AccessRequest', () => {
  const granted = allow({ grant: 'team/req-1' });
  const a = statementRecord('s1', run(facts, granted, 0, 'q'), granted, null, 1, 'public');
  assert.equal(a.decision, 'approve');
  assert.equal(a.accessRequest, 'team/req-1');
  const held: Decision = {
    verdict: 'deny',
    policy: 'ops',
    rule: 'big',
    reason: 'it needs an approved AccessRequest; …',
    kind: 'approval',
    accessRequest: 'team/req-2',
  };
  const d = statementRecord('s1', run(facts, held, 0, 'q'), held, '42501', 1, 'public');
  assert.equal(d.decision, 'deny');
  assert.equal(d.accessRequest, 'team/req-2');
});

test('a guardrail rollback is audited with the denial that replaced the decision it ran under', () => {
  const rn = run(facts, allow(), 0, 'q');
  rn.rolledBack = true;
  rn.rows = 500;
  const over: Decision = {
    verdict: 'deny',
    policy: 'ops',
    rule: 'guardrails.maxAffectedRows',
    reason: 'affected 500 rows, more than maxAffectedRows 100',
    kind: 'guardrail',
  };
  const r = statementRecord('s1', rn, over, '42501', 1, 'public');
  assert.equal(r.decision, 'deny');
  assert.equal(r.rule, 'guardrails.maxAffectedRows');
  assert.equal(r.rolledBack, true);
  assert.equal(r.rows, 500);
});

test('an unqualified function is named as written (only relations resolve through the search_path)', () => {
  const f: StatementFacts = {
    ...facts,
    accesses: [{ operation: 'CALL', relation: { schema: null, name: 'refresh' }, kind: 'function' }],
  };
  assert.equal(statementRecord('s1', run(f, allow(), 0, 'q'), allow(), null, 1, 'public').collection, 'refresh');
});

// maxAffectedRows: which statements are guarded, the count, and the refusals, each one DenyDecision with the
// client's error built from it (pure; the end-to-end cases are in test/proxy/guardrails*.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decision, SessionContext, StatementFacts } from '../../policy/types.ts';
import { NO_MASKS } from '../../policy/types.ts';
import {
  MAX_AFFECTED_ROWS_RULE,
  UNCOUNTABLE,
  guard,
  guardFor,
  guardOver,
  guardRollback,
  guardedInMultiStatement,
  guardedInParts,
  isGuarded,
  settleCount,
} from './guardrails.ts';

const update: StatementFacts = {
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
const select: StatementFacts = { ...update, tag: 'SelectStmt', command: 'SELECT', writes: false, accesses: [] };
const ctx = {
  identity: { user: 'alice', groups: [] },
  database: 'orders',
  searchPath: ['public'],
  catalogRelations: new Set<string>(),
  catalogFunctions: new Set(['now']),
  grants: [],
} as unknown as SessionContext;
const limited: Extract<Decision, { verdict: 'allow' | 'warn' }> = {
  verdict: 'allow',
  policy: 'ops',
  rule: 'writes',
  masks: NO_MASKS,
  wouldDeny: [],
  guardrails: { maxAffectedRows: 100, policy: 'ops-guard' },
};

test('a write under maxAffectedRows is guarded; a read, or a write without the limit, is not', () => {
  assert.equal(isGuarded(limited, update, ctx), true);
  assert.equal(isGuarded(limited, select, ctx), false);
  assert.equal(isGuarded({ ...limited, guardrails: { maxAffectedRows: null, policy: null } }, update, ctx), false);
  assert.equal(isGuarded({ verdict: 'deny', policy: null, rule: null, reason: 'no' }, update, ctx), false);
});

test('a read that calls user code is guarded like a write; a built-in is not', () => {
  const calls = (schema: string | null, name: string): StatementFacts => ({
    ...select,
    accesses: [{ operation: 'CALL', relation: { schema, name }, kind: 'function' }],
  });
  assert.equal(isGuarded(limited, calls(null, 'purge_old'), ctx), true);
  assert.equal(isGuarded(limited, calls('app', 'purge_old'), ctx), true);
  assert.equal(isGuarded(limited, calls(null, 'now'), ctx), false);
  assert.equal(isGuarded(limited, calls('pg_catalog', 'now'), ctx), false);
});

test("the count is the counters' difference, never below the tag; unreadable counters fail closed", () => {
  const g = guardFor(limited, update, ctx, false);
  assert.equal(g.limit, 100);
  assert.equal(g.what, 'UPDATE on public.orders');
  g.before = 10;
  g.tagCount = 7;
  settleCount(g, update, 15);
  assert.equal(g.count, 7); // a trigger may have undone counted work; the tag is a lower bound
  settleCount(g, update, 150);
  assert.equal(g.count, 140);
  assert.equal(guardOver(g), true);
  settleCount(g, select, 12);
  assert.equal(g.count, 2); // a SELECT's tag counts rows returned, not changed
  const off = guard(100, 'ops-guard', false, 'UPDATE on public.orders');
  off.before = -1;
  settleCount(off, update, -1);
  assert.equal(off.count, UNCOUNTABLE);
  assert.equal(guardOver(off), true);
});

test("a rollback: the denial and the client's error say the same count and policy", () => {
  const g = guard(100, 'ops-guard', false, 'UPDATE on public.orders');
  g.count = 140;
  const r = guardRollback(g);
  assert.deepEqual(r.decision, {
    verdict: 'deny',
    policy: 'ops-guard',
    rule: MAX_AFFECTED_ROWS_RULE,
    reason: 'affected 140 rows, more than maxAffectedRows 100',
    kind: 'guardrail',
  });
  assert.deepEqual(r.fields, {
    severity: 'ERROR',
    code: '42501',
    message:
      'permission denied for UPDATE on public.orders: it affected 140 rows, more than maxAffectedRows 100 of AccessPolicy "ops-guard"; rolled back',
  });
  g.count = UNCOUNTABLE;
  assert.match(guardRollback(g).fields.message, /could not be counted \(the server's track_counts is off\)/);
});

test('a guarded write the proxy cannot count alone is refused, saying how to send it', () => {
  const m = guardedInMultiStatement(limited, update, ctx);
  assert.equal(m.decision.reason, 'guarded write in a multi-statement string');
  assert.equal(m.decision.rule, MAX_AFFECTED_ROWS_RULE);
  assert.equal(
    m.fields.message,
    'permission denied for UPDATE on public.orders: AccessPolicy "ops-guard", rule "guardrails.maxAffectedRows": a write limited by maxAffectedRows must be sent as a statement on its own',
  );
  const p = guardedInParts(limited, update, ctx);
  assert.equal(p.decision.reason, 'guarded write fetched in parts');
  assert.match(p.fields.message, /must be executed in one Execute \(row limit 0\)$/);
});

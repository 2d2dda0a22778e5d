// denialFields and heldFields: the client's error built from a DenyDecision, by its kind (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { denialFields, heldFields } from './denial.ts';
import type { DenyDecision } from './denial.ts';

test("a rule's denial names the policy and rule; none names why no policy allows it", () => {
  assert.deepEqual(
    denialFields({ verdict: 'deny', policy: 'ro', rule: 'no-pii', reason: 'x' }, 'SELECT on public.customers'),
    {
      severity: 'ERROR',
      code: '42501',
      message: 'permission denied for SELECT on public.customers: AccessPolicy "ro", rule "no-pii"',
    },
  );
  assert.equal(
    denialFields({ verdict: 'deny', policy: null, rule: null, reason: 'no rule allows it' }, 'statement').message,
    'permission denied for statement: no AccessPolicy allows it (no rule allows it)',
  );
});

test('an approval denial says it needs an AccessRequest, with the reason as detail — by kind, not by its wording', () => {
  const d: DenyDecision = {
    verdict: 'deny',
    policy: 'ops',
    rule: 'big-writes',
    reason: 'ops/req-1 was not approved within 60 s',
    kind: 'approval',
  };
  assert.deepEqual(denialFields(d, 'DELETE on public.orders'), {
    severity: 'ERROR',
    code: '42501',
    message:
      'permission denied for DELETE on public.orders: AccessPolicy "ops", rule "big-writes" requires an approved AccessRequest',
    detail: 'ops/req-1 was not approved within 60 s',
  });
  const worded: DenyDecision = {
    verdict: 'deny',
    policy: 'ops',
    rule: 'r',
    reason: 'it needs an approved AccessRequest',
  };
  assert.equal(denialFields(worded, 'statement').detail, undefined);
});

test("a hold the client cancelled is PostgreSQL's 57014; any other held denial is the denial", () => {
  assert.deepEqual(
    heldFields({ verdict: 'deny', policy: 'ops', rule: 'r', reason: 'cancelled', kind: 'cancelled' }, 'statement'),
    {
      severity: 'ERROR',
      code: '57014',
      message: 'canceling statement due to user request',
    },
  );
  assert.equal(
    heldFields({ verdict: 'deny', policy: 'ops', rule: 'r', reason: 'x', kind: 'approval' }, 'statement').code,
    '42501',
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessPolicy, AccessRequest, AccessRequestApproval } from '../../policy/types.ts';
import { PENDING_TTL_MS, computeRequestStatus, nextChangeMs } from './requests.ts';

const T0 = Date.parse('2026-11-25T10:00:00Z');
const at = (min: number): string => new Date(T0 + min * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function policy(
  name: string,
  approval: Record<string, unknown> | undefined,
  extra: Record<string, unknown> = {},
): AccessPolicy {
  return {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name, namespace: 'ml' },
    spec: {
      subjects: [{ kind: 'ServiceAccount', name: 'trainer' }],
      databases: ['orders'],
      rules: [
        { name: 'read', effect: 'allow', operations: ['SELECT'] },
        { name: 'fix', effect: 'approve', operations: ['UPDATE', 'DELETE'], tables: ['public.*'] },
      ],
      ...(approval === undefined ? {} : { approval }),
      ...extra,
    },
  } as AccessPolicy;
}
const DBA = { approvers: [{ kind: 'Group', name: 'dba' }], minApprovals: 1, maxDuration: '4h' };

function request(
  approvals: AccessRequestApproval[] = [],
  extra: Partial<AccessRequest['spec']> = {},
  status: Partial<NonNullable<AccessRequest['status']>> = {},
): AccessRequest {
  return {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessRequest',
    metadata: { name: 'ar-1', namespace: 'ml', creationTimestamp: at(0) },
    spec: {
      subject: { kind: 'ServiceAccount', name: 'trainer' },
      database: 'orders',
      statement: 'DELETE FROM orders WHERE id = 7',
      requestedBy: 'system:serviceaccount:ml:trainer',
      ...extra,
    },
    status: { approvals, ...status },
  } as AccessRequest;
}
const approve = (
  approver: string,
  groups: string[],
  min: number,
  decision: AccessRequestApproval['decision'] = 'Approve',
): AccessRequestApproval => ({ approver, groups, decision, at: at(min) });

test('pending until an approver of the governing policy approves', () => {
  const s = computeRequestStatus(request(), [policy('p', DBA)], T0 + 60_000);
  assert.equal(s.phase, 'Pending');
  assert.match(s.message, /waiting for 1 more approval from Group dba/);
});

test('approved: expiresAt = decisive approval + duration, capped by maxDuration', () => {
  const r = request([approve('bob', ['dba'], 5)], { duration: '1h' });
  const s = computeRequestStatus(r, [policy('p', DBA)], T0 + 6 * 60_000);
  assert.deepEqual([s.phase, s.expiresAt], ['Approved', at(65)]);
  const long = computeRequestStatus(
    request([approve('bob', ['dba'], 5)], { duration: '10h' }),
    [policy('p', DBA)],
    T0 + 6 * 60_000,
  );
  assert.equal(long.expiresAt, at(5 + 240));
  assert.match(long.message, /capped by maxDuration/);
  // No duration asked: maxDuration.
  assert.equal(computeRequestStatus(request([approve('bob', ['dba'], 5)]), [policy('p', DBA)], T0).expiresAt, at(245));
});

test('the requester and the subject never count, nor someone outside the approvers', () => {
  const own = request([approve('system:serviceaccount:ml:trainer', ['dba'], 1)]);
  const s = computeRequestStatus(own, [policy('p', DBA)], T0);
  assert.equal(s.phase, 'Pending');
  assert.match(s.message, /not counted: system:serviceaccount:ml:trainer requested it/);
  const requester = request([approve('alice', ['dba'], 1)], { requestedBy: 'alice' });
  assert.equal(computeRequestStatus(requester, [policy('p', DBA)], T0).phase, 'Pending');
  const outsider = request([approve('carol', ['dev'], 1)]);
  const o = computeRequestStatus(outsider, [policy('p', DBA)], T0);
  assert.equal(o.phase, 'Pending');
  assert.match(o.message, /carol is not an approver/);
  // An outsider's Deny does not deny either.
  assert.equal(
    computeRequestStatus(request([approve('carol', ['dev'], 1, 'Deny')]), [policy('p', DBA)], T0).phase,
    'Pending',
  );
});

test('minApprovals counts distinct approvers; the strictest governing policy holds', () => {
  const two = { ...DBA, minApprovals: 2 };
  const once = request([approve('bob', ['dba'], 1), approve('bob', ['dba'], 2)]);
  assert.equal(computeRequestStatus(once, [policy('p', two)], T0).phase, 'Pending');
  const twice = request([approve('bob', ['dba'], 1), approve('dan', ['dba'], 3)]);
  const s = computeRequestStatus(twice, [policy('p', two)], T0 + 4 * 60_000);
  assert.deepEqual([s.phase, s.expiresAt], ['Approved', at(3 + 240)]);
  // Two governing policies: max of minApprovals, min of maxDuration, union of approvers.
  const other = policy('q', { approvers: [{ kind: 'User', name: 'erin' }], minApprovals: 2, maxDuration: '30m' });
  const mixed = request([approve('bob', ['dba'], 1), approve('erin', [], 2)]);
  const m = computeRequestStatus(mixed, [policy('p', DBA), other], T0 + 3 * 60_000);
  assert.deepEqual([m.phase, m.expiresAt], ['Approved', at(2 + 30)]);
});

test('deny, revoke, expiry and the pending TTL', () => {
  const denied = computeRequestStatus(request([approve('bob', ['dba'], 1, 'Deny')]), [policy('p', DBA)], T0);
  assert.equal(denied.phase, 'Denied');
  const approved = request([approve('bob', ['dba'], 1)], {}, { phase: 'Approved', expiresAt: at(61) });
  assert.equal(computeRequestStatus(approved, [policy('p', DBA)], T0 + 60 * 60_000).phase, 'Approved');
  assert.equal(computeRequestStatus(approved, [policy('p', DBA)], T0 + 61 * 60_000).phase, 'Expired');
  // Approved stays approved when the policy changes (the grant is only consulted where a rule asks).
  assert.equal(computeRequestStatus(approved, [], T0).phase, 'Approved');
  const revoked = request(
    [approve('bob', ['dba'], 1), approve('system:serviceaccount:ml:trainer', [], 3, 'Revoke')],
    {},
    { phase: 'Approved', expiresAt: at(61) },
  );
  const rv = computeRequestStatus(revoked, [policy('p', DBA)], T0 + 4 * 60_000);
  assert.equal(rv.phase, 'Revoked');
  assert.match(rv.message, /revoked by system:serviceaccount:ml:trainer/);
  // Terminal phases stay.
  assert.equal(
    computeRequestStatus(request([approve('bob', ['dba'], 1)], {}, { phase: 'Revoked' }), [policy('p', DBA)], T0).phase,
    'Revoked',
  );
  const stale = computeRequestStatus(request(), [policy('p', DBA)], T0 + PENDING_TTL_MS);
  assert.equal(stale.phase, 'Expired');
  assert.equal(nextChangeMs(request(), computeRequestStatus(request(), [policy('p', DBA)], T0)), T0 + PENDING_TTL_MS);
});

test('no governing policy: denied with a message saying why', () => {
  const s = computeRequestStatus(
    request(),
    [policy('p', DBA, { rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'] }] })],
    T0,
  );
  assert.equal(s.phase, 'Denied');
  assert.match(s.message, /no AccessPolicy in ml has an approve rule for ServiceAccount trainer on database "orders"/);
  // Another namespace's policy does not govern.
  const elsewhere = { ...policy('p', DBA), metadata: { name: 'p', namespace: 'other' } } as AccessPolicy;
  assert.equal(computeRequestStatus(request(), [elsewhere], T0).phase, 'Denied');
});

test('without an approval section: anyone who passed admission approves, for at most an hour', () => {
  const s = computeRequestStatus(request([approve('bob', [], 1)], { duration: '3h' }), [policy('p', undefined)], T0);
  assert.deepEqual([s.phase, s.expiresAt], ['Approved', at(61)]);
  // …but never an entry the webhook did not stamp.
  const unstamped = computeRequestStatus(
    request([approve('(not stamped by the Airlock webhook)', [], 1)]),
    [policy('p', undefined)],
    T0,
  );
  assert.equal(unstamped.phase, 'Pending');
  assert.match(unstamped.message, /never stamped/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeIdentity, parseServiceAccount, subjectMatches } from './identity.ts';
import type { Identity } from './types.ts';

test('parseServiceAccount', () => {
  const rows: [string, ReturnType<typeof parseServiceAccount>][] = [
    ['system:serviceaccount:ml:trainer', { namespace: 'ml', name: 'trainer' }],
    ['system:serviceaccount:ml', null],
    ['system:serviceaccount::trainer', null],
    ['system:serviceaccount:ml:', null],
    ['system:serviceaccount:ml:a:b', null],
    ['alice@example.com', null],
    ['system:serviceaccounts:ml', null],
  ];
  for (const [user, want] of rows) assert.deepStrictEqual(parseServiceAccount(user), want, user);
});

test('a ServiceAccount identity carries the Kubernetes implicit groups', () => {
  assert.deepStrictEqual(makeIdentity('system:serviceaccount:ml:trainer', ['extra']).groups, [
    'extra',
    'system:serviceaccounts',
    'system:serviceaccounts:ml',
    'system:authenticated',
  ]);
  assert.deepStrictEqual(makeIdentity('alice@example.com', ['dba']).groups, ['dba', 'system:authenticated']);
});

test('subjectMatches', () => {
  const sa: Identity = { user: 'system:serviceaccount:ml:trainer', groups: [] }; // built by hand: implicit groups still count
  const alice = makeIdentity('alice@example.com', ['data-oncall']);
  const rows: [string, Parameters<typeof subjectMatches>[0], typeof sa, boolean, string?][] = [
    ['SA by namespace and name', { kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' }, sa, true],
    ['SA other namespace', { kind: 'ServiceAccount', name: 'trainer', namespace: 'prod' }, sa, false],
    ['SA without namespace takes the policy namespace', { kind: 'ServiceAccount', name: 'trainer' }, sa, true, 'ml'],
    ['SA without any namespace never matches', { kind: 'ServiceAccount', name: 'trainer' }, sa, false],
    [
      'SA subject does not match a User',
      { kind: 'ServiceAccount', name: 'alice@example.com', namespace: 'ml' },
      alice,
      false,
    ],
    ['User exact', { kind: 'User', name: 'alice@example.com' }, alice, true],
    ['User is not a prefix match', { kind: 'User', name: 'alice' }, alice, false],
    ['User naming the SA user string', { kind: 'User', name: 'system:serviceaccount:ml:trainer' }, sa, true],
    ['Group from identity', { kind: 'Group', name: 'data-oncall' }, alice, true],
    ['Group not held', { kind: 'Group', name: 'dba' }, alice, false],
    ['SA in system:serviceaccounts', { kind: 'Group', name: 'system:serviceaccounts' }, sa, true],
    ['SA in system:serviceaccounts:NS', { kind: 'Group', name: 'system:serviceaccounts:ml' }, sa, true],
    ['SA not in another namespace group', { kind: 'Group', name: 'system:serviceaccounts:prod' }, sa, false],
    ['User not in system:serviceaccounts', { kind: 'Group', name: 'system:serviceaccounts' }, alice, false],
    ['everyone is system:authenticated', { kind: 'Group', name: 'system:authenticated' }, alice, true],
    ['unknown kind never matches', { kind: 'Robot' as 'User', name: 'alice@example.com' }, alice, false],
  ];
  for (const [name, subject, who, want, ns] of rows) assert.equal(subjectMatches(subject, who, ns), want, name);
});

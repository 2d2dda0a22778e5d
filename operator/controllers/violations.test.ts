import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_STATEMENT_CHARS, acceptedRules, mergeViolations, parseReport } from './violations.ts';
import type { PendingDelta } from './violations.ts';

const policy = {
  spec: {
    mode: 'observe',
    subjects: [],
    databases: ['orders'],
    rules: [
      { name: 'read', effect: 'allow', operations: ['SELECT'] },
      { name: 'no-items', effect: 'deny', operations: ['SELECT'] },
    ],
    guardrails: { blockUnfilteredWrites: true },
  },
} as never;
const d = (count: number, lastStatement: string, lastSeenMs: number): PendingDelta => ({
  count,
  lastStatement,
  lastSeenMs,
});

test("accepted rules: the policy's rules, the default deny, and a guardrail it sets", () => {
  assert.deepEqual([...acceptedRules(policy)].sort(), [
    '(default deny)',
    'guardrails.blockUnfilteredWrites',
    'no-items',
    'read',
  ]);
});

test('deltas add to the status; the newer example wins; unknown rules are left out and named', () => {
  const existing = [{ rule: 'no-items', count: 5, lastStatement: 'SELECT $1', lastSeen: '2026-01-01T00:00:10.000Z' }];
  const deltas = new Map([
    ['no-items', d(3, 'SELECT id FROM items WHERE id = $1', Date.parse('2026-01-01T00:00:20.000Z'))],
    ['(default deny)', d(1, 'DELETE FROM items WHERE id = $1', Date.parse('2026-01-01T00:00:05.000Z'))],
    ['made-up', d(7, 'x', 1)],
  ]);
  const got = mergeViolations(existing, deltas, acceptedRules(policy));
  assert.deepEqual(got.violations, [
    {
      rule: '(default deny)',
      count: 1,
      lastStatement: 'DELETE FROM items WHERE id = $1',
      lastSeen: '2026-01-01T00:00:05.000Z',
    },
    {
      rule: 'no-items',
      count: 8,
      lastStatement: 'SELECT id FROM items WHERE id = $1',
      lastSeen: '2026-01-01T00:00:20.000Z',
    },
  ]);
  assert.deepEqual(got.ignored, ['made-up']);
  assert.equal(got.changed, true);
});

test('an older delta adds its count but keeps the stored example', () => {
  const existing = [{ rule: 'read', count: 1, lastStatement: 'newer', lastSeen: '2026-01-01T00:01:00.000Z' }];
  const got = mergeViolations(
    existing,
    new Map([['read', d(2, 'older', Date.parse('2026-01-01T00:00:00.000Z'))]]),
    acceptedRules(policy),
  );
  assert.deepEqual(got.violations, [
    { rule: 'read', count: 3, lastStatement: 'newer', lastSeen: '2026-01-01T00:01:00.000Z' },
  ]);
});

test('only unknown rules: nothing changes', () => {
  const got = mergeViolations(undefined, new Map([['made-up', d(1, 'x', 1)]]), acceptedRules(policy));
  assert.deepEqual(got, { violations: [], ignored: ['made-up'], changed: false });
});

test("parseReport keeps the binding namespace's policies, bounds texts and distrusts clocks and counts", () => {
  const now = Date.parse('2026-01-01T00:00:00.000Z');
  const { byPolicy, refused } = parseReport(
    { namespace: 'ml', name: 'orders' },
    {
      namespace: 'ml',
      binding: 'orders',
      violations: [
        {
          policy: 'ml/trainer',
          rule: 'no-items',
          count: '2',
          lastStatement: `SELECT\n${'x'.repeat(3000)}`,
          lastSeenMs: String(now - 1000),
        },
        {
          policy: 'ml/trainer',
          rule: 'no-items',
          count: '1',
          lastStatement: 'SELECT $1',
          lastSeenMs: String(now + 3_600_000),
        },
        { policy: 'other/trainer', rule: 'no-items', count: '1', lastStatement: 'x', lastSeenMs: '1' },
        { policy: 'trainer', rule: 'no-items', count: '1', lastStatement: 'x', lastSeenMs: '1' },
        { policy: 'ml/trainer', rule: 'read', count: '0', lastStatement: 'x', lastSeenMs: '1' },
        { policy: 'ml/trainer', rule: 'read', count: '-4', lastStatement: 'x', lastSeenMs: '1' },
      ],
    },
    now,
  );
  assert.deepEqual(refused, ['other/trainer', 'trainer']);
  assert.deepEqual([...byPolicy.keys()], ['trainer']);
  const e = byPolicy.get('trainer')!.get('no-items')!;
  assert.equal(e.count, 3);
  assert.equal(e.lastSeenMs, now, 'a lastSeen an hour ahead is replaced by now (and is the newest)');
  assert.equal(e.lastStatement, 'SELECT $1');
  assert.equal(byPolicy.get('trainer')!.has('read'), false);
  const first = parseReport(
    { namespace: 'ml', name: 'orders' },
    {
      namespace: 'ml',
      binding: 'orders',
      violations: [{ policy: 'ml/p', rule: 'r', count: '1', lastStatement: `A\n${'x'.repeat(3000)}`, lastSeenMs: '5' }],
    },
    now,
  )
    .byPolicy.get('p')!
    .get('r')!;
  assert.equal(first.lastStatement.length, MAX_STATEMENT_CHARS);
  assert.ok(first.lastStatement.startsWith('A x'));
});

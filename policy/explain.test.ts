// Offline explanations (explain.ts) with the real analyzer: one row per way a verdict or a masking
// summary comes about. The CLI around them is tested in test/cli/policy.test.ts.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { analyze } from './analyze/analyze.ts';
import { initAnalyzer } from './analyze/testing-parser.ts';
import { mismatches, parseCases } from './cases.ts';
import { explain, offlineContext } from './explain.ts';
import { makeIdentity } from './identity.ts';
import type { AccessPolicy, AccessPolicySpec } from './types.ts';

const policy = (name: string, spec: Partial<AccessPolicySpec>): AccessPolicy => ({
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name, namespace: 'ml' },
  spec: {
    subjects: [{ kind: 'ServiceAccount', name: 'trainer', namespace: 'ml' }],
    databases: ['orders'],
    rules: [],
    ...spec,
  },
});
const POLICIES = [
  policy('read', {
    rules: [
      { name: 'read-app', effect: 'allow', operations: ['SELECT', 'COPY_TO'], tables: ['public.*'] },
      { name: 'fix', effect: 'approve', operations: ['UPDATE'], tables: ['public.orders'] },
      { name: 'no-drop', effect: 'deny', operations: ['DROP'] },
    ],
    masking: [
      { columns: ['public.customers.email'], strategy: 'partial' },
      { columns: ['public.customers.ssn'], strategy: 'redact' },
    ],
  }),
  policy('staged', {
    mode: 'warn',
    rules: [{ name: 'no-orders', effect: 'deny', operations: ['SELECT'], tables: ['public.orders'] }],
  }),
];
const x = (sql: string, user = 'system:serviceaccount:ml:trainer') =>
  explain(POLICIES, offlineContext(makeIdentity(user), 'orders'), analyze(sql));

before(() => initAnalyzer());

const rows: [
  string,
  string,
  { decision: string; policy?: string | null; rule?: string | null },
  Record<string, string>,
][] = [
  [
    'masked columns by name',
    'SELECT name, email FROM customers',
    { decision: 'allow', policy: 'ml/read', rule: 'read-app' },
    { 'public.customers.email': 'partial' },
  ],
  [
    'star: every masked column of the relation',
    'SELECT * FROM customers',
    { decision: 'allow' },
    { 'public.customers.email': 'partial', 'public.customers.ssn': 'redact' },
  ],
  [
    'whole row',
    'SELECT c FROM customers c',
    { decision: 'allow' },
    { 'public.customers.email': 'redact', 'public.customers.ssn': 'redact' },
  ],
  [
    'computed from partial is redact',
    "SELECT split_part(email, '@', 2) FROM customers",
    { decision: 'allow' },
    { 'public.customers.email': 'redact' },
  ],
  [
    'first denial of a string wins',
    'SELECT 1; DROP TABLE customers; UPDATE orders SET id = 1 WHERE id = 2',
    { decision: 'deny', policy: 'ml/read', rule: 'no-drop' },
    {},
  ],
  [
    'approve when nothing denies',
    'SELECT 1; UPDATE orders SET id = 1 WHERE id = 2',
    { decision: 'approve', policy: 'ml/read', rule: 'fix' },
    {},
  ],
  [
    'warn from a staged policy',
    'SELECT id FROM orders',
    { decision: 'warn', policy: 'ml/staged', rule: 'no-orders' },
    {},
  ],
  // Refused as a whole; the summary still says which masked columns made it so.
  [
    'binary COPY of a masked table is refused',
    'COPY customers TO STDOUT (FORMAT binary)',
    { decision: 'deny', policy: null },
    { 'public.customers.email': 'partial', 'public.customers.ssn': 'redact' },
  ],
  ['EXECUTE of nothing prepared', 'EXECUTE p', { decision: 'deny', policy: null }, {}],
  ['not SQL', 'SELEC 1', { decision: 'deny', policy: null }, {}],
  ['nobody', 'SELECT 1', { decision: 'deny', policy: null }, {}],
];
for (const [name, sql, want, masked] of rows) {
  test(`explain: ${name}`, () => {
    const e = x(sql, name === 'nobody' ? 'mallory@example.com' : undefined);
    assert.equal(e.verdict.decision, want.decision, JSON.stringify(e.verdict));
    if (want.policy !== undefined) assert.equal(e.verdict.policy, want.policy);
    if (want.rule !== undefined) assert.equal(e.verdict.rule, want.rule);
    assert.deepEqual(e.masked, masked);
  });
}

test('explain: each pair lists every matching rule (deny, approve, allow) and the outcome per resolved name', () => {
  const e = x('UPDATE orders SET id = 1 WHERE id = 2');
  const [pair] = e.statements[0]!.pairs;
  assert.equal(pair!.written, 'orders');
  assert.deepEqual(
    pair!.candidates.map((c) => [c.object, c.outcome, c.matches.map((m) => `${m.effect}:${m.rule}`)]),
    [['public.orders', 'approve', ['approve:fix']]],
  );
  const d = x('SELECT now(), email FROM customers');
  assert.deepEqual(
    d.statements[0]!.pairs.map((p) => `${p.operation} ${p.candidates[0]!.object} ${p.candidates[0]!.outcome}`),
    ['SELECT public.customers allow', 'CALL pg_catalog.now allow'],
  );
  assert.deepEqual(
    d.statements[0]!.outputs.map((o) => [o.source, o.strategy]),
    [
      ['computed (no column)', null],
      ['customers.email', 'partial'],
    ],
  );
});

test('cases: parsed with defaults; mismatches name each difference', () => {
  const r = parseCases(
    'defaults: { identity: a, database: orders }\ncases:\n  - { name: one, sql: SELECT 1, expect: { decision: allow, masked: {} } }\n',
    'c.yaml',
  );
  assert.ok(r.ok);
  assert.deepEqual(
    [r.cases[0]!.identity, r.cases[0]!.database, r.cases[0]!.searchPath, r.cases[0]!.at],
    ['a', 'orders', ['public'], 'c.yaml:3:5'],
  );
  const e = x('SELECT email FROM customers');
  assert.deepEqual(
    mismatches({ decision: 'allow', rule: 'read-app', masked: { 'public.customers.email': 'partial' } }, e),
    [],
  );
  assert.deepEqual(
    mismatches(
      {
        decision: 'deny',
        policy: 'ml/other',
        rule: 'x',
        reasonContains: 'nope',
        masked: { 'public.customers.ssn': 'redact' },
      },
      e,
    ),
    [
      'decision: expected deny, got allow by ml/read rule "read-app"',
      'policy: expected ml/other, got ml/read',
      'rule: expected "x", got "read-app"',
      'reason: expected it to contain "nope", got ""',
      'masked: expected public.customers.ssn masked with redact, but it is not masked',
      'masked: public.customers.email is masked with partial, which the case does not expect',
    ],
  );
});

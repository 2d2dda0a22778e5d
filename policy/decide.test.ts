// Decision table (style.md §9): one row per case, StatementFacts written by hand (the analyzer is
// tested on its own; here the facts are the input). This file: rules and their effects, subjects and
// databases, what is not understood, guardrails, modes, the compiled set and what a denial names. The
// other topics are beside it (decide-catalog, decide-session, decide-mask, decide-notify); the fixtures
// are in testing-decide.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile } from './compile.ts';
import { DEFAULT_DENY_RULE, UNFILTERED_WRITE_RULE } from './decide.ts';
import type { Decision, Grant } from './types.ts';
import {
  TRAINER,
  WARN_ONLY_CUSTOMERS,
  acc,
  allow,
  check,
  denyBy,
  effect,
  facts,
  noRule,
  policy,
  run,
  select,
} from './testing-decide.ts';
import type { Case } from './testing-decide.ts';

const WARN_DENY = policy('staging', {
  mode: 'warn',
  rules: [
    { name: 'no-orders-read', effect: 'deny', operations: ['SELECT'], tables: ['public.orders'] },
    { name: 'read-public', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] },
  ],
});
const OBSERVE_DENY = policy('watch', {
  mode: 'observe',
  rules: [
    { name: 'no-orders-read', effect: 'deny', operations: ['SELECT'], tables: ['public.orders'] },
    { name: 'read-public', effect: 'allow', operations: ['SELECT'], tables: ['public.*'] },
  ],
});
const ORDERS_GRANT: Grant = {
  request: 'ml/del-1',
  statement: null,
  expiresAtMs: 0,
  rules: [{ name: 'jit', effect: 'allow', operations: ['DELETE'], tables: ['public.orders'], functions: null }],
};
const GROUP_POLICY = policy('oncall', {
  subjects: [{ kind: 'Group', name: 'data-oncall' }],
  rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.orders'] }],
});
const SA_NS_POLICY = policy('ns-wide', {
  subjects: [{ kind: 'Group', name: 'system:serviceaccounts:ml' }],
  rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'], tables: ['public.orders'] }],
});
const STRICT_ROWS = policy('strict', {
  rules: [{ name: 'any', effect: 'allow', operations: ['SELECT'] }],
  guardrails: { maxAffectedRows: 10 },
});
const ALL_DBS = policy('everywhere', {
  databases: ['*'],
  rules: [{ name: 'read', effect: 'allow', operations: ['SELECT'] }],
});

const cases: Case[] = [
  // allow / deny / approve
  ['select on an allowed table', select('public.orders'), allow('read-app-tables')],
  ['unqualified name resolved via search_path', select('orders'), allow('read-app-tables')],
  [
    'insert on the write table',
    facts({ accesses: [acc('INSERT', 'public.orders')], writes: true }),
    allow('write-orders'),
  ],
  [
    'insert elsewhere is default-denied',
    facts({ accesses: [acc('INSERT', 'public.customers')] }),
    noRule('no rule allows INSERT on public.customers'),
  ],
  [
    'deny rule without tables covers every relation',
    facts({ accesses: [acc('DROP', 'public.orders')] }),
    denyBy('ml/trainer', 'no-destructive', 'DROP on public.orders is denied by rule "no-destructive"'),
  ],
  [
    'TRUNCATE hidden after a SELECT: deny wins',
    facts({ accesses: [acc('SELECT', 'public.orders'), acc('TRUNCATE', 'public.orders')] }),
    denyBy('ml/trainer', 'no-destructive', 'TRUNCATE on public.orders is denied by rule "no-destructive"'),
  ],
  [
    'DELETE hidden in a CTE of a SELECT',
    facts({ accesses: [acc('SELECT', 'public.orders'), acc('DELETE', 'public.customers')] }),
    noRule('no rule allows DELETE on public.customers'),
  ],
  [
    'approve rule without a grant',
    facts({ accesses: [acc('DELETE', 'public.orders')], writes: true }),
    { verdict: 'approve', policy: 'ml/trainer', rule: 'approve-deletes', holdTimeoutMs: 30_000 },
  ],
  [
    'approve rule with a covering rule grant',
    facts({ accesses: [acc('DELETE', 'public.orders')], writes: true }),
    { ...allow('approve-deletes'), grant: 'ml/del-1' },
    { grants: [ORDERS_GRANT] },
  ],
  [
    'approve rule with a statement grant and matching text',
    facts({ accesses: [acc('DELETE', 'public.orders')] }),
    { ...allow('approve-deletes'), grant: 'ml/r' },
    {
      grants: [{ request: 'ml/r', rules: null, statement: 'DELETE FROM orders WHERE id = $1', expiresAtMs: 0 }],
      text: 'DELETE FROM orders WHERE id = $1',
    },
  ],
  [
    'statement grant for another statement does not cover',
    facts({ accesses: [acc('DELETE', 'public.orders')] }),
    { verdict: 'approve', rule: 'approve-deletes' },
    {
      grants: [{ request: 'ml/r', rules: null, statement: 'DELETE FROM orders WHERE id = 1', expiresAtMs: 0 }],
      text: 'DELETE FROM orders',
    },
  ],
  [
    'a grant never overrides a deny rule',
    facts({ accesses: [acc('DROP', 'public.orders')] }),
    { verdict: 'deny', rule: 'no-destructive' },
    {
      grants: [
        {
          ...ORDERS_GRANT,
          rules: [{ name: 'x', effect: 'allow', operations: ['DROP'], tables: null, functions: null }],
        },
      ],
    },
  ],
  ['other schema is default-denied', select('secret.keys'), noRule('no rule allows SELECT on secret.keys')],
  ['ALL in a rule matches DDL', facts({ accesses: [acc('DDL', 'scratch.tmp')] }), allow('scratch')],
  [
    'ALL in a rule matches DELETE (guardrail aside)',
    facts({ accesses: [acc('DELETE', 'scratch.tmp')], writes: true }),
    allow('scratch'),
  ],
  [
    'deny rule in one policy beats allow in another',
    select('public.orders'),
    denyBy('ml/lockdown', 'no-orders', 'SELECT on public.orders is denied by rule "no-orders"'),
    {
      policies: [
        TRAINER,
        policy('lockdown', {
          rules: [{ name: 'no-orders', effect: 'deny', operations: ['ALL'], tables: ['public.orders'] }],
        }),
      ],
    },
  ],
  // subjects and databases
  [
    'unknown subject',
    select('public.orders'),
    noRule('no AccessPolicy matches subject system:serviceaccount:ml:other for database orders'),
    { user: 'system:serviceaccount:ml:other' },
  ],
  [
    'same name in another namespace is another ServiceAccount',
    select('public.orders'),
    { verdict: 'deny', policy: null },
    { user: 'system:serviceaccount:prod:trainer' },
  ],
  [
    'policy for another database does not apply',
    select('public.orders'),
    noRule('no AccessPolicy matches subject system:serviceaccount:ml:trainer for database billing'),
    { database: 'billing' },
  ],
  [
    'databases "*" applies to every binding',
    select('public.orders'),
    allow('read', 'ml/everywhere'),
    { policies: [ALL_DBS], database: 'billing' },
  ],
  ['User subject by exact name', select('public.orders'), allow('read-app-tables'), { user: 'alice@example.com' }],
  [
    'User subject is case-sensitive',
    select('public.orders'),
    { verdict: 'deny', policy: null },
    { user: 'Alice@example.com' },
  ],
  [
    'Group subject via identity groups',
    select('public.orders'),
    allow('read', 'ml/oncall'),
    { policies: [GROUP_POLICY], user: 'bob@example.com', groups: ['data-oncall'] },
  ],
  [
    'Group subject without the group',
    select('public.orders'),
    { verdict: 'deny', policy: null },
    { policies: [GROUP_POLICY], user: 'bob@example.com', groups: ['other'] },
  ],
  [
    'ServiceAccount is in system:serviceaccounts:NS',
    select('public.orders'),
    allow('read', 'ml/ns-wide'),
    { policies: [SA_NS_POLICY], user: 'system:serviceaccount:ml:etl' },
  ],
  [
    'ServiceAccount of another namespace is not',
    select('public.orders'),
    { verdict: 'deny', policy: null },
    { policies: [SA_NS_POLICY], user: 'system:serviceaccount:prod:etl' },
  ],
  // not understood
  [
    'unsupported statement is denied whatever the policy',
    facts({ accesses: [acc('SELECT', 'public.orders')], unsupported: ['unknown statement CreateForeignServerStmt'] }),
    noRule('unknown statement CreateForeignServerStmt'),
  ],
  [
    'unsupported is denied in observe mode too',
    facts({ unsupported: ['could not parse: syntax error at or near "SELEC"'] }),
    noRule('could not parse: syntax error at or near "SELEC"'),
    { policies: [OBSERVE_DENY] },
  ],
  // guardrails
  [
    'UPDATE without WHERE',
    facts({ command: 'UPDATE', accesses: [acc('UPDATE', 'public.orders')], unfilteredWrite: true, writes: true }),
    denyBy(
      'ml/trainer',
      UNFILTERED_WRITE_RULE,
      'UPDATE without a WHERE clause is blocked by guardrails.blockUnfilteredWrites; add a WHERE clause naming the rows to change',
    ),
  ],
  [
    'maxAffectedRows from the policy',
    facts({ accesses: [acc('UPDATE', 'public.orders')], writes: true }),
    { ...allow('write-orders'), maxAffectedRows: { maxAffectedRows: 1000, policy: 'ml/trainer' } },
  ],
  [
    'the smallest maxAffectedRows wins',
    facts({ accesses: [acc('UPDATE', 'public.orders')], writes: true }),
    { verdict: 'allow', maxAffectedRows: { maxAffectedRows: 10, policy: 'ml/strict' } },
    { policies: [TRAINER, STRICT_ROWS] },
  ],
  // modes
  [
    'warn policy alone: warn with wouldDeny',
    select('public.orders'),
    {
      verdict: 'warn',
      policy: 'ml/staging',
      rule: 'no-orders-read',
      wouldDeny: [
        {
          policy: 'ml/staging',
          rule: 'no-orders-read',
          reason: 'SELECT on public.orders is denied by rule "no-orders-read"',
        },
      ],
    },
    { policies: [WARN_DENY] },
  ],
  [
    'observe policy alone: allow with wouldDeny',
    select('public.orders'),
    {
      verdict: 'allow',
      policy: 'ml/watch',
      rule: 'no-orders-read',
      wouldDeny: [
        {
          policy: 'ml/watch',
          rule: 'no-orders-read',
          reason: 'SELECT on public.orders is denied by rule "no-orders-read"',
        },
      ],
    },
    { policies: [OBSERVE_DENY] },
  ],
  [
    'warn policy default deny: every staged policy counts it',
    select('secret.keys'),
    {
      verdict: 'warn',
      rule: DEFAULT_DENY_RULE,
      wouldDeny: [{ policy: 'ml/staging', rule: null, reason: 'no rule allows SELECT on secret.keys' }],
    },
    { policies: [WARN_DENY] },
  ],
  [
    'enforce allows, warn denies: warn',
    select('public.orders'),
    { verdict: 'warn', policy: 'ml/staging', rule: 'no-orders-read' },
    { policies: [TRAINER, WARN_DENY] },
  ],
  [
    'enforce allows, observe denies: allow, counted',
    select('public.orders'),
    {
      verdict: 'allow',
      policy: 'ml/watch',
      wouldDeny: [
        {
          policy: 'ml/watch',
          rule: 'no-orders-read',
          reason: 'SELECT on public.orders is denied by rule "no-orders-read"',
        },
      ],
    },
    { policies: [TRAINER, OBSERVE_DENY] },
  ],
  [
    'enforce denies, warn allows: deny',
    select('secret.keys'),
    noRule('no rule allows SELECT on secret.keys'),
    {
      policies: [
        TRAINER,
        policy('more', { mode: 'warn', rules: [{ name: 'all', effect: 'allow', operations: ['ALL'] }] }),
      ],
    },
  ],
  [
    'an allow staged in warn mode grants nothing',
    select('public.customers'),
    { verdict: 'deny' },
    {
      policies: [
        policy('base', { rules: [{ name: 'r', effect: 'allow', operations: ['SELECT'], tables: ['public.orders'] }] }),
        WARN_ONLY_CUSTOMERS,
      ],
    },
  ],
  [
    'enforce and warn both allow: allow, nothing counted',
    select('public.orders'),
    { ...allow('read-app-tables'), wouldDeny: [] },
    { policies: [TRAINER, WARN_ONLY_CUSTOMERS] },
  ],
  [
    'warn approve rule without a grant: warn',
    facts({ accesses: [acc('DELETE', 'public.orders')] }),
    {
      verdict: 'warn',
      rule: 'later',
      wouldDeny: [
        {
          policy: 'ml/stage-approve',
          rule: 'later',
          reason: 'ml/stage-approve rule "later" requires an approved AccessRequest',
        },
      ],
    },
    {
      policies: [
        policy('stage-approve', {
          mode: 'warn',
          rules: [{ name: 'later', effect: 'approve', operations: ['DELETE'] }],
        }),
      ],
    },
  ],
];

for (const [name, stmt, want, opts] of cases) test(name, () => check(run(stmt, opts), want));

test('the table has at least 40 rows', () => assert.ok(cases.length >= 40, `${cases.length}`));

test('the compiled set is plain JSON', () => {
  const set = compile([TRAINER, WARN_DENY], 3);
  assert.deepStrictEqual(JSON.parse(JSON.stringify(set)), set);
  const p = set.policies[0];
  assert.equal(p?.name, 'ml/trainer');
  assert.deepStrictEqual(p?.rules.find((r) => r.name === 'scratch')?.operations.length, 13);
  assert.equal(p?.approval?.holdTimeoutMs, 30_000);
  assert.deepStrictEqual(p?.masking, {
    'public.customers.email': 'partial',
    'public.customers.ssn': 'redact',
    'public.customers.phone': 'hash',
  });
});

test('compile refuses an invalid policy with every issue', () => {
  const bad = policy('bad', {
    rules: [{ name: 'x', effect: 'allow', operations: ['DELTE' as 'DELETE'], tables: ['orders'] }],
  });
  assert.throws(
    () => compile([bad], 1),
    (e: Error) =>
      e.message.includes('AccessPolicy ml/bad: spec.rules[0].operations[0]: unknown operation "DELTE"')
      && e.message.includes('spec.rules[0].tables[0]: "orders" is not a schema.table glob'),
  );
});

test('a denial names the denied pair, qualified as it resolved, or the session change (issue 12)', () => {
  const what = (d: Decision): string | undefined => (d.verdict === 'deny' ? d.what : undefined);
  // the first access is allowed; the denied one is named, with its search_path schema
  assert.equal(what(run(facts({ accesses: [acc('SELECT', 'public.orders'), acc('DDL', 'x')] }))), 'DDL on public.x');
  assert.equal(
    what(run(facts({ accesses: [acc('CALL', 'now', 'function'), acc('CALL', 'pg_read_file', 'function')] }))),
    'CALL of function pg_catalog.pg_read_file',
  );
  assert.equal(
    what(
      run(
        facts({
          accesses: [acc('CALL', 'set_config', 'function')],
          effects: [{ kind: 'set', name: 'Search_Path', local: false, value: 'x' }],
        }),
      ),
    ),
    'SET search_path',
  );
  assert.equal(what(run(effect({ kind: 'reset', name: 'search_path' }, 'RESET'))), 'RESET search_path');
  // about the statement as a whole: nothing named, the proxy says which statement
  assert.equal(
    what(run(facts({ accesses: [acc('SELECT', 'public.orders')], unsupported: ['x is not supported'] }))),
    undefined,
  );
});

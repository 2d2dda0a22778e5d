// Decision table (style.md §9), functions, catalog objects and name resolution: which functions and
// catalog relations need no rule, which need naming exactly, search_path resolution, security_invoker
// views. The fixtures are in testing-decide.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IMPLICIT_RULE_NAME } from './decide.ts';
import { buildInvokerViews } from './invoker.ts';
import type { StatementFacts } from './types.ts';
import { acc, allow, check, facts, noRule, policy, run, select } from './testing-decide.ts';
import type { Case, Opts, Want } from './testing-decide.ts';

const READ_FILE = policy('ops', {
  rules: [{ name: 'read-logs', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.pg_read_file'] }],
});
const READ_ALL_FNS = policy('ops', {
  rules: [{ name: 'all-catalog', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.*', '*'] }],
});

const cases: Case[] = [
  // functions
  [
    'pg_catalog function needs no rule',
    facts({ accesses: [acc('CALL', 'now', 'function')] }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'server file read',
    facts({ accesses: [acc('CALL', 'pg_read_file', 'function')] }),
    noRule(
      'pg_catalog.pg_read_file is a server filesystem function; it is allowed only by a rule whose functions lists "pg_catalog.pg_read_file" exactly',
    ),
  ],
  [
    'server file read named exactly',
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_read_file', 'function')] }),
    allow('read-logs', 'ml/ops'),
    { policies: [READ_FILE] },
  ],
  [
    'server file read unqualified, named exactly',
    facts({ accesses: [acc('CALL', 'pg_read_file', 'function')] }),
    allow('read-logs', 'ml/ops'),
    { policies: [READ_FILE] },
  ],
  [
    'a glob never allows a dangerous function',
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_sleep', 'function')] }),
    noRule(
      'pg_catalog.pg_sleep is a sleep function; it is allowed only by a rule whose functions lists "pg_catalog.pg_sleep" exactly',
    ),
    { policies: [READ_ALL_FNS] },
  ],
  [
    'dblink in an extension schema',
    facts({ accesses: [acc('CALL', 'public.dblink_exec', 'function')] }),
    noRule(
      'public.dblink_exec is a network function (dblink); it is allowed only by a rule whose functions lists "public.dblink_exec" exactly',
    ),
  ],
  // issue 12: set_config(name, …) is decided as SET name (its effect), not as a dangerous function
  [
    'set_config of a harmless setting needs no rule (asyncpg turns jit off)',
    facts({
      accesses: [acc('CALL', 'set_config', 'function')],
      effects: [{ kind: 'set', name: 'jit', local: false, value: 'off' }],
    }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'set_config of search_path is denied as SET search_path is',
    facts({
      accesses: [acc('CALL', 'set_config', 'function')],
      effects: [{ kind: 'set', name: 'search_path', local: false, value: 'evil' }],
    }),
    noRule(
      'changing search_path is not allowed through Airlock: unqualified names are resolved against the search_path the proxy knows; changing it could reach relations the policy does not allow',
    ),
  ],
  [
    'user function allowed by a functions glob',
    facts({ accesses: [acc('CALL', 'public.calc_tax', 'function')] }),
    allow('call-calc'),
  ],
  [
    'user function without a rule',
    facts({ accesses: [acc('CALL', 'public.wipe', 'function')] }),
    noRule('no rule allows CALL on public.wipe'),
  ],
  [
    'unqualified user function resolved via search_path',
    facts({ accesses: [acc('CALL', 'calc_total', 'function')] }),
    allow('call-calc'),
  ],
  // catalog and name resolution
  ['catalog read needs no rule', select('pg_class'), allow(IMPLICIT_RULE_NAME)],
  ['information_schema read needs no rule', select('information_schema.tables'), allow(IMPLICIT_RULE_NAME)],
  [
    'information_schema helper function needs no rule',
    facts({ accesses: [acc('CALL', 'information_schema._pg_expandarray', 'function')] }),
    allow(IMPLICIT_RULE_NAME),
  ],
  [
    'writing a catalog relation needs a rule',
    facts({ accesses: [acc('UPDATE', 'pg_catalog.pg_class')] }),
    noRule('no rule allows UPDATE on pg_catalog.pg_class'),
  ],
  [
    'pg_stats needs exact naming (it leaks column values)',
    select('pg_stats'),
    noRule(
      'pg_catalog.pg_stats exposes data beyond table privileges (column statistics, other sessions\' statements or credentials); SELECT on it needs a rule whose tables lists "pg_catalog.pg_stats" exactly',
    ),
  ],
  // Found by the privilege oracle (test/oracle): catalog objects PUBLIC may not use, allowed before as built-ins.
  [
    'pg_hba_file_rules() is a server internals function',
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_hba_file_rules', 'function')] }),
    noRule(
      'pg_catalog.pg_hba_file_rules is a server internals function; it is allowed only by a rule whose functions lists "pg_catalog.pg_hba_file_rules" exactly',
    ),
  ],
  [
    'pg_current_logfile() is a server internals function',
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_current_logfile', 'function')] }),
    { verdict: 'deny', rule: null },
  ],
  [
    'pg_nextoid() checks for a superuser at run time: dangerous',
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_nextoid', 'function')] }),
    { verdict: 'deny', rule: null },
  ],
  [
    "pg_stat_get_activity() shows every session's statements to a superuser",
    facts({ accesses: [acc('CALL', 'pg_catalog.pg_stat_get_activity', 'function')] }),
    { verdict: 'deny', rule: null },
  ],
  [
    'pg_config needs exact naming (PUBLIC may not read it)',
    select('pg_catalog.pg_config'),
    { verdict: 'deny', rule: null },
  ],
  [
    'pg_shmem_allocations needs exact naming',
    select('pg_catalog.pg_shmem_allocations'),
    { verdict: 'deny', rule: null },
  ],
  [
    'information_schema._pg_user_mappings needs exact naming (user mapping passwords)',
    select('information_schema._pg_user_mappings'),
    noRule(
      'information_schema._pg_user_mappings exposes data beyond table privileges (column statistics, other sessions\' statements or credentials); SELECT on it needs a rule whose tables lists "information_schema._pg_user_mappings" exactly',
    ),
  ],
  [
    'information_schema.user_mapping_options needs exact naming',
    select('information_schema.user_mapping_options'),
    { verdict: 'deny', rule: null },
  ],
  [
    'every search_path candidate must be allowed',
    select('orders'),
    noRule('no rule allows SELECT on orders (as app.orders via search_path)'),
    { searchPath: ['app', 'public'] },
  ],
  [
    'empty search_path cannot resolve',
    select('orders'),
    noRule('cannot resolve unqualified relation orders for SELECT: the search_path has no existing schema'),
    { searchPath: [] },
  ],
];

for (const [name, stmt, want, opts] of cases) test(name, () => check(run(stmt, opts), want));

// Regression (found by the proxy's disguise corpus): the analyzer reports `DO $$…$$` as CALL of
// pg_catalog.do, and built-in pg_catalog functions need no rule — so a DO block was allowed.
test('a DO block is denied unless a rule names pg_catalog.do exactly', () => {
  const doBlock = facts({ tag: 'DoStmt', command: 'DO', accesses: [acc('CALL', 'pg_catalog.do', 'function')] });
  const d = run(doBlock);
  assert.equal(d.verdict, 'deny');
  if (d.verdict === 'deny') assert.match(d.reason, /anonymous code block \(DO\).*pg_catalog\.do/);
  const glob = policy('glob', {
    rules: [{ name: 'all-fns', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.*'] }],
  });
  assert.equal(run(doBlock, { policies: [glob] }).verdict, 'deny');
  const named = policy('named', {
    rules: [{ name: 'do', effect: 'allow', operations: ['CALL'], functions: ['pg_catalog.do'] }],
  });
  assert.equal(run(doBlock, { policies: [named] }).verdict, 'allow');
});

test('security_invoker views: what the view reads is checked as the caller, as PostgreSQL does', () => {
  const VIEWER = policy('viewer', {
    rules: [
      { name: 'views', effect: 'allow', operations: ['SELECT'], tables: ['public.v_*'] },
      { name: 'orders', effect: 'allow', operations: ['SELECT', 'UPDATE'], tables: ['public.orders'] },
      {
        name: 'write-view',
        effect: 'allow',
        operations: ['UPDATE', 'INSERT', 'TRUNCATE'],
        tables: ['public.v_orders', 'public.v_secret'],
      },
    ],
  });
  const invoker = buildInvokerViews([
    { schema: 'public', name: 'v_secret', reads: [['private', 'secrets']] },
    { schema: 'public', name: 'v_orders', reads: [['public', 'orders']] },
    {
      schema: 'public',
      name: 'v_outer',
      reads: [
        ['public', 'v_secret'],
        ['public', 'orders'],
      ],
    },
  ]);
  // nested security_invoker views are followed; a relation read twice is listed once
  assert.deepEqual(invoker.reads.get('public\u0000v_outer'), [
    { schema: 'public', name: 'v_secret' },
    { schema: 'private', name: 'secrets' },
    { schema: 'public', name: 'orders' },
  ]);
  const o = { policies: [VIEWER], invoker };
  const rows: [string, StatementFacts, Opts, Want & { what?: string }][] = [
    [
      'a view whose base table no rule allows',
      select('public.v_secret'),
      o,
      {
        ...noRule(
          'no rule allows SELECT on private.secrets (read through the security_invoker view public.v_secret, whose reads PostgreSQL checks against the caller)',
        ),
        what: 'SELECT on private.secrets',
      },
    ],
    [
      'unqualified, through the search_path',
      select('v_secret'),
      o,
      { verdict: 'deny', what: 'SELECT on private.secrets' },
    ],
    [
      "nested: the inner view's base table",
      select('public.v_outer'),
      o,
      { verdict: 'deny', what: 'SELECT on private.secrets' },
    ],
    [
      'COPY (query) reads it too',
      facts({ accesses: [acc('COPY_TO', 'public.v_secret')] }),
      {
        ...o,
        policies: [
          policy('viewer', {
            rules: [{ name: 'copy', effect: 'allow', operations: ['COPY_TO'], tables: ['public.v_*'] }],
          }),
        ],
      },
      { verdict: 'deny', what: 'SELECT on private.secrets' },
    ],
    ['a base table a rule allows', select('public.v_orders'), o, allow('views', 'ml/viewer')],
    [
      'a write through the view is the same write on its base table',
      facts({ tag: 'UpdateStmt', command: 'UPDATE', writes: true, accesses: [acc('UPDATE', 'public.v_orders')] }),
      o,
      allow('write-view', 'ml/viewer'),
    ],
    [
      "…refused where the base table's write is not allowed",
      facts({ tag: 'InsertStmt', command: 'INSERT', writes: true, accesses: [acc('INSERT', 'public.v_orders')] }),
      o,
      { verdict: 'deny', what: 'INSERT on public.orders' },
    ],
    [
      'TRUNCATE implies nothing (PostgreSQL refuses it on a view)',
      facts({ tag: 'TruncateStmt', command: 'TRUNCATE', writes: true, accesses: [acc('TRUNCATE', 'public.v_secret')] }),
      o,
      allow('write-view', 'ml/viewer'),
    ],
    [
      'without the catalog fact the view alone decides (the hole this closes)',
      select('public.v_secret'),
      { policies: [VIEWER] },
      allow('views', 'ml/viewer'),
    ],
  ];
  for (const [name, f, opts, want] of rows) {
    const d = run(f, opts);
    const { what, ...rest } = want;
    check(d, rest);
    if (what !== undefined) assert.equal(d.verdict === 'deny' ? d.what : undefined, what, name);
  }
});

// Views, rule-rewritten tables and SQL functions over masked columns (issue 11, class 1): the catalog rows
// (as proxy/catalog.ts fetches them from PostgreSQL 15) → DerivedCatalog → what decide() masks.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from './analyze/analyze.ts';
import { initAnalyzer } from './analyze/testing-parser.ts';
import { buildDerivedCatalog } from './derived.ts';
import type { DerivedRow } from './derived.ts';
import { compile, selectFor } from './compile.ts';
import { decide } from './decide.ts';
import { makeIdentity } from './identity.ts';
import type { AccessPolicy, Decision, SessionContext } from './types.ts';

before(async () => {
  await initAnalyzer();
});

const r = (
  name: string,
  relkind: string,
  definition: string | null,
  columns: string[],
  reads: [string, string, string][] | null,
  oid = 100,
): DerivedRow => ({
  kind: 'r',
  oid,
  schema: 'public',
  name,
  relkind,
  definition,
  columns: columns.map((c, i) => [i + 1, c] as const),
  reads,
});
const f = (name: string, definition: string, reads: [string, string, string][] | null = null): DerivedRow => ({
  kind: 'f',
  oid: 900,
  schema: 'public',
  name,
  relkind: null,
  definition,
  columns: null,
  reads,
});
const CUSTOMERS: [string, string, string] = ['r', 'public', 'customers'];

// Definitions exactly as pg_get_viewdef prints them.
const ROWS: DerivedRow[] = [
  r(
    'v',
    'v',
    ' SELECT customers.id,\n    customers.ssn AS s,\n    lower(customers.email) AS e,\n    customers.email\n   FROM customers;',
    ['id', 's', 'e', 'email'],
    [CUSTOMERS],
    101,
  ),
  r('v2', 'v', ' SELECT v.id,\n    v.s,\n    v.e\n   FROM v;', ['id', 's', 'e'], [['r', 'public', 'v']], 102),
  r('mv', 'm', ' SELECT customers.id,\n    customers.ssn\n   FROM customers;', ['id', 'ssn'], [CUSTOMERS], 103),
  r(
    'vf',
    'v',
    ' SELECT f.id,\n    f.ssn\n   FROM f() f(id, name, email, ssn);',
    ['id', 'ssn'],
    [['f', 'public', 'f'], CUSTOMERS],
    104,
  ),
  r('vbad', 'v', 'this is not sql', ['a'], [CUSTOMERS], 105),
  r('log', 'r', null, ['x'], [CUSTOMERS], 106),
  r('vsafe', 'v', ' SELECT orders.id FROM orders;', ['id'], [['f', 'public', 'plain']], 107),
  f('f', 'SELECT * FROM customers'),
  f('g', '', [CUSTOMERS]),
  f('plain', 'SELECT 1'),
  f('h', 'SELECT g()'),
];

const POLICY: AccessPolicy = {
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name: 'p', namespace: 'ml' },
  spec: {
    subjects: [{ kind: 'User', name: 'u' }],
    databases: ['db'],
    rules: [{ name: 'all', effect: 'allow', operations: ['ALL'] }],
    masking: [
      { columns: ['public.customers.email'], strategy: 'partial' },
      { columns: ['public.customers.ssn'], strategy: 'null' },
    ],
  },
};

function run(sql: string, rows = ROWS): Decision {
  const identity = makeIdentity('u', []);
  const ctx: SessionContext = {
    identity,
    database: 'db',
    searchPath: ['public'],
    catalogRelations: new Set(),
    catalogFunctions: new Set(['lower']),
    grants: [],
    derived: buildDerivedCatalog(rows, analyze),
  };
  const facts = analyze(sql).statements[0]!;
  return decide(selectFor(compile([POLICY], 1), identity, 'db'), ctx, facts);
}
function outputs(sql: string, rows = ROWS): unknown {
  const d = run(sql, rows);
  assert.ok(d.verdict === 'allow', JSON.stringify(d));
  return d.masks.outputs;
}

test("a view column is masked as the column it passes through, with that column's strategy", () => {
  assert.deepEqual(outputs('SELECT id, s, email FROM v'), [null, 'null', 'partial']);
});
test('a computed view column is redacted (partial never applies to a computation)', () => {
  assert.deepEqual(outputs('SELECT e FROM v'), ['redact']);
});
test('views over views, materialized views', () => {
  assert.deepEqual(outputs('SELECT id, s, e FROM v2'), [null, 'null', 'redact']);
  assert.deepEqual(outputs('SELECT ssn FROM mv'), ['null']);
});
test('expressions, whole rows and stars over a view', () => {
  assert.deepEqual(outputs('SELECT upper(email) FROM v'), ['redact']);
  assert.deepEqual(outputs('SELECT x FROM v x'), ['null']); // a whole row: the strictest of its columns
  const d = run('SELECT * FROM v2');
  assert.ok(d.verdict === 'allow');
  assert.equal(d.masks.needsRowDescription, true);
  // RowDescription carries the view's OID: its columns are in MaskPlan.columns under the view's name
  assert.equal(d.masks.columns['public.v2.s'], 'null');
  assert.equal(d.masks.columns['public.v2.e'], 'redact');
  assert.equal(d.masks.columns['public.v.email'], 'partial');
  assert.equal(d.masks.columns['public.v2.id'], undefined);
});
test('a view over an SQL function that reads masked columns: its columns are redacted', () => {
  assert.deepEqual(outputs('SELECT id, ssn FROM vf'), ['redact', 'redact']);
});
test('a view whose definition cannot be analysed is redacted whole', () => {
  assert.deepEqual(outputs('SELECT a FROM vbad'), ['redact']);
});
test('a view that reads nothing masked is left alone', () => {
  assert.deepEqual(outputs('SELECT id FROM vsafe'), [null]);
  const d = run('SELECT * FROM vsafe');
  assert.ok(d.verdict === 'allow');
  assert.equal(d.masks.needsRowDescription, false);
});
test('SQL functions reading masked columns make untraceable outputs redacted — string bodies, BEGIN ATOMIC, through each other', () => {
  assert.deepEqual(outputs('SELECT * FROM f()'), ['redact']);
  assert.deepEqual(outputs('SELECT g()'), ['redact']);
  assert.deepEqual(outputs('SELECT h()'), ['redact']);
  assert.deepEqual(outputs('SELECT plain()'), [null]);
});
test('a statement on a table whose rules read masked columns is resolved field by field', () => {
  const d = run("INSERT INTO log VALUES ('x')");
  assert.ok(d.verdict === 'allow');
  assert.equal(d.masks.needsRowDescription, true);
  assert.equal(d.masks.hasStar, true);
});
test('copying a masked value out of a view or SQL function is refused', () => {
  for (const sql of [
    'INSERT INTO t SELECT s FROM v2',
    'INSERT INTO t SELECT g()',
    'CREATE TABLE t2 AS SELECT * FROM mv',
  ]) {
    const d = run(sql);
    assert.equal(d.verdict, 'deny', sql);
  }
});
test('without the catalog rows the view would leak: the lineage is what masks it', () => {
  assert.deepEqual(outputs('SELECT id, s FROM v', []), [null, null]);
});
test('the catalog id changes with the definitions and not otherwise', () => {
  assert.equal(
    buildDerivedCatalog(ROWS, analyze).id,
    buildDerivedCatalog(
      ROWS.map((x) => ({ ...x })),
      analyze,
    ).id,
  );
  assert.notEqual(buildDerivedCatalog(ROWS, analyze).id, buildDerivedCatalog(ROWS.slice(1), analyze).id);
});

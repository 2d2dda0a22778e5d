// What existed when the catalog was fetched (KnownObjects) and which statements name something created since:
// the rows as KNOWN_SQL returns them, statements through the real analyzer.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../policy/analyze/analyze.ts';
import { initAnalyzer } from '../policy/analyze/testing-parser.ts';
import { knownObjectsOf, ownCreatedKeys, unknownObject } from './catalog.ts';

before(async () => {
  await initAnalyzer();
});

const ROWS: (string | null)[][] = [
  ['o', null, '24576'],
  ['r', 'public', 'customers'],
  ['r', 'public', 'orders'],
  ['r', 'reports', 'v_far'],
  ['r', 'reports', 'orders'],
  ['r', 'pg_catalog', 'pg_class'],
  ['r', 'information_schema', 'tables'],
  ['r', 'pg_temp_3', 'scratch'],
  ['f', 'public', 'f_ssn'],
  ['f', 'reports', 'f_total'],
];
const CATALOG_FUNCTIONS = new Set(['lower', 'count', 'pg_notify', 'now']);
const known = knownObjectsOf(ROWS);

function unknown(sql: string, searchPath: readonly string[] = ['public']): string | null {
  const a = analyze(sql);
  assert.equal(a.error, null, sql);
  return unknownObject(known, a.statements, searchPath, CATALOG_FUNCTIONS);
}

test('the OID bound and the names are read from the rows', () => {
  assert.equal(known.oidBound, 24576);
  assert.deepEqual(known.relations.get('orders'), ['public', 'reports']);
  assert.deepEqual(known.functions.get('f_total'), ['reports']);
  // sessions of one database share the object built from the same rows
  assert.equal(knownObjectsOf(ROWS.map((r) => [...r])), known);
});

test('relations and functions that existed are known, resolved as PostgreSQL would', () => {
  for (const sql of [
    'SELECT * FROM customers',
    'SELECT * FROM public.orders o JOIN reports.v_far v ON true',
    'SELECT relname FROM pg_class',
    'SELECT * FROM pg_catalog.pg_class',
    'SELECT * FROM information_schema.tables',
    'SELECT * FROM scratch',
    'SELECT * FROM pg_temp.scratch',
    'SELECT lower(email), count(*) FROM customers GROUP BY 1',
    'SELECT public.f_ssn(1), reports.f_total()',
    'WITH fresh AS (SELECT 1 AS x) SELECT * FROM fresh',
    "SELECT pg_notify('c', 'x')",
    'CREATE VIEW public.v_brand_new AS SELECT id FROM customers', // what DDL creates is not asked about
    'DROP TABLE public.gone',
  ])
    assert.equal(unknown(sql), null, sql);
});

test('a relation or function created since the fetch is named', () => {
  assert.equal(unknown('SELECT * FROM v_new'), 'v_new');
  assert.equal(unknown('SELECT * FROM public.v_new'), 'public.v_new');
  assert.equal(unknown('SELECT upper(e) FROM customers c JOIN reports.v_new v ON true'), 'reports.v_new');
  // in a schema the search_path does not reach, an unqualified name is another relation
  assert.equal(unknown('SELECT * FROM v_far'), 'v_far');
  assert.equal(unknown('SELECT * FROM v_far', ['public', 'reports']), null);
  assert.equal(unknown('SELECT f_total()'), 'f_total');
  assert.equal(unknown('SELECT public.f_new(1)'), 'public.f_new');
  assert.equal(unknown('SELECT * FROM pg_temp.other'), 'pg_temp.other');
  // where a value may be copied or sent: INSERT … SELECT, COPY (…) TO, notification payloads
  assert.equal(unknown('INSERT INTO orders (status) SELECT ssn FROM v_new'), 'v_new');
  assert.equal(unknown('COPY (SELECT * FROM v_new) TO STDOUT'), 'v_new');
  assert.equal(unknown("SELECT pg_notify('c', (SELECT ssn FROM v_new LIMIT 1))"), 'v_new');
  assert.equal(unknown('UPDATE t_new SET x = 1 WHERE id = 1'), 't_new');
});

test('what the session itself created since the fetch counts as known', () => {
  const own = new Set<string>();
  for (const sql of ['CREATE TEMP TABLE scratch2 (x int)', 'CREATE VIEW reports.v_mine AS SELECT 1 AS n'])
    ownCreatedKeys(analyze(sql).statements[0]!, own);
  const check = (sql: string) => unknownObject(known, analyze(sql).statements, ['public'], CATALOG_FUNCTIONS, own);
  assert.equal(check('SELECT * FROM scratch2'), null);
  assert.equal(check('SELECT * FROM reports.v_mine'), null);
  assert.equal(check('SELECT * FROM public.scratch3'), 'public.scratch3');
  // a qualified name is that schema's only
  assert.equal(check('SELECT * FROM public.v_mine'), 'public.v_mine');
});

// Fail closed: what the walker does not know (a node, a field, a statement), nests too deep, or must not read is
// refused; and no input makes analyze() throw.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyze } from './analyze.ts';
import { initAnalyzer } from './testing-parser.ts';
import { newState, walkTop } from './walk.ts';

before(async () => {
  await initAnalyzer();
});

// A parser upgrade may add node types or fields; the walker must refuse them, not skip them.
test('fail closed: an unknown expression node is refused', () => {
  const st = newState();
  walkTop(st, 'SelectStmt', {
    targetList: [{ ResTarget: { val: { FutureExpr: { subselect: {} } } } }],
    op: 'SETOP_NONE',
  });
  assert.deepEqual(st.unsupported, ['FutureExpr is not supported in this position']);
});

test('fail closed: an unknown field of a known node is refused', () => {
  const st = newState();
  const sub = { SelectStmt: { fromClause: [{ RangeVar: { relname: 'secret' } }] } };
  walkTop(st, 'SelectStmt', { fromClause: [{ RangeVar: { relname: 'a' } }], futureClause: sub, op: 'SETOP_NONE' });
  assert.deepEqual(st.unsupported, ['unexpected field SelectStmt.futureClause']);
  const st2 = newState();
  walkTop(st2, 'SelectStmt', {
    targetList: [{ ResTarget: { val: { A_Expr: { kind: 'AEXPR_OP', lexpr: { A_Const: {} }, extra: sub } } } }],
  });
  assert.deepEqual(st2.unsupported, ['unexpected field A_Expr.extra']);
});

test('fail closed: an unknown statement or FROM item is refused', () => {
  const st = newState();
  walkTop(st, 'FutureStmt', {});
  assert.deepEqual(st.unsupported, ['FutureStmt statements are not supported']);
  const st2 = newState();
  walkTop(st2, 'SelectStmt', { fromClause: [{ FutureFrom: {} }] });
  assert.deepEqual(st2.unsupported, ['FutureFrom is not supported in FROM']);
  // PL/pgSQL-only nodes never come from SQL but must not be walked as if harmless
  const st3 = newState();
  walkTop(st3, 'PLAssignStmt', {});
  assert.equal(st3.unsupported.length, 1);
});

test('deep nesting is refused, not a crash', () => {
  const sql = 'SELECT ' + 'abs('.repeat(1500) + '1' + ')'.repeat(1500);
  const a = analyze(sql);
  assert.ok(a.error !== null || a.statements.some((s) => s.unsupported.length > 0));
});

test('settings only superusers may read are refused (SHOW, SHOW ALL, current_setting)', () => {
  // Found by the privilege oracle: PostgreSQL answers 42501 to anyone else; the binding may be a superuser.
  for (const sql of [
    'SHOW data_directory',
    'SHOW Primary_Conninfo',
    'SHOW ALL',
    "SELECT current_setting('hba_file')",
    "SELECT pg_catalog.current_setting('ssl_passphrase_command', true)",
    'SELECT current_setting(name) FROM t',
  ]) {
    const s = analyze(sql).statements[0]!;
    assert.ok(s.unsupported.length > 0, sql);
  }
  for (const sql of ['SHOW search_path', "SELECT current_setting('app.tenant')", 'SHOW server_version']) {
    assert.deepEqual(analyze(sql).statements[0]!.unsupported, [], sql);
  }
});

test('runs of operator characters the lexer scans in quadratic time are refused unparsed, at once', () => {
  // Before: 40 kB of either took 3–13 s inside libpg-query (parse + normalize), blocking the proxy's event loop.
  for (const sql of [
    `SELECT 1 ${'+'.repeat(500_000)} 1`,
    `SELECT ${'/*'.repeat(250_000)}${'*/'.repeat(250_000)} 1`,
    `SELECT query_to_xml('SELECT 1 ${'-+'.repeat(5_000)} 1', true, false, '')`,
  ]) {
    const t0 = performance.now();
    const a = analyze(sql);
    assert.ok(performance.now() - t0 < 1000, 'refused without lexing');
    assert.ok(a.error !== null || a.statements.some((s) => s.unsupported.length > 0));
    assert.match(a.error ?? a.statements[0]!.unsupported.join(), /quadratic/);
    assert.equal(a.normalized, '');
  }
  // Ordinary operators, comments and literals are untouched, and so are runs up to the bound (2 × 2500² < 2^24).
  assert.equal(analyze(`SELECT 1 + -1, 'a' || '${'='.repeat(2500)}' /* ${'-'.repeat(2500)} */`).error, null);
});

test('property: arbitrary strings never make analyze throw', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      const a = analyze(s);
      assert.ok(a.error !== null || Array.isArray(a.statements));
    }),
    { numRuns: 500 },
  );
});

test('property: SQL-ish token soup never makes analyze throw', () => {
  const tok = fc.constantFrom(
    'SELECT',
    'FROM',
    'WHERE',
    'WITH',
    'AS',
    '(',
    ')',
    ',',
    ';',
    '*',
    'x',
    't',
    'DELETE',
    'INSERT',
    'INTO',
    'VALUES',
    '1',
    "'s'",
    '::regclass',
    'JOIN',
    'ON',
    'UNION',
    'RETURNING',
    'UPDATE',
    'SET',
    '=',
    'LATERAL',
    'f(x)',
  );
  fc.assert(
    fc.property(fc.array(tok, { maxLength: 30 }), (ts) => {
      const a = analyze(ts.join(' '));
      assert.ok(a.error !== null || Array.isArray(a.statements));
    }),
    { numRuns: 1000 },
  );
});

test('property: every table in combined known-good fragments is reported', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/).filter((n) => !RESERVED.has(n));
  // Each fragment builder takes table names and yields a statement that reads or writes all of them.
  const fragment = fc.oneof(
    fc.tuple(name).map(([a]) => ({ sql: `SELECT * FROM ${a}`, tables: [a] })),
    fc
      .tuple(name, name)
      .map(([a, b]) => ({ sql: `SELECT x FROM ${a} JOIN ${b} ON ${a}.id = ${b}.id`, tables: [a, b] })),
    fc.tuple(name, name).map(([a, b]) => ({ sql: `SELECT (SELECT max(y) FROM ${b}) FROM ${a}`, tables: [a, b] })),
    fc.tuple(name, name).map(([a, b]) => ({ sql: `INSERT INTO ${a} SELECT * FROM ${b}`, tables: [a, b] })),
    fc
      .tuple(name, name)
      .map(([a, b]) => ({ sql: `UPDATE ${a} SET x = 1 FROM ${b} WHERE ${a}.id = ${b}.id`, tables: [a, b] })),
    fc.tuple(name, name).map(([a, b]) => ({ sql: `DELETE FROM ${a} USING ${b} WHERE true`, tables: [a, b] })),
    fc
      .tuple(name, name)
      .map(([a, b]) => ({ sql: `SELECT * FROM ${a} WHERE id IN (SELECT id FROM ${b})`, tables: [a, b] })),
  );
  const wrap = fc.constantFrom(
    (s: string) => s,
    (s: string) => `EXPLAIN ANALYZE ${s}`,
    (s: string) => `PREPARE p AS ${s}`,
    (s: string) => (s.startsWith('SELECT') ? `WITH w AS (${s}) SELECT * FROM w` : `WITH w AS (SELECT 1) ${s}`),
    (s: string) => (s.startsWith('SELECT') ? `SELECT * FROM (${s}) sub` : s),
    (s: string) => (s.startsWith('SELECT') ? `COPY (${s}) TO STDOUT` : s),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fragment, wrap), { minLength: 1, maxLength: 4 }), (parts) => {
      const sql = parts.map(([f, w]) => w(f.sql)).join('; ');
      const a = analyze(sql);
      assert.equal(a.error, null, sql);
      const reported = new Set(
        a.statements.flatMap((s) => s.accesses.filter((x) => x.kind === 'relation').map((x) => x.relation.name)),
      );
      for (const [f] of parts) {
        for (const tbl of f.tables) {
          // a table named like the CTE `w` is shadowed only inside that CTE's scope
          if (tbl === 'w') continue;
          assert.ok(reported.has(tbl), `${tbl} missing from ${sql}: ${JSON.stringify([...reported])}`);
        }
      }
    }),
    { numRuns: 400 },
  );
});

const RESERVED = new Set([
  'all',
  'analyse',
  'analyze',
  'and',
  'any',
  'array',
  'as',
  'asc',
  'asymmetric',
  'both',
  'case',
  'cast',
  'check',
  'collate',
  'column',
  'constraint',
  'create',
  'current_catalog',
  'current_date',
  'current_role',
  'current_time',
  'current_timestamp',
  'current_user',
  'default',
  'deferrable',
  'desc',
  'distinct',
  'do',
  'else',
  'end',
  'except',
  'false',
  'fetch',
  'for',
  'foreign',
  'from',
  'grant',
  'group',
  'having',
  'in',
  'initially',
  'intersect',
  'into',
  'lateral',
  'leading',
  'limit',
  'localtime',
  'localtimestamp',
  'not',
  'null',
  'offset',
  'on',
  'only',
  'or',
  'order',
  'placing',
  'primary',
  'references',
  'returning',
  'select',
  'session_user',
  'some',
  'symmetric',
  'system_user',
  'table',
  'then',
  'to',
  'trailing',
  'true',
  'union',
  'unique',
  'user',
  'using',
  'variadic',
  'when',
  'where',
  'window',
  'with',
  'authorization',
  'binary',
  'collation',
  'concurrently',
  'cross',
  'current_schema',
  'freeze',
  'full',
  'ilike',
  'inner',
  'is',
  'isnull',
  'join',
  'left',
  'like',
  'natural',
  'notnull',
  'outer',
  'overlaps',
  'right',
  'similar',
  'tablesample',
  'verbose',
  'id',
  'x',
  'y',
]);

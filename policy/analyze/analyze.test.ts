// The analyzer over a corpus of statements: the pairs each one yields (every access, sorted), its refusals, and
// the facts beside them (command, writes, effects, cacheability, outputs); then the error path and the basics.
// This file: reads, CTEs, data changes, disguises, session and transaction statements, and those refused
// outright; functions, DDL, privileges and COPY are in analyze-ddl.test.ts; the row checks in testing-corpus.ts.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, describeAccess } from './analyze.ts';
import { initAnalyzer } from './testing-parser.ts';
import { parseLiteralName } from './names.ts';
import { t, col, star, CONST } from './testing-facts.ts';
import { testCorpus, UNSUPPORTED } from './testing-corpus.ts';
import type { Row } from './testing-corpus.ts';

before(async () => {
  await initAnalyzer();
});

const cases: readonly Row[] = [
  // --- plain reads
  [
    'simple select',
    'SELECT abalance FROM pgbench_accounts WHERE aid = 123',
    ['SELECT on pgbench_accounts'],
    { command: 'SELECT', cacheable: true, writes: false, outputs: [col('pgbench_accounts', 'abalance')] },
  ],
  ['qualified table', 'SELECT id FROM public.orders', ['SELECT on public.orders']],
  ['three-part name ignores the catalog', 'SELECT 1 FROM mydb.public.orders', ['SELECT on public.orders']],
  ['select without FROM', 'SELECT 1', [], { outputs: [CONST] }],
  [
    'TABLE shorthand',
    'TABLE public.orders',
    ['SELECT on public.orders'],
    { outputs: [{ kind: 'star', relations: [t('orders', 'public')] }] },
  ],
  [
    'joins',
    'SELECT 1 FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id) CROSS JOIN s.d',
    ['SELECT on a', 'SELECT on b', 'SELECT on c', 'SELECT on s.d'],
  ],
  ['comma join and ONLY', 'SELECT 1 FROM ONLY a, b', ['SELECT on a', 'SELECT on b']],
  ['subquery in FROM', 'SELECT * FROM (SELECT * FROM secret) s', ['SELECT on secret']],
  [
    'subquery in target list',
    'SELECT (SELECT max(x) FROM secret) FROM a',
    ['SELECT on a', 'SELECT on secret', 'CALL on function max'],
  ],
  ['subquery in WHERE IN', 'SELECT 1 FROM a WHERE id IN (SELECT id FROM secret)', ['SELECT on a', 'SELECT on secret']],
  [
    'EXISTS',
    'SELECT 1 FROM a WHERE EXISTS (SELECT 1 FROM secret WHERE secret.id = a.id)',
    ['SELECT on a', 'SELECT on secret'],
  ],
  ['ANY subquery', 'SELECT 1 FROM a WHERE id = ANY (SELECT id FROM secret)', ['SELECT on a', 'SELECT on secret']],
  ['ARRAY subquery', 'SELECT ARRAY(SELECT id FROM secret)', ['SELECT on secret']],
  [
    'HAVING subquery',
    'SELECT g FROM a GROUP BY g HAVING count(*) > (SELECT count(*) FROM secret)',
    ['SELECT on a', 'SELECT on secret', 'CALL on function count'],
  ],
  ['ORDER BY subquery', 'SELECT 1 FROM a ORDER BY (SELECT 1 FROM secret LIMIT 1)', ['SELECT on a', 'SELECT on secret']],
  ['function call in ORDER BY', 'SELECT id FROM a ORDER BY pg_sleep(10)', ['SELECT on a', 'CALL on function pg_sleep']],
  [
    'LIMIT subquery',
    'SELECT 1 FROM a LIMIT (SELECT count(*) FROM secret)',
    ['SELECT on a', 'SELECT on secret', 'CALL on function count'],
  ],
  [
    'CASE with subquery',
    "SELECT CASE WHEN x THEN (SELECT s FROM secret) ELSE 'n' END FROM a",
    ['SELECT on a', 'SELECT on secret'],
  ],
  [
    'LATERAL subquery',
    'SELECT * FROM a, LATERAL (SELECT * FROM secret WHERE secret.id = a.id) l',
    ['SELECT on a', 'SELECT on secret'],
  ],
  [
    'LATERAL function',
    'SELECT * FROM a CROSS JOIN LATERAL jsonb_each(a.j) e',
    ['SELECT on a', 'CALL on function jsonb_each'],
  ],
  ['set-returning function in FROM', 'SELECT * FROM generate_series(1, 10) g', ['CALL on function generate_series']],
  ['ROWS FROM', 'SELECT * FROM ROWS FROM (f(1), g(2) AS (a int)) x', ['CALL on function f', 'CALL on function g']],
  ['TABLESAMPLE', 'SELECT * FROM secret TABLESAMPLE SYSTEM (10)', ['SELECT on secret']],
  [
    'UNION of tables',
    'SELECT a FROM x UNION SELECT b FROM y EXCEPT SELECT c FROM z',
    ['SELECT on x', 'SELECT on y', 'SELECT on z'],
  ],
  ['VALUES with subquery', 'VALUES (1), ((SELECT 2 FROM secret))', ['SELECT on secret']],
  [
    'window function',
    'SELECT row_number() OVER (PARTITION BY (SELECT 1 FROM secret)) FROM a',
    ['SELECT on a', 'SELECT on secret', 'CALL on function row_number'],
  ],
  [
    'aggregate FILTER',
    'SELECT count(*) FILTER (WHERE x IN (SELECT x FROM secret)) FROM a',
    ['SELECT on a', 'SELECT on secret', 'CALL on function count'],
  ],
  [
    'XMLTABLE',
    "SELECT * FROM XMLTABLE('/r' PASSING (SELECT doc FROM secret) COLUMNS a int PATH 'a')",
    ['SELECT on secret'],
  ],
  [
    'JSON_TABLE',
    "SELECT * FROM JSON_TABLE((SELECT j FROM secret), '$' COLUMNS (a int PATH '$.a')) jt",
    ['SELECT on secret'],
  ],
  ['JSON_ARRAY query constructor', 'SELECT JSON_ARRAY(SELECT id FROM secret)', ['SELECT on secret']],
  ['FOR UPDATE needs UPDATE', 'SELECT * FROM a FOR UPDATE', ['SELECT on a', 'UPDATE on a']],
  [
    'FOR SHARE OF one table',
    'SELECT * FROM a JOIN b ON true FOR SHARE OF b',
    ['SELECT on a', 'SELECT on b', 'UPDATE on b'],
  ],
  ['nested subqueries three deep', 'SELECT (SELECT (SELECT (SELECT x FROM deep))) ', ['SELECT on deep']],
  // --- CTEs
  ['CTE shadows a table', 'WITH orders AS (SELECT 1 AS id) SELECT * FROM orders', []],
  ['CTE reads are reported', 'WITH c AS (SELECT * FROM secret) SELECT * FROM c', ['SELECT on secret']],
  [
    'qualified name is not the CTE',
    'WITH orders AS (SELECT 1) SELECT * FROM public.orders',
    ['SELECT on public.orders'],
  ],
  ['non-recursive CTE naming itself reads the table', 'WITH t AS (SELECT * FROM t) SELECT * FROM t', ['SELECT on t']],
  [
    'later CTE sees earlier',
    'WITH a AS (SELECT * FROM real_a), b AS (SELECT * FROM a) SELECT * FROM b',
    ['SELECT on real_a'],
  ],
  ['earlier CTE does not see later', 'WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a', ['SELECT on b']],
  [
    'recursive CTE',
    'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r',
    [],
    { outputs: [CONST] },
  ],
  [
    'recursive CTE forward reference',
    'WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT email FROM customers) SELECT * FROM a',
    ['SELECT on customers'],
    { outputs: [col('customers', 'email')] },
  ],
  ['CTE inside subquery scope ends', 'SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x', ['SELECT on x']],
  [
    'DELETE in a CTE',
    'WITH d AS (DELETE FROM public.orders RETURNING 1) SELECT 1',
    ['DELETE on public.orders', 'SELECT on public.orders'],
    { writes: true, unfilteredWrite: true },
  ],
  [
    'UPDATE in a CTE with WHERE',
    'WITH u AS (UPDATE a SET x = 1 WHERE id = 2 RETURNING id) SELECT * FROM u',
    ['UPDATE on a', 'SELECT on a'],
    { unfilteredWrite: false, writes: true },
  ],
  ['INSERT in a CTE', 'WITH i AS (INSERT INTO log VALUES (1)) SELECT 1', ['INSERT on log'], { writes: true }],
  [
    'DML nested three deep',
    'WITH a AS (WITH b AS (WITH c AS (DELETE FROM victim RETURNING *) SELECT * FROM c) SELECT * FROM b) SELECT * FROM a',
    ['DELETE on victim', 'SELECT on victim'],
    { unfilteredWrite: true },
  ],
  [
    'WITH before MERGE',
    'WITH m AS (SELECT 1) MERGE INTO t USING m ON true WHEN MATCHED THEN DELETE',
    ['MERGE on t', 'DELETE on t'],
    { unfilteredWrite: true },
  ],
  // --- data changes
  [
    'INSERT VALUES',
    'INSERT INTO public.orders (id) VALUES (1)',
    ['INSERT on public.orders'],
    { command: 'INSERT', writes: true, outputs: [] },
  ],
  ['INSERT … SELECT', 'INSERT INTO archive SELECT * FROM orders', ['INSERT on archive', 'SELECT on orders']],
  [
    'INSERT … VALUES with subquery',
    'INSERT INTO a VALUES ((SELECT ssn FROM secret LIMIT 1))',
    ['INSERT on a', 'SELECT on secret'],
  ],
  ['INSERT DEFAULT VALUES', 'INSERT INTO a DEFAULT VALUES', ['INSERT on a']],
  [
    'ON CONFLICT DO UPDATE',
    'INSERT INTO a (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET n = a.n + 1',
    ['INSERT on a', 'UPDATE on a'],
  ],
  ['ON CONFLICT DO NOTHING', 'INSERT INTO a (id) VALUES (1) ON CONFLICT DO NOTHING', ['INSERT on a']],
  [
    'ON CONFLICT subquery',
    'INSERT INTO a VALUES (1) ON CONFLICT (id) DO UPDATE SET n = (SELECT n FROM secret)',
    ['INSERT on a', 'UPDATE on a', 'SELECT on secret'],
  ],
  ['INSERT target is never a CTE', 'WITH a AS (SELECT 1) INSERT INTO a VALUES (1)', ['INSERT on a']],
  [
    'RETURNING reads the target',
    'INSERT INTO a VALUES (1) RETURNING *',
    ['INSERT on a', 'SELECT on a'],
    { outputs: [star('a')] },
  ],
  [
    'UPDATE with WHERE',
    'UPDATE a SET x = 1 WHERE id = 1',
    ['UPDATE on a'],
    { command: 'UPDATE', unfilteredWrite: false, writes: true },
  ],
  ['UPDATE without WHERE', 'UPDATE a SET x = 1', ['UPDATE on a'], { unfilteredWrite: true }],
  ['UPDATE WHERE true', 'UPDATE a SET x = 1 WHERE true', ['UPDATE on a'], { unfilteredWrite: true }],
  ['UPDATE WHERE 1=1', 'UPDATE a SET x = 1 WHERE 1 = 1', ['UPDATE on a'], { unfilteredWrite: true }],
  [
    'UPDATE WHERE constant OR column',
    'UPDATE a SET x = 1 WHERE 1 = 1 OR id = 2',
    ['UPDATE on a'],
    { unfilteredWrite: true },
  ],
  [
    'UPDATE WHERE column AND constant',
    'UPDATE a SET x = 1 WHERE id = 2 AND true',
    ['UPDATE on a'],
    { unfilteredWrite: false },
  ],
  [
    'UPDATE WHERE uncorrelated EXISTS',
    'UPDATE a SET x = 1 WHERE EXISTS (SELECT 1 FROM b WHERE b.y = 1)',
    ['UPDATE on a', 'SELECT on b'],
    { unfilteredWrite: true },
  ],
  [
    'UPDATE WHERE correlated EXISTS',
    'UPDATE a SET x = 1 WHERE EXISTS (SELECT 1 FROM b WHERE b.y = a.y)',
    ['UPDATE on a', 'SELECT on b'],
    { unfilteredWrite: false },
  ],
  ['UPDATE WHERE CURRENT OF', 'UPDATE a SET x = 1 WHERE CURRENT OF c', ['UPDATE on a'], { unfilteredWrite: false }],
  [
    'UPDATE … FROM',
    'UPDATE a SET x = b.x FROM b WHERE a.id = b.id',
    ['UPDATE on a', 'SELECT on b'],
    { unfilteredWrite: false },
  ],
  [
    'UPDATE SET subquery',
    'UPDATE a SET x = (SELECT ssn FROM secret) WHERE id = 1',
    ['UPDATE on a', 'SELECT on secret'],
  ],
  [
    'UPDATE multi-assign',
    'UPDATE a SET (x, y) = (SELECT p, q FROM secret) WHERE id = 1',
    ['UPDATE on a', 'SELECT on secret'],
  ],
  [
    'UPDATE RETURNING',
    'UPDATE a SET x = 1 WHERE id = 1 RETURNING x',
    ['UPDATE on a', 'SELECT on a'],
    { outputs: [col('a', 'x')] },
  ],
  [
    'DELETE without WHERE',
    'DELETE FROM public.orders',
    ['DELETE on public.orders'],
    { command: 'DELETE', unfilteredWrite: true },
  ],
  [
    'DELETE … USING',
    'DELETE FROM a USING b WHERE a.id = b.id',
    ['DELETE on a', 'SELECT on b'],
    { unfilteredWrite: false },
  ],
  [
    'DELETE WHERE subquery only on other table',
    'DELETE FROM a WHERE (SELECT true FROM b LIMIT 1)',
    ['DELETE on a', 'SELECT on b'],
    { unfilteredWrite: true },
  ],
  [
    'MERGE',
    'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = s.x WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id) WHEN NOT MATCHED BY SOURCE THEN DELETE',
    ['MERGE on t', 'UPDATE on t', 'INSERT on t', 'DELETE on t', 'SELECT on s'],
    { command: 'MERGE', writes: true, unfilteredWrite: false },
  ],
  [
    'MERGE with subquery source',
    'MERGE INTO t USING (SELECT * FROM secret) s ON t.id = s.id WHEN MATCHED THEN DO NOTHING',
    ['MERGE on t', 'SELECT on secret'],
  ],
  [
    'MERGE RETURNING',
    'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.*',
    ['MERGE on t', 'DELETE on t', 'SELECT on s', 'SELECT on t'],
    { outputs: [star('t')] },
  ],
  [
    'TRUNCATE',
    'TRUNCATE a, public.b CASCADE',
    ['TRUNCATE on a', 'TRUNCATE on public.b'],
    { command: 'TRUNCATE TABLE' },
  ],
  // --- disguises
  ['comment inside a keyword is not a keyword', 'DEL/**/ETE FROM x', UNSUPPORTED],
  ['comments between tokens', 'DELETE/**/FROM/* x */public.orders -- trailing', ['DELETE on public.orders']],
  ['quoted identifiers keep case', 'SELECT * FROM "Public"."Orders"', ['SELECT on "Public"."Orders"']],
  ['quoted lower case equals unquoted', 'DELETE FROM "public"."orders" WHERE id = 1', ['DELETE on public.orders']],
  ['unquoted identifiers fold to lower case', 'DELETE FROM PUBLIC.ORDERS WHERE id = 1', ['DELETE on public.orders']],
  ['unicode escape identifier', 'DELETE FROM U&"\\006frders" WHERE id = 1', ['DELETE on orders']],
  ['dollar quoting hides nothing', 'SELECT $$DELETE FROM orders$$ FROM a', ['SELECT on a']],
  ['E-string with escaped quote', "SELECT E'it\\'s; DROP TABLE x' FROM a", ['SELECT on a'], { statements: 1 }],
  ['multi-statement', 'SELECT 1; DROP TABLE x', ['DROP on x'], { statements: 2 }],
  ['multi-statement with DML', 'SELECT * FROM a; DELETE FROM b', ['SELECT on a', 'DELETE on b'], { statements: 2 }],
  [
    'EXPLAIN ANALYZE DELETE',
    'EXPLAIN ANALYZE DELETE FROM orders',
    ['DELETE on orders'],
    { command: 'EXPLAIN', unfilteredWrite: true, writes: true },
  ],
  ['plain EXPLAIN reports the pairs too', 'EXPLAIN SELECT * FROM secret', ['SELECT on secret'], { command: 'EXPLAIN' }],
  ['EXPLAIN options', 'EXPLAIN (ANALYZE, BUFFERS) UPDATE a SET x = 1 WHERE id = 2', ['UPDATE on a']],
  [
    'PREPARE DELETE',
    'PREPARE p AS DELETE FROM orders WHERE id = $1',
    ['DELETE on orders'],
    { command: 'PREPARE', prepares: 'p', writes: true, effects: [{ kind: 'prepare', name: 'p' }] },
  ],
  ['EXECUTE', 'EXECUTE p(1)', [], { command: 'EXECUTE', executes: 'p' }],
  [
    'EXECUTE with subquery argument',
    'EXECUTE p((SELECT ssn FROM secret LIMIT 1))',
    ['SELECT on secret'],
    { executes: 'p' },
  ],
  ['EXPLAIN EXECUTE', 'EXPLAIN ANALYZE EXECUTE p', [], { executes: 'p' }],
  ['DEALLOCATE', 'DEALLOCATE p', [], { effects: [{ kind: 'deallocate', name: 'p' }] }],
  ['DEALLOCATE ALL', 'DEALLOCATE ALL', [], { effects: [{ kind: 'deallocate', name: null }] }],
  [
    'DO block',
    'DO $$BEGIN DELETE FROM orders; END$$',
    ['CALL on function pg_catalog.do'],
    { command: 'DO', cacheable: false },
  ],
  [
    'CALL procedure',
    'CALL app.cleanup((SELECT max(id) FROM secret))',
    ['CALL on function app.cleanup', 'SELECT on secret', 'CALL on function max'],
    { command: 'CALL' },
  ],
  ['SELECT INTO creates a table', 'SELECT * INTO newt FROM secret', ['DDL on newt', 'SELECT on secret']],
  [
    'CREATE TABLE AS',
    'CREATE TABLE copy AS SELECT * FROM secret',
    ['DDL on copy', 'SELECT on secret'],
    { command: 'CREATE TABLE AS' },
  ],
  [
    'CREATE MATERIALIZED VIEW',
    'CREATE MATERIALIZED VIEW mv AS SELECT * FROM secret',
    ['DDL on mv', 'SELECT on secret'],
    { command: 'CREATE MATERIALIZED VIEW' },
  ],
  [
    'CREATE VIEW reads its query',
    'CREATE VIEW v AS SELECT ssn FROM secret',
    ['DDL on v', 'SELECT on secret'],
    { command: 'CREATE VIEW' },
  ],
  [
    'CREATE RULE',
    'CREATE RULE r AS ON INSERT TO a DO ALSO DELETE FROM victim',
    ['DDL on a', 'DELETE on victim'],
    { command: 'CREATE RULE', writes: false },
  ],
  [
    'CREATE TRIGGER',
    'CREATE TRIGGER trg BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION evil()',
    ['DDL on a', 'CALL on function evil'],
    { command: 'CREATE TRIGGER' },
  ],
  // --- session and transaction
  [
    'SET',
    'SET search_path = evil, public',
    [],
    { command: 'SET', effects: [{ kind: 'set', name: 'search_path', local: false, value: null }], cacheable: false },
  ],
  [
    'SET LOCAL',
    'SET LOCAL statement_timeout = 5',
    [],
    { effects: [{ kind: 'set', name: 'statement_timeout', local: true, value: null }] },
  ],
  ['RESET', 'RESET search_path', [], { command: 'RESET', effects: [{ kind: 'reset', name: 'search_path' }] }],
  ['RESET ALL', 'RESET ALL', [], { effects: [{ kind: 'reset', name: null }] }],
  ['SET ROLE', 'SET ROLE admin', [], { effects: [{ kind: 'role' }] }],
  ['SET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION admin', [], { effects: [{ kind: 'role' }] }],
  ['SHOW', 'SHOW search_path', [], { command: 'SHOW' }],
  [
    'DISCARD ALL',
    'DISCARD ALL',
    [],
    {
      effects: [
        { kind: 'discard' },
        { kind: 'reset', name: null },
        { kind: 'deallocate', name: null },
        { kind: 'unlisten' },
      ],
    },
  ],
  ['LISTEN', 'LISTEN ch', [], { effects: [{ kind: 'listen' }] }],
  ['NOTIFY', "NOTIFY ch, 'x'", ['NOTIFY on channel ch'], { effects: [{ kind: 'notify' }] }],
  [
    'NOTIFY folds an unquoted channel',
    'NOTIFY "Jobs"; NOTIFY Jobs',
    ['NOTIFY on channel Jobs', 'NOTIFY on channel jobs'],
    { statements: 2 },
  ],
  ['UNLISTEN', 'UNLISTEN *', [], { effects: [{ kind: 'unlisten' }] }],
  ['BEGIN', 'BEGIN ISOLATION LEVEL SERIALIZABLE', [], { command: 'BEGIN', transaction: true }],
  ['COMMIT', 'COMMIT', [], { transaction: true }],
  ['SAVEPOINT', 'SAVEPOINT s1', [], { command: 'SAVEPOINT', transaction: true }],
  ['ROLLBACK TO', 'ROLLBACK TO SAVEPOINT s1', [], { command: 'ROLLBACK', transaction: true }],
  ['PREPARE TRANSACTION', "PREPARE TRANSACTION 'x'", UNSUPPORTED],
  [
    'DECLARE CURSOR',
    'DECLARE c CURSOR FOR SELECT ssn FROM secret',
    ['SELECT on secret'],
    { command: 'DECLARE CURSOR', outputs: [col('secret', 'ssn')] },
  ],
  ['FETCH', 'FETCH 10 FROM c', [], { command: 'FETCH' }],
  ['CLOSE', 'CLOSE c', []],
  // --- refused outright
  ['LOAD', "LOAD 'evil.so'", UNSUPPORTED],
  ['ALTER SYSTEM', "ALTER SYSTEM SET log_statement = 'none'", UNSUPPORTED],
  ['CREATE DATABASE', 'CREATE DATABASE x', UNSUPPORTED],
  ['DROP DATABASE', 'DROP DATABASE x', UNSUPPORTED],
  ['CHECKPOINT', 'CHECKPOINT', UNSUPPORTED],
  ['CREATE SERVER', "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'evil')", UNSUPPORTED],
  ['CREATE USER MAPPING', 'CREATE USER MAPPING FOR bob SERVER s', UNSUPPORTED],
  ['IMPORT FOREIGN SCHEMA', 'IMPORT FOREIGN SCHEMA public FROM SERVER s INTO local', UNSUPPORTED],
  ['SECURITY LABEL', "SECURITY LABEL ON TABLE a IS 'x'", UNSUPPORTED],
  ['CREATE SUBSCRIPTION', "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", UNSUPPORTED],
  ['not SQL', 'SELEC 1', UNSUPPORTED],
  ['unterminated string', "SELECT 'x", UNSUPPORTED],
];

testCorpus(cases);

test('the corpus is large enough to mean something', () => {
  assert.ok(cases.length >= 120, `${cases.length} rows`);
});

// ---------------------------------------------------------------------------------------------

test('the error path: no statements, the parser message, nothing echoed in normalized', () => {
  const a = analyze("SELECT 'secret-literal' FROM");
  assert.equal(a.statements.length, 0);
  assert.match(a.error ?? '', /syntax error/);
  assert.equal(a.normalized, '');
  assert.equal(a.shapeCacheable, false);
});

test('an empty string is no statement, not an error: PostgreSQL answers it with EmptyQueryResponse (issue 12)', () => {
  // libpg-query throws "Query cannot be empty" for '' but parses '  ' and '-- c' to no statements;
  // pools health-check with an empty query (psycopg_pool check_connection, pgJDBC isValid).
  for (const sql of ['', ' ', '-- c', ';']) {
    const a = analyze(sql);
    assert.deepEqual(
      { statements: a.statements, error: a.error },
      { statements: [], error: null },
      JSON.stringify(sql),
    );
  }
});

test('normalized text replaces literals', () => {
  assert.equal(
    analyze("SELECT * FROM a WHERE x = 'secret' AND y = 5").normalized,
    'SELECT * FROM a WHERE x = $1 AND y = $2',
  );
});

test('accesses are deduplicated', () => {
  const a = analyze('SELECT * FROM a, a AS b WHERE EXISTS (SELECT 1 FROM a)');
  assert.deepEqual(a.statements[0]!.accesses, [{ operation: 'SELECT', relation: t('a'), kind: 'relation' }]);
});

test('describeAccess', () => {
  assert.equal(
    describeAccess({ operation: 'DELETE', relation: t('orders', 'public'), kind: 'relation' }),
    'DELETE on public.orders',
  );
  assert.equal(
    describeAccess({ operation: 'CALL', relation: t('pg_read_file'), kind: 'function' }),
    'CALL on function pg_read_file',
  );
  assert.equal(
    describeAccess({ operation: 'SELECT', relation: t('Orders', 'My Schema'), kind: 'relation' }),
    'SELECT on "My Schema"."Orders"',
  );
});

test('regclass literal names parse like regclassin', () => {
  assert.deepEqual(parseLiteralName('Orders'), { kind: 'name', rel: t('orders') });
  assert.deepEqual(parseLiteralName(' public . "My""T" '), { kind: 'name', rel: t('My"T', 'public') });
  assert.deepEqual(parseLiteralName('db.s.t'), { kind: 'name', rel: t('t', 's') });
  assert.deepEqual(parseLiteralName('12345'), { kind: 'oid' });
  assert.deepEqual(parseLiteralName('a..b'), { kind: 'invalid' });
  assert.deepEqual(parseLiteralName('"unterminated'), { kind: 'invalid' });
  assert.deepEqual(parseLiteralName('a.b.c.d'), { kind: 'invalid' });
  assert.equal((parseLiteralName('x'.repeat(80)) as { rel: { name: string } }).rel.name.length, 63);
});

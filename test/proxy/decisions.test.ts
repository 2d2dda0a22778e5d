// The decision table run through the proxy (style.md §9): one row per disguise of a statement the policy
// must refuse. Each row asserts the denial (42501, policy and rule where one is named), that the session
// stays usable, and that nothing of the statement reached PostgreSQL: no trigger or DDL event trigger
// fired, and the statement's unique marker never appears in the server log (log_statement=all).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { startHarness, failure } from './harness.ts';
import type { Harness } from './harness.ts';

const P = 'AccessPolicy "team/trainer"';
const NO_DELETES = `${P}, rule "no-deletes"`;
const NO_DESTRUCTIVE = `${P}, rule "no-destructive"`;
const UNFILTERED = `${P}, rule "guardrails.blockUnfilteredWrites"`;

// [name, sql, what the message must contain (null: any denial)]
const cases: readonly (readonly [string, string, string | null])[] = [
  ['plain DELETE on a protected table', 'DELETE FROM public.customers WHERE id = 1', NO_DELETES],
  ['DELETE hidden in a CTE', 'WITH d AS (DELETE FROM public.customers WHERE id = 1 RETURNING 1) SELECT * FROM d', null],
  [
    'UPDATE hidden in a CTE',
    "WITH u AS (UPDATE public.customers SET name = 'x' WHERE id = 1 RETURNING 1) SELECT 1",
    null,
  ],
  ['INSERT hidden in a CTE', "WITH i AS (INSERT INTO public.secrets VALUES (9, 'x') RETURNING 1) SELECT 1", null],
  ['EXPLAIN ANALYZE runs the DELETE', 'EXPLAIN ANALYZE DELETE FROM public.customers WHERE id = 1', null],
  ['EXPLAIN (ANALYZE) of an UPDATE', "EXPLAIN (ANALYZE, BUFFERS) UPDATE public.secrets SET v = 'x' WHERE id = 1", null],
  ['PREPARE of a DELETE', 'PREPARE del1 AS DELETE FROM public.customers WHERE id = $1', null],
  ['EXECUTE of a statement the proxy never saw prepared', 'EXECUTE never_prepared(1)', null],
  ['allowed statement followed by a denied one', 'SELECT 1; DELETE FROM public.customers WHERE id = 1', null],
  ['denied statement first in a multi-statement string', 'DELETE FROM public.customers WHERE id = 1; SELECT 1', null],
  ['three statements, DROP last', 'SELECT 1; SELECT 2; DROP TABLE public.orders', null],
  ['comment between keywords', 'DELETE/**/FROM/* x */public.customers WHERE id = 1', null],
  ['comment splitting a keyword is not SQL', 'DEL/**/ETE FROM public.customers WHERE id = 1', null],
  ['line comment hiding nothing', 'DELETE -- just a comment\nFROM public.customers WHERE id = 1', null],
  ['quoted identifiers', 'DELETE FROM "public"."customers" WHERE id = 1', null],
  ['upper-case unquoted identifiers', 'delete from PUBLIC.CUSTOMERS where ID = 1', null],
  ['unqualified name through search_path', 'DELETE FROM customers WHERE id = 1', null],
  ['read of a table no rule allows', 'SELECT * FROM public.secrets', null],
  ['TABLE shorthand', 'TABLE public.secrets', null],
  ['secrets in a scalar subquery', 'SELECT (SELECT v FROM public.secrets LIMIT 1)', null],
  ['secrets in EXISTS', 'SELECT 1 FROM public.orders WHERE EXISTS (SELECT 1 FROM public.secrets)', null],
  ['secrets in a UNION', 'SELECT status FROM public.orders UNION SELECT v FROM public.secrets', null],
  [
    'INSERT … SELECT from a forbidden table',
    'INSERT INTO public.orders (customer_id, amount, status) SELECT id, 0, v FROM public.secrets',
    null,
  ],
  ['INSERT into a table without a write rule', "INSERT INTO public.secrets VALUES (2, 'x')", null],
  ['UPDATE of a table without a write rule', "UPDATE public.customers SET email = 'x' WHERE id = 1", null],
  ['server file read', "SELECT pg_read_file('/etc/hostname')", null],
  ['server file read, schema-qualified', "SELECT pg_catalog.pg_read_file('/etc/hostname')", null],
  ['large object export', "SELECT lo_export(1234, '/tmp/airlock-x')", null],
  ['COPY TO PROGRAM', "COPY public.orders TO PROGRAM 'cat > /tmp/airlock-x'", null],
  ['COPY (query) TO PROGRAM', "COPY (SELECT 1) TO PROGRAM 'id'", null],
  ['COPY FROM a server file', "COPY public.orders FROM '/etc/passwd'", null],
  ['set_config of search_path', "SELECT set_config('search_path', 'pg_temp, public', false)", null],
  ['SET ROLE', 'SET ROLE postgres', null],
  ['SET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION postgres', null],
  ['SET search_path', 'SET search_path TO pg_temp, public', null],
  ['SET standard_conforming_strings off', 'SET standard_conforming_strings = off', null],
  ['SET client_encoding to a non-UTF8 encoding', "SET client_encoding = 'LATIN1'", null],
  ['terminate another backend', 'SELECT pg_terminate_backend(1)', null],
  ['DROP TABLE', 'DROP TABLE public.orders', NO_DESTRUCTIVE],
  ['TRUNCATE', 'TRUNCATE public.orders', NO_DESTRUCTIVE],
  ['ALTER TABLE', 'ALTER TABLE public.orders ADD COLUMN x int', null],
  ['CREATE TABLE', 'CREATE TABLE public.evil (id int)', null],
  [
    'CREATE FUNCTION with a DELETE body',
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'DELETE FROM public.customers RETURNING 1'",
    null,
  ],
  ['GRANT', 'GRANT SELECT ON public.secrets TO PUBLIC', null],
  ['DO block', 'DO $$ BEGIN DELETE FROM public.customers; END $$', null],
  ['unfiltered UPDATE', "UPDATE public.orders SET status = 'x'", UNFILTERED],
  ['unfiltered DELETE', 'DELETE FROM public.orders', UNFILTERED],
  ['DELETE inside BEGIN … COMMIT in one string', 'BEGIN; DELETE FROM public.customers WHERE id = 1; COMMIT', null],
  ['whole-row read of a forbidden table', 'SELECT s FROM public.secrets s', null],
  [
    'query_to_xml runs a query in a string',
    "SELECT query_to_xml('select * from public.secrets', true, true, '')",
    null,
  ],
  ['dblink', "SELECT dblink_exec('dbname=postgres', 'DROP TABLE x')", null],
  ['CREATE EXTENSION', 'CREATE EXTENSION IF NOT EXISTS dblink', null],
  ['ALTER SYSTEM', "ALTER SYSTEM SET log_statement = 'none'", null],
  [
    'MERGE into a protected table',
    'MERGE INTO public.customers c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN DELETE',
    null,
  ],
  ['not SQL at all', 'SELEC 1', null],
];

let h: Harness;
let c: pg.Client;
before(async () => {
  h = await startHarness();
  c = await h.client();
});
after(async () => {
  await h?.stop();
});

for (const [name, sql, want] of cases) {
  test(`denied: ${name}`, async () => {
    const marker = `airlock_probe_${randomBytes(6).toString('hex')}`;
    const before = await h.writes();
    const e = await failure(c.query(`${sql} /* ${marker} */`));
    assert.equal(e.code, '42501', `${e.code}: ${e.message}`);
    assert.match(e.message, /^permission denied for /);
    if (want !== null) assert.ok(e.message.includes(want), `message ${JSON.stringify(e.message)} should name ${want}`);
    // The session is still usable and outside any transaction.
    const r = await c.query('SELECT 1 AS ok');
    assert.equal(r.rows[0].ok, 1);
    assert.equal(await h.writes(), before, 'a trigger recorded a write: the statement reached PostgreSQL');
    assert.deepEqual(h.logged(marker), [], 'the denied statement appears in the server log');
  });
}

test('the table has at least 40 disguises', () => {
  assert.ok(cases.length >= 40);
});

test('the marker method sees statements that do reach PostgreSQL', async () => {
  const marker = `airlock_probe_${randomBytes(6).toString('hex')}`;
  await c.query(`SELECT 1 /* ${marker} */`);
  assert.equal(h.logged(marker).length, 1);
});

// EXECUTE inside another statement: the outer statement's own pairs count too. `CREATE TABLE … AS
// EXECUTE p` is DDL whatever p reads; deciding it as p alone let a read-only identity create tables.
test('CREATE TABLE … AS EXECUTE is decided as DDL plus the prepared statement', async () => {
  await c.query('PREPARE airlock_read_orders AS SELECT id FROM public.orders');
  const marker = `airlock_probe_${randomBytes(6).toString('hex')}`;
  const before = await h.writes();
  const e = await failure(c.query(`CREATE TABLE public.evil_copy AS EXECUTE airlock_read_orders /* ${marker} */`));
  assert.equal(e.code, '42501', `${e.code}: ${e.message}`);
  assert.equal(await h.writes(), before);
  assert.deepEqual(h.logged(marker), []);
  // The prepared statement itself is still usable.
  const r = await c.query('EXECUTE airlock_read_orders');
  assert.ok(Array.isArray(r.rows));
  await c.query('DEALLOCATE airlock_read_orders');
});

// Masking must not launder: a masked value stored into a writable, unmasked column would read back in
// clear (found by probing the demo with INSERT … SELECT length(ssn)). Each must be refused before it runs.
const launder: readonly (readonly [string, string])[] = [
  [
    'INSERT … SELECT of a masked column',
    'INSERT INTO public.orders (customer_id, amount, status) SELECT id, 0, email FROM public.customers',
  ],
  [
    'a value derived from a masked column',
    "INSERT INTO public.orders (customer_id, amount, status) SELECT id, length(ssn), 'x' FROM public.customers",
  ],
  [
    'UPDATE SET from a masked column',
    'UPDATE public.orders SET status = (SELECT ssn FROM public.customers c WHERE c.id = 1) WHERE id = 1',
  ],
  [
    'VALUES with a masked subquery',
    'INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 0, (SELECT email FROM public.customers LIMIT 1))',
  ],
];
for (const [name, sql] of launder) {
  test(`not laundered: ${name}`, async () => {
    const marker = `airlock_probe_${randomBytes(6).toString('hex')}`;
    const before = await h.writes();
    const e = await failure(c.query(`${sql} /* ${marker} */`));
    assert.equal(e.code, '42501', `${e.code}: ${e.message}`);
    assert.match(e.message, /could be read back unmasked/);
    assert.equal(await h.writes(), before);
    assert.deepEqual(h.logged(marker), []);
  });
}

test('storing unmasked columns of a masked table is still allowed', async () => {
  const r = await c.query(
    "INSERT INTO public.orders (customer_id, amount, status) SELECT id, 1, 'copied' FROM public.customers WHERE id = 1",
  );
  assert.equal(r.rowCount, 1);
});

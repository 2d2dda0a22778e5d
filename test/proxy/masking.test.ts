// Masking applies to a masked column however it reaches the client (design.md "Decision semantics"):
// aliases, subqueries, CTEs, casts, expressions, whole-row values, `*`, COPY TO, and values PostgreSQL
// echoes in an ErrorResponse (unique-violation DETAIL). Every case checks the raw values never appear.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, psql } from './harness.ts';
import type { Harness } from './harness.ts';

const RAW = /ava\.costa@example\.org|liam\.johansson|sofia\.haddad|919-56-7042|915-16-7669|915-13-4325/;

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

const reads: readonly (readonly [string, string])[] = [
  ['star', 'SELECT * FROM public.customers'],
  ['qualified star', 'SELECT c.* FROM public.customers c'],
  ['alias', 'SELECT email AS contact, ssn AS n FROM public.customers'],
  ['table alias', 'SELECT x.email FROM public.customers AS x'],
  ['subquery', 'SELECT e FROM (SELECT email AS e FROM public.customers) s'],
  ['CTE', 'WITH c AS (SELECT email, ssn FROM public.customers) SELECT * FROM c'],
  ['cast', 'SELECT email::varchar(200), ssn::text FROM public.customers'],
  ['expression', "SELECT upper(email), ssn || '' FROM public.customers"],
  ['concatenation with another column', "SELECT name || ' <' || email || '>' FROM public.customers"],
  ['whole row', 'SELECT c FROM public.customers c'],
  ['whole row as text', 'SELECT c::text FROM public.customers c'],
  ['row_to_json', 'SELECT row_to_json(c) FROM public.customers c'],
  ['join', 'SELECT o.id, c.email FROM public.orders o JOIN public.customers c ON c.id = o.customer_id'],
  ['union', 'SELECT email FROM public.customers UNION ALL SELECT status FROM public.orders'],
  ['aggregate', "SELECT string_agg(email, ',') FROM public.customers"],
  ['array', 'SELECT array_agg(ssn) FROM public.customers'],
  ['scalar subquery', 'SELECT (SELECT email FROM public.customers WHERE id = 1)'],
];

for (const [name, sql] of reads) {
  test(`masked: ${name}`, async () => {
    const c = await h.client();
    let rows: unknown[];
    try {
      rows = (await c.query(sql)).rows;
    } catch (e) {
      // Refusing is also safe; leaking is not. Refusals are 42501 with a reason.
      assert.equal((e as { code: string }).code, '42501', (e as Error).message);
      return;
    }
    assert.ok(rows.length > 0);
    assert.doesNotMatch(JSON.stringify(rows), RAW);
  });
}

test('partial masking keeps the shape of an e-mail, redact hides ssn entirely', async () => {
  const c = await h.client();
  const r = await c.query('SELECT email, ssn FROM public.customers WHERE id = 1');
  assert.doesNotMatch(r.rows[0].ssn, /\d{3}/);
  assert.match(r.rows[0].email, /@/);
});

test('unmasked columns pass through byte for byte', async () => {
  const c = await h.client();
  const direct = await h.admin('SELECT id, name FROM public.customers ORDER BY id');
  const via = await c.query('SELECT id, name FROM public.customers ORDER BY id');
  assert.deepEqual(via.rows, direct.rows);
});

test('a unique violation does not echo the masked value in DETAIL or message', async () => {
  const c = await h.client();
  const e = await failure(
    c.query("INSERT INTO public.customers VALUES (10, 'Dup', 'ava.costa@example.org', '900-00-0000')"),
  );
  assert.equal(e.code, '23505');
  assert.doesNotMatch(`${e.message} ${e.detail ?? ''}`, RAW);
});

test('COPY TO STDOUT masks the masked columns (psql)', async () => {
  const r = await psql(h, ['-c', 'COPY public.customers TO STDOUT']);
  if (r.code !== 0) {
    assert.match(r.err, /42501|permission denied/, r.err);
    return;
  }
  assert.match(r.out, /Ava Costa/);
  assert.doesNotMatch(r.out, RAW);
});

test('COPY (query) TO STDOUT CSV masks', async () => {
  const r = await psql(h, ['-c', 'COPY (SELECT id, email FROM public.customers) TO STDOUT (FORMAT csv)']);
  if (r.code !== 0) {
    assert.match(r.err, /42501|permission denied/, r.err);
    return;
  }
  assert.doesNotMatch(r.out, RAW);
});

test('COPY in binary format of a masked table is refused', async () => {
  const r = await psql(h, ['-c', 'COPY public.customers TO STDOUT (FORMAT binary)']);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.out, RAW);
});

// A masked value passed into a prepared statement's parameter: the prepared statement's own lineage is
// only `$1`, so the EXECUTE's argument must be taken into account (proxy/enforce/gate.ts withExecuted).
test('masked: a masked column passed as an EXECUTE argument', async () => {
  const c = await h.client();
  await c.query('PREPARE airlock_echo(text) AS SELECT $1 AS v');
  // PostgreSQL 15 itself refuses a subquery here (0A000); whichever side refuses, nothing leaks.
  try {
    const r = await c.query('EXECUTE airlock_echo((SELECT email FROM public.customers WHERE id = 1))');
    assert.doesNotMatch(JSON.stringify(r.rows), RAW);
  } catch (e) {
    assert.ok(['0A000', '42501'].includes((e as { code: string }).code), (e as Error).message);
    assert.doesNotMatch((e as Error).message, RAW);
  }
  // Without a masked read in the arguments the result passes through.
  const plain = await c.query("EXECUTE airlock_echo('hello')");
  assert.equal(plain.rows[0].v, 'hello');
  await c.end();
});

// partial shows a part chosen for the column's shape; on a computed value it would show part of the
// computation (the end of the local part here), so computed values are redacted.
test('partial masking is not applied to computed values', async () => {
  const c = await h.client();
  const r = await c.query(
    "SELECT split_part(email, '@', 1) AS local, email::varchar AS cast FROM public.customers WHERE id = 1",
  );
  assert.equal(r.rows[0].local, '***');
  assert.equal(r.rows[0].cast, 'a***@example.org');
  await c.end();
});

test('FETCH cannot unmask: a cursor over a computed masked value is refused, over the column it is masked', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  const e = await failure(c.query('DECLARE cur_computed CURSOR FOR SELECT lower(email) FROM public.customers'));
  assert.equal(e.code, '42501');
  await c.query('ROLLBACK');
  await c.query('BEGIN');
  await c.query('DECLARE cur_direct CURSOR FOR SELECT email, ssn FROM public.customers');
  const r = await c.query('FETCH 2 FROM cur_direct');
  assert.equal(r.rows.length, 2);
  assert.doesNotMatch(JSON.stringify(r.rows), RAW);
  await c.query('COMMIT');
  await c.end();
});

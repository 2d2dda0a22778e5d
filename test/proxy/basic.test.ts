// Connect through the proxy, run allowed statements, get denials without losing the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure } from './harness.ts';
import type { Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

test('an allowed SELECT returns the rows PostgreSQL returns', async () => {
  const c = await h.client();
  const r = await c.query('SELECT id, amount FROM public.orders ORDER BY id LIMIT 3');
  assert.deepEqual(
    r.rows.map((x) => x.id),
    [1, 2, 3],
  );
  assert.equal(r.rows[0].amount, '10.00');
});

test('masked columns are masked, other columns are not', async () => {
  const c = await h.client();
  const r = await c.query('SELECT id, name, email, ssn FROM public.customers ORDER BY id');
  assert.equal(r.rows[0].name, 'Ava Costa');
  assert.notEqual(r.rows[0].email, 'ava.costa@example.org');
  assert.notEqual(r.rows[0].ssn, '919-56-7042');
  assert.doesNotMatch(JSON.stringify(r.rows), /919-56-7042|ava\.costa@example\.org/);
});

// Found by the differential client harness (issue 12): an empty query was denied ("Query cannot be
// empty"), so psycopg_pool's check_connection and pgJDBC's isValid() failed every pooled connection.
test('an empty query gets EmptyQueryResponse, in the simple and the extended protocol', async () => {
  const c = await h.client();
  const simple = await c.query('');
  assert.equal(simple.command, null);
  assert.deepEqual(simple.rows, []);
  const extended = await c.query({ text: '', values: [], name: 'empty-check' });
  assert.deepEqual(extended.rows, []);
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('a denied statement gets 42501 naming policy and rule, and the session stays usable', async () => {
  const c = await h.client();
  const before = await h.writes();
  const e = await failure(c.query('DELETE FROM public.customers WHERE id = 1'));
  assert.equal(e.code, '42501');
  assert.match(e.message, /AccessPolicy "team\/trainer", rule "no-deletes"/);
  assert.equal(await h.writes(), before);
  const r = await c.query('SELECT 1 AS one');
  assert.equal(r.rows[0].one, 1);
});

// A denial inside a transaction block fails the transaction exactly as a failing statement would
// (docs/adr/0001-denial-by-poison-statement.md): 25P02 until ROLLBACK, and savepoints recover.
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

test('a denial fails the transaction; the next statement gets 25P02; ROLLBACK recovers', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query("INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, 'tx-denial')");
  const e = await failure(c.query('DELETE FROM public.customers WHERE id = 1'));
  assert.equal(e.code, '42501');
  const next = await failure(c.query('SELECT 1'));
  assert.equal(next.code, '25P02');
  await c.query('ROLLBACK');
  const r = await c.query("SELECT count(*)::int AS n FROM public.orders WHERE status = 'tx-denial'");
  assert.equal(r.rows[0].n, 0, 'the insert before the denial was rolled back with the transaction');
});

test('COMMIT of a transaction failed by a denial rolls back', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query("INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, 'tx-commit')");
  await failure(c.query('DROP TABLE public.orders'));
  const r = await c.query('COMMIT');
  assert.equal(r.command, 'ROLLBACK');
  const n = await c.query("SELECT count(*)::int AS n FROM public.orders WHERE status = 'tx-commit'");
  assert.equal(n.rows[0].n, 0);
});

test('ROLLBACK TO SAVEPOINT recovers from a denial and the work before it commits', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query("INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, 'tx-savepoint')");
  await c.query('SAVEPOINT s1');
  const e = await failure(c.query('DELETE FROM public.customers WHERE id = 2'));
  assert.equal(e.code, '42501');
  await c.query('ROLLBACK TO SAVEPOINT s1');
  await c.query("INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 2, 'tx-savepoint')");
  await c.query('COMMIT');
  const n = await c.query("SELECT count(*)::int AS n FROM public.orders WHERE status = 'tx-savepoint'");
  assert.equal(n.rows[0].n, 2);
  const cust = await h.admin('SELECT count(*)::int AS n FROM public.customers WHERE id = 2');
  assert.equal(cust.rows[0].n, 1);
});

test('a denial outside a transaction leaves the session idle', async () => {
  const c = await h.client();
  await failure(c.query('TRUNCATE public.orders'));
  await c.query('BEGIN');
  await c.query('SELECT 1');
  await c.query('COMMIT');
});

test('RESET ALL and DISCARD ALL (what pools reset connections with) run, and enforcement holds after them', async () => {
  const c = await h.client();
  await c.query("SET statement_timeout = '5s'");
  await c.query('PREPARE p1 AS SELECT 1');
  await c.query('RESET ALL');
  assert.equal((await c.query('SHOW statement_timeout')).rows[0].statement_timeout, '0');
  // search_path is what it was (it could never be changed), and the policy still resolves names through it.
  assert.equal((await c.query('SHOW search_path')).rows[0].search_path, '"$user", public');
  assert.equal((await failure(c.query('DELETE FROM customers WHERE id = 1'))).code, '42501');
  await c.query('DISCARD ALL');
  // The prepared statement is gone upstream, and the proxy forgot it too.
  assert.equal((await failure(c.query('EXECUTE p1'))).code, '42501');
  assert.equal((await failure(c.query('SET search_path TO pg_temp, public'))).code, '42501');
  assert.equal((await c.query('SELECT count(*)::int AS n FROM orders')).rows.length, 1);
  // Inside a transaction block PostgreSQL refuses DISCARD ALL itself (25001), and the session goes on.
  await c.query('BEGIN');
  assert.equal((await failure(c.query('DISCARD ALL'))).code, '25001');
  await c.query('ROLLBACK');
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

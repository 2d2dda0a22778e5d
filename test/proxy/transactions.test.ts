// A denial inside a transaction block fails the transaction exactly as a failing statement would
// (docs/adr/0001-denial-by-poison-statement.md): 25P02 until ROLLBACK, and savepoints recover.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure } from './harness.ts';
import type { Harness } from './harness.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h?.stop(); });

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

// maxAffectedRows (policy guardrail): a statement that touches more rows is rolled back, outside and
// inside a transaction block; one under the limit commits and its RETURNING rows arrive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, psql } from './harness.ts';
import type { Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

const pending = async () =>
  Number((await h.admin("SELECT count(*) AS n FROM public.orders WHERE status = 'pending'")).rows[0].n);

test('over the limit outside a transaction: 42501, rolled back, session idle', async () => {
  const c = await h.client();
  const before = await pending();
  const e = await failure(c.query("UPDATE public.orders SET status = 'x' WHERE id <= 10"));
  assert.equal(e.code, '42501');
  // 10 updated rows + the row the probe's statement trigger writes: what a statement changed counts its triggers
  assert.match(e.message, /affected 11 rows, more than maxAffectedRows 5 .*rolled back/);
  assert.equal(await pending(), before);
  await c.query('BEGIN'); // would warn/fail if the proxy had left a transaction open
  await c.query('COMMIT');
});

test('under the limit: committed, RETURNING rows delivered, tag intact', async () => {
  const c = await h.client();
  const r = await c.query("UPDATE public.orders SET status = 'paid' WHERE id IN (11, 12) RETURNING id");
  assert.equal(r.command, 'UPDATE');
  assert.equal(r.rowCount, 2);
  assert.deepEqual(r.rows.map((x) => x.id).sort(), [11, 12]);
  const n = await h.admin("SELECT count(*)::int AS n FROM public.orders WHERE status = 'paid'");
  assert.equal(n.rows[0].n, 2);
});

test('over the limit inside a transaction block: the block is failed, earlier work survives a savepoint rollback', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  await c.query("INSERT INTO public.orders (customer_id, amount, status) VALUES (1, 1, 'guard-tx')");
  await c.query('SAVEPOINT mine');
  const e = await failure(c.query('UPDATE public.orders SET amount = amount + 1 WHERE id <= 10'));
  assert.equal(e.code, '42501');
  const next = await failure(c.query('SELECT 1'));
  assert.equal(next.code, '25P02');
  await c.query('ROLLBACK TO SAVEPOINT mine');
  await c.query('COMMIT');
  const n = await h.admin("SELECT count(*)::int AS n FROM public.orders WHERE status = 'guard-tx'");
  assert.equal(n.rows[0].n, 1);
  const amounts = await h.admin('SELECT sum(amount)::int AS s FROM public.orders WHERE id <= 10');
  assert.equal(amounts.rows[0].s, 550);
});

test('under the limit inside a transaction block: the transaction continues', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  const r = await c.query("UPDATE public.orders SET status = 'shipped' WHERE id = 13");
  assert.equal(r.rowCount, 1);
  await c.query('ROLLBACK');
  const n = await h.admin('SELECT status FROM public.orders WHERE id = 13');
  assert.equal(n.rows[0].status, 'pending');
});

test('a guarded write that fails on its own passes the error through and leaves no transaction open', async () => {
  const c = await h.client();
  const e = await failure(c.query('UPDATE public.orders SET amount = -1 WHERE id = 1 AND 1/0 = 1'));
  assert.equal(e.code, '22012');
  const r = await c.query('SELECT 1 AS one');
  assert.equal(r.rows[0].one, 1);
});

test('extended protocol, over the limit: 42501 before Sync, nothing committed', async () => {
  const c = await h.client();
  const before = await pending();
  const e = await failure(c.query('UPDATE public.orders SET status = $1 WHERE id <= 10 RETURNING id', ['x']));
  assert.equal(e.code, '42501');
  assert.match(e.message, /more than maxAffectedRows 5/);
  assert.equal(await pending(), before);
  assert.equal((await c.query('SELECT $1::int AS n', [7])).rows[0].n, 7);
});

test('extended protocol, under the limit: committed with its RETURNING rows', async () => {
  const c = await h.client();
  const r = await c.query('UPDATE public.orders SET status = $1 WHERE id = 14 RETURNING id, status', ['refunded']);
  assert.deepEqual(r.rows, [{ id: 14, status: 'refunded' }]);
  const n = await h.admin('SELECT status FROM public.orders WHERE id = 14');
  assert.equal(n.rows[0].status, 'refunded');
});

test('extended protocol inside a block: over the limit fails the block', async () => {
  const c = await h.client();
  await c.query('BEGIN');
  const e = await failure(c.query('DELETE FROM public.orders WHERE id > $1', [0]));
  assert.equal(e.code, '42501');
  assert.equal((await failure(c.query('SELECT 1'))).code, '25P02');
  await c.query('ROLLBACK');
  const n = await h.admin('SELECT count(*)::int AS n FROM public.orders');
  assert.ok(n.rows[0].n >= 20);
});

test('COPY FROM STDIN over the limit is rolled back; under the limit it loads', async () => {
  const ten = Array.from({ length: 10 }, (_, i) => `${500 + i}\tv`).join('\n');
  const over = await psql(h, ['-c', 'COPY public.big (id, v) FROM STDIN'], `${ten}\n\\.\n`);
  assert.notEqual(over.code, 0);
  assert.match(over.err, /more than maxAffectedRows 5/);
  assert.equal((await h.admin('SELECT count(*)::int AS n FROM public.big WHERE id >= 500 AND id < 600')).rows[0].n, 0);
  const three = await psql(h, ['-c', 'COPY public.big (id, v) FROM STDIN'], '520\tv\n521\tv\n522\tv\n\\.\n');
  assert.equal(three.code, 0, three.err);
  assert.equal((await h.admin('SELECT count(*)::int AS n FROM public.big WHERE id >= 500 AND id < 600')).rows[0].n, 3);
});

// Issue 11, class 3: the CommandComplete tag counts only the top-level statement's rows. What a statement
// really changed is counted from the transaction's tuple counters, for every shape.
const orderCount = async () => Number((await h.admin('SELECT count(*) AS n FROM public.orders')).rows[0].n);
const statusCount = async (s: string) =>
  Number((await h.admin('SELECT count(*) AS n FROM public.orders WHERE status = $1', [s])).rows[0].n);

test('DML inside WITH is counted: a DELETE under a SELECT is rolled back over the limit', async () => {
  const c = await h.client();
  const before = await orderCount();
  for (const sql of [
    'WITH d AS (DELETE FROM public.orders WHERE id <= 10 RETURNING *) SELECT count(*) FROM d',
    'WITH d AS (DELETE FROM public.orders WHERE id <= 10 RETURNING id) SELECT id FROM d',
  ]) {
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', sql);
    assert.match(e.message, /more than maxAffectedRows 5 .*rolled back/);
    assert.equal(await orderCount(), before, sql);
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  }
  // extended protocol: the same shape, counted before the Sync commits
  const e = await failure(
    c.query('WITH d AS (DELETE FROM public.orders WHERE id <= $1 RETURNING *) SELECT count(*) FROM d', [10]),
  );
  assert.equal(e.code, '42501');
  assert.equal(await orderCount(), before);
  assert.equal((await c.query('SELECT $1::int AS n', [3])).rows[0].n, 3);
});

test('two data-modifying CTEs, each under the limit, together over it: rolled back', async () => {
  const c = await h.client();
  const sql =
    "WITH a AS (UPDATE public.orders SET status = 'cte-a' WHERE id BETWEEN 1 AND 4 RETURNING 1),"
    + " b AS (UPDATE public.orders SET status = 'cte-b' WHERE id BETWEEN 5 AND 8 RETURNING 1)"
    + ' SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n';
  const e = await failure(c.query(sql));
  assert.equal(e.code, '42501');
  assert.match(e.message, /affected \d+ rows, more than maxAffectedRows 5/);
  assert.equal((await statusCount('cte-a')) + (await statusCount('cte-b')), 0);
  const p = await failure(c.query(sql.replace("'cte-a'", '$1'), ['cte-a']));
  assert.equal(p.code, '42501');
  assert.equal((await statusCount('cte-a')) + (await statusCount('cte-b')), 0);
  // under the limit, the same shape commits and its result arrives
  const ok = await c.query(
    "WITH a AS (UPDATE public.orders SET status = 'cte-ok' WHERE id = 1 RETURNING 1) SELECT count(*)::int AS n FROM a",
  );
  assert.deepEqual(ok.rows, [{ n: 1 }]);
  assert.equal(await statusCount('cte-ok'), 1);
});

test('EXPLAIN ANALYZE of a write is counted: rolled back over the limit', async () => {
  const c = await h.client();
  const before = await statusCount('explained');
  for (const [sql, params] of [
    ["EXPLAIN ANALYZE UPDATE public.orders SET status = 'explained' WHERE id <= 10", []],
    ['EXPLAIN (ANALYZE, FORMAT JSON) UPDATE public.orders SET status = $1 WHERE id <= 10', ['explained']],
  ] as const) {
    const e = await failure(c.query(sql, [...params]));
    assert.equal(e.code, '42501', sql);
    assert.match(e.message, /more than maxAffectedRows 5/);
    assert.equal(await statusCount('explained'), before, sql);
  }
  // under the limit: the whole plan arrives, even when it has more lines than the limit has rows
  const r = await c.query(
    "EXPLAIN (ANALYZE, VERBOSE, BUFFERS) UPDATE public.orders SET status = 'explained' WHERE id = 2",
  );
  assert.ok(r.rows.length > 5, `${r.rows.length} plan lines`);
  assert.equal(await statusCount('explained'), before + 1);
});

test('a SELECT over a small data-modifying CTE returns every row, however many', async () => {
  const c = await h.client();
  const r = await c.query(
    "WITH u AS (UPDATE public.orders SET status = 'touched' WHERE id = 3 RETURNING id) SELECT g FROM generate_series(1, 50) g, u",
  );
  assert.equal(r.rows.length, 50);
  const p = await c.query(
    'WITH u AS (UPDATE public.orders SET status = $1 WHERE id = 3 RETURNING id) SELECT g FROM generate_series(1, 50) g, u',
    ['touched'],
  );
  assert.equal(p.rows.length, 50);
});

test('with track_counts off nothing can be counted: a guarded write is rolled back, and SET track_counts is refused', async () => {
  const c = await h.client();
  const e = await failure(c.query('SET track_counts = off'));
  assert.equal(e.code, '42501');
  await h.admin(`ALTER DATABASE ${JSON.stringify(h.db.database)} SET track_counts = off`);
  try {
    const off = await h.client();
    const before = await statusCount('uncounted');
    const u = await failure(off.query("UPDATE public.orders SET status = 'uncounted' WHERE id = 4"));
    assert.equal(u.code, '42501');
    assert.match(u.message, /could not be counted .*track_counts/);
    assert.equal(await statusCount('uncounted'), before);
    assert.equal((await off.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await h.admin(`ALTER DATABASE ${JSON.stringify(h.db.database)} RESET track_counts`);
  }
});

test('extended protocol: a guarded Execute whose Bind fails leaves the session usable (the held Sync is released)', async () => {
  const c = await h.client();
  const e = await failure(c.query('UPDATE public.orders SET amount = $1 WHERE id = 1', ['not a number']));
  assert.equal(e.code, '22P02');
  assert.equal((await c.query('SELECT $1::int AS n', [5])).rows[0].n, 5);
});

// COPY in both directions through the proxy, and rows far larger than one socket chunk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, psql, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';

let h: Harness;
// No maxAffectedRows here: bulk loads are the point (guardrails.test.ts covers COPY under the limit).
before(async () => {
  h = await startHarness({ policy: POLICY.replace('maxAffectedRows: 5', 'maxAffectedRows: 1000000') });
});
after(async () => {
  await h?.stop();
});

test('COPY FROM STDIN loads rows (psql)', async () => {
  const rows = Array.from({ length: 2000 }, (_, i) => `${100000 + i}\tvalue ${i}`).join('\n');
  const r = await psql(h, ['-c', 'COPY public.big (id, v) FROM STDIN'], `${rows}\n\\.\n`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /COPY 2000/);
  const n = await h.admin('SELECT count(*)::int AS n FROM public.big WHERE id >= 100000');
  assert.equal(n.rows[0].n, 2000);
});

test('COPY TO STDOUT of an unmasked table returns every row', async () => {
  const r = await psql(h, ['-c', 'COPY public.orders (id, status) TO STDOUT']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim().split('\n').length, 20);
});

// Found by the differential client harness (issue 12, test/clients/): a schema-qualified table with
// no masked column, no column list, under a policy that masks another table, ended the session with
// FATAL "COPY output could not be matched to its masked columns" (psycopg, pgx, asyncpg all send it so).
test('COPY of a schema-qualified unmasked table without a column list, text and binary (issue 12)', async () => {
  for (const opts of ['', ' (FORMAT csv)', ' (FORMAT binary)']) {
    const r = await psql(h, ['-c', `COPY public.orders TO STDOUT${opts}`, '-c', 'SELECT 42 AS still_here']);
    assert.equal(r.code, 0, `${opts}: ${r.err}`);
    assert.match(r.out, /42/);
    if (opts !== ' (FORMAT binary)') assert.equal(r.out.trim().split('\n').length, 20 + 4, r.out);
  }
  // …while the masked table still gets its masks, qualified or not.
  const masked = await psql(h, ['-c', 'COPY public.customers TO STDOUT']);
  assert.equal(masked.code, 0, masked.err);
  assert.doesNotMatch(masked.out, /919-56-7042|ava\.costa@example\.org/);
  assert.equal(masked.out.trim().split('\n').length, 3);
});

test('a 10 MB value round-trips through the proxy both ways', async () => {
  const c = await h.client();
  const big = 'x'.repeat(10 * 1024 * 1024 - 3) + 'end';
  await c.query('INSERT INTO public.big (id, v) VALUES ($1, $2)', [1, big]);
  const r = await c.query('SELECT v FROM public.big WHERE id = 1');
  assert.equal(r.rows[0].v.length, big.length);
  assert.equal(r.rows[0].v.slice(-3), 'end');
  const simple = await c.query('SELECT length(v) AS n, v FROM public.big WHERE id = 1');
  assert.equal(simple.rows[0].v, big);
});

test('many small rows arrive intact (pass-through runs across chunks)', async () => {
  const c = await h.client();
  const r = await c.query('SELECT i, md5(i::text) AS h FROM generate_series(1, 50000) i');
  assert.equal(r.rows.length, 50000);
  assert.equal(r.rows[49999].i, 50000);
  const direct = await h.admin("SELECT md5('50000') AS h");
  assert.equal(r.rows[49999].h, direct.rows[0].h);
});

test('a statement over --max-statement-bytes is refused with 54000 and the session goes on', async () => {
  const c = await h.client();
  const huge = `SELECT 1 WHERE 1 IN (${Array.from({ length: 300000 }, (_, i) => i).join(',')})`;
  assert.ok(huge.length > 1024 * 1024);
  await assert.rejects(c.query(huge), (e: { code: string }) => e.code === '54000');
  assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
});

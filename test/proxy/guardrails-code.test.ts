// Issue 11, class 3: maxAffectedRows counts rows changed by code a statement runs — a user function in a
// SELECT, a procedure, a DO block — not only its own DML. Such a statement runs as a guarded write.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { quoteIdent } from '../support/pg.ts';

const CODE_POLICY = POLICY.replace(
  '    - { name: sleep,',
  '    - { name: code, effect: allow, operations: [CALL], functions: ["public.purge*", "public.stamp", "pg_catalog.do"] }\n    - { name: sleep,',
);

let h: Harness;
before(async () => {
  h = await startHarness({ policy: CODE_POLICY });
  await h.admin(`
    CREATE FUNCTION public.purge(n int) RETURNS int LANGUAGE plpgsql AS $$
      BEGIN UPDATE public.orders SET status = 'purged' WHERE id <= n; RETURN n; END $$;
    CREATE FUNCTION public.purge_stable(n int) RETURNS int LANGUAGE sql STABLE AS 'SELECT public.purge(n)';
    CREATE PROCEDURE public.purge_proc(n int) LANGUAGE sql AS $$ UPDATE public.orders SET status = 'purged' WHERE id <= n $$;
    CREATE FUNCTION public.stamp() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${quoteIdent(h.role.user)};
    GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA public TO ${quoteIdent(h.role.user)};`);
});
after(async () => {
  await h?.stop();
});

const purged = async () =>
  Number((await h.admin("SELECT count(*) AS n FROM public.orders WHERE status = 'purged'")).rows[0].n);

test('a function that changes more rows than the limit is rolled back, whatever its volatility label', async () => {
  const c = await h.client();
  for (const sql of [
    'SELECT public.purge(10)',
    'SELECT public.purge_stable(10)',
    'CALL public.purge_proc(10)',
    'DO $$ BEGIN PERFORM public.purge(10); END $$',
  ]) {
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', sql);
    assert.match(e.message, /more than maxAffectedRows 5 .*rolled back/, sql);
    assert.equal(await purged(), 0, sql);
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  }
  const p = await failure(c.query('SELECT public.purge($1)', [10]));
  assert.equal(p.code, '42501');
  assert.equal(await purged(), 0);
});

test('under the limit the function runs and commits; built-ins are not guarded', async () => {
  const c = await h.client();
  const r = await c.query('SELECT public.purge(2) AS n');
  assert.deepEqual(r.rows, [{ n: 2 }]);
  assert.equal(await purged(), 2);
  // a built-in call is no reason to guard: it still runs in a multi-statement string
  const m = await c.query('SELECT lower(status) FROM public.orders WHERE id = 1; SELECT now() IS NOT NULL AS t');
  assert.ok(Array.isArray(m));
});

// Issue 11, class 1: a view (materialized view, set-returning SQL function, rule-rewritten table) over
// masked columns must not return them raw. RowDescription names the view, not the base table; the proxy
// resolves the view to what it reads from the catalog and masks through it — `redact` where the lineage
// cannot be established. Policy rules decide on the view's own name (PostgreSQL's semantics).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { quoteIdent } from '../support/pg.ts';

const RAW = /ava\.costa@example\.org|liam\.johansson|sofia\.haddad|919-56-7042|915-16-7669|915-13-4325/;

// Reads on the views and functions below, writes to the rule table and to orders; masking unchanged.
const VIEWS_POLICY = POLICY.replace(
  'tables: ["public.customers", "public.orders", "public.big"] }',
  'tables: ["public.customers", "public.orders", "public.big", "public.v_*", "public.mv_*", "public.rule_log", "reports.*"] }',
).replace(
  '    - { name: add-customers,',
  '    - { name: log, effect: allow, operations: [INSERT], tables: ["public.rule_log"] }\n'
    + '    - { name: report-fns, effect: allow, operations: [CALL], functions: ["public.f_*"] }\n    - { name: add-customers,',
);

const DEFINITIONS = `
CREATE VIEW public.v_contacts AS SELECT id, name, email, ssn FROM public.customers;
CREATE VIEW public.v_renamed (cid, contact, tax_id) AS SELECT id, email, ssn FROM public.customers;
CREATE VIEW public.v_computed AS SELECT id, lower(email) AS e, ssn || '' AS s, name FROM public.customers;
CREATE VIEW public.v_nested AS SELECT cid, contact AS c2, tax_id FROM public.v_renamed;
CREATE VIEW public.v_rows AS SELECT c FROM public.customers c;
CREATE VIEW public.v_safe AS SELECT id, name FROM public.customers;
CREATE MATERIALIZED VIEW public.mv_contacts AS SELECT id, email, ssn FROM public.customers;
CREATE FUNCTION public.f_customers() RETURNS SETOF public.customers LANGUAGE sql STABLE AS 'SELECT * FROM public.customers';
CREATE FUNCTION public.f_ssn(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT ssn FROM public.customers WHERE id = $1';
CREATE FUNCTION public.f_atomic() RETURNS TABLE (e text) LANGUAGE sql STABLE BEGIN ATOMIC SELECT email FROM public.customers; END;
CREATE VIEW public.v_func AS SELECT * FROM public.f_customers();
CREATE SCHEMA reports;
CREATE VIEW reports.v_far AS SELECT * FROM public.v_nested;
CREATE TABLE public.rule_log (note text);
CREATE RULE leak AS ON INSERT TO public.rule_log DO INSTEAD SELECT id, lower(email) AS e, ssn FROM public.customers;
`;

let h: Harness;
before(async () => {
  h = await startHarness({ policy: VIEWS_POLICY });
  await h.admin(DEFINITIONS);
  await h.admin(`GRANT USAGE ON SCHEMA reports TO ${quoteIdent(h.role.user)};
    GRANT SELECT ON ALL TABLES IN SCHEMA public, reports TO ${quoteIdent(h.role.user)};
    GRANT INSERT ON public.rule_log TO ${quoteIdent(h.role.user)};`);
});
after(async () => {
  await h?.stop();
});

const reads: readonly (readonly [string, string])[] = [
  ['star over a view', 'SELECT * FROM public.v_contacts'],
  ['a view column by name', 'SELECT ssn, email FROM public.v_contacts'],
  ['renamed view columns', 'SELECT * FROM public.v_renamed'],
  ['expressions inside the view', 'SELECT * FROM public.v_computed'],
  ['a view over a view', 'SELECT * FROM public.v_nested'],
  ['three levels, another schema', 'SELECT * FROM reports.v_far'],
  ['an expression over a view column', "SELECT upper(tax_id) || '', contact::text FROM public.v_renamed"],
  ['a view column through a subquery and an alias', 'SELECT x FROM (SELECT c2 AS x FROM public.v_nested) s'],
  ['a whole row of a view', 'SELECT v FROM public.v_contacts v'],
  ['a view of whole rows', 'SELECT * FROM public.v_rows'],
  ['a materialized view', 'SELECT * FROM public.mv_contacts'],
  ['a set-returning SQL function', 'SELECT * FROM public.f_customers()'],
  ['a scalar SQL function', 'SELECT public.f_ssn(id) FROM public.orders'],
  ['a BEGIN ATOMIC SQL function', 'SELECT * FROM public.f_atomic()'],
  ['a view over a set-returning SQL function', 'SELECT * FROM public.v_func'],
  ['extended protocol', 'SELECT * FROM public.v_nested WHERE cid > $1'],
];

for (const [name, sql] of reads) {
  test(`masked through ${name}`, async () => {
    const c = await h.client();
    let rows: unknown[];
    try {
      rows = (await c.query(sql, sql.includes('$1') ? [0] : undefined)).rows;
    } catch (e) {
      assert.equal((e as { code: string }).code, '42501', (e as Error).message); // refusing is safe too
      return;
    }
    assert.ok(rows.length > 0, sql);
    assert.doesNotMatch(JSON.stringify(rows), RAW, sql);
  });
}

test('masking follows the column through the view with its own strategy', async () => {
  const c = await h.client();
  const r = await c.query('SELECT id, name, email, ssn FROM public.v_contacts WHERE id = 1');
  assert.deepEqual(r.rows, [{ id: 1, name: 'Ava Costa', email: 'a***@example.org', ssn: '***' }]);
  const n = await c.query('SELECT * FROM public.v_nested WHERE cid = 1');
  assert.deepEqual(n.rows, [{ cid: 1, c2: 'a***@example.org', tax_id: '***' }]);
  const e = await c.query('SELECT e, name FROM public.v_computed WHERE id = 1');
  assert.deepEqual(e.rows, [{ e: '***', name: 'Ava Costa' }]); // computed from email: redact, not partial
});

test('an error read through a view hides the masked value it quotes, and keeps the names', async () => {
  const c = await h.client();
  // The output names no masked column: only the view's lineage says the cast reads one.
  const e = await failure(c.query('SELECT id FROM public.v_contacts WHERE ssn::int = 1'));
  assert.equal(e.code, '22P02');
  assert.doesNotMatch(`${e.message} ${e.detail ?? ''}`, RAW);
  assert.match(e.message, /invalid input syntax for type integer/);
  const f = await failure(c.query('SELECT public.f_ssn(id)::int FROM public.orders'));
  assert.equal(f.code, '22P02');
  assert.doesNotMatch(`${f.message} ${f.detail ?? ''}`, RAW);
  // Names are not values: a missing column of a view is named.
  const g = await failure(c.query('SELECT nope FROM public.v_contacts'));
  assert.match(g.message, /column "nope" does not exist/);
});

test('a view that reads no masked column is not masked', async () => {
  const c = await h.client();
  const r = await c.query('SELECT * FROM public.v_safe ORDER BY id LIMIT 1');
  assert.deepEqual(r.rows, [{ id: 1, name: 'Ava Costa' }]);
});

test('a statement rewritten by a rule into a read of masked columns is masked', async () => {
  const c = await h.client();
  let rows: unknown[];
  try {
    rows = (await c.query("INSERT INTO public.rule_log VALUES ('x')")).rows;
  } catch (e) {
    assert.equal((e as { code: string }).code, '42501', (e as Error).message);
    return;
  }
  assert.ok(rows.length > 0);
  assert.doesNotMatch(JSON.stringify(rows), RAW);
});

test('copying a masked value out of a view is refused', async () => {
  const c = await h.client();
  for (const sql of [
    'INSERT INTO public.orders (customer_id, amount, status) SELECT cid, 1, tax_id FROM public.v_renamed WHERE cid = 1',
    'UPDATE public.orders SET status = (SELECT ssn FROM public.mv_contacts WHERE id = 1) WHERE id = 1',
    'INSERT INTO public.orders (customer_id, amount, status) SELECT 1, 1, public.f_ssn(1)',
  ]) {
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', sql);
  }
  assert.equal((await h.admin("SELECT count(*)::int AS n FROM public.orders WHERE status LIKE '9%'")).rows[0].n, 0);
});

test("rules decide on the view name: a view needs its own rule, the base table's does not open it", async () => {
  const c = await h.client();
  await h.admin(`CREATE VIEW public.secret_view AS SELECT v FROM public.secrets;
    GRANT SELECT ON public.secret_view TO ${quoteIdent(h.role.user)}`);
  const e = await failure(c.query('SELECT * FROM public.secret_view'));
  assert.equal(e.code, '42501');
  assert.match(e.message, /secret_view/);
});

test('a view created after the session started is masked once the session sees it', async () => {
  const c = await h.client();
  await c.query('SELECT 1');
  await h.admin(`CREATE VIEW public.v_late AS SELECT id, ssn FROM public.customers;
    GRANT SELECT ON public.v_late TO ${quoteIdent(h.role.user)}`);
  // a new session fetches the catalog when it starts (or within the catalog's maximum age)
  const fresh = await h.client();
  const r = await fresh.query('SELECT * FROM public.v_late');
  assert.doesNotMatch(JSON.stringify(r.rows), RAW);
});

test('a live session refetches views once its catalog is older than 10 s, before deciding', async () => {
  const c = await h.client();
  await h.admin(`CREATE VIEW public.v_swap AS SELECT id, name AS info FROM public.customers;
    GRANT SELECT ON public.v_swap TO ${quoteIdent(h.role.user)}`);
  const prepared = await h.client();
  const swap = { name: 'swap', text: 'SELECT info FROM public.v_swap WHERE id = $1', values: [1] };
  assert.deepEqual((await prepared.query(swap)).rows, [{ info: 'Ava Costa' }]);
  await c.query('SELECT 1');
  await h.admin(`CREATE VIEW public.v_later AS SELECT id, email FROM public.customers;
    GRANT SELECT ON public.v_later TO ${quoteIdent(h.role.user)};
    CREATE OR REPLACE VIEW public.v_swap AS SELECT id, ssn AS info FROM public.customers`);
  await new Promise((res) => setTimeout(res, 10_500));
  // a statement prepared before the view changed, bound again without a new Parse
  assert.deepEqual((await prepared.query(swap)).rows, [{ info: '***' }]);
  const r = await c.query('SELECT email FROM public.v_later WHERE id = 1');
  assert.deepEqual(r.rows, [{ email: 'a***@example.org' }]);
  const p = await c.query('SELECT email FROM public.v_later WHERE id = $1', [1]);
  assert.deepEqual(p.rows, [{ email: 'a***@example.org' }]);
});

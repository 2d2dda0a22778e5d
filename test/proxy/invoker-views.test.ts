// security_invoker views (PostgreSQL 15+): PostgreSQL checks what such a view reads against the caller,
// so Airlock must too (policy/invoker.ts). The binding's role here may read every table — PostgreSQL
// alone would let each statement below through — so Airlock's decision is the only guard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { quoteIdent } from '../support/pg.ts';

// Reads on public.v_* allowed; public.secrets is in no rule.
const INVOKER_POLICY = POLICY.replace(
  'tables: ["public.customers", "public.orders", "public.big"] }',
  'tables: ["public.customers", "public.orders", "public.big", "public.v_*"] }',
);

const DEFINITIONS = `
CREATE VIEW public.v_inv WITH (security_invoker) AS SELECT id, v FROM public.secrets;
CREATE VIEW public.v_inv_on WITH (security_invoker = on) AS SELECT id FROM public.orders WHERE EXISTS (SELECT 1 FROM public.secrets);
CREATE VIEW public.v_inv_orders WITH (security_invoker = true) AS SELECT id, status FROM public.orders;
CREATE VIEW public.v_inv_outer WITH (security_invoker = 1) AS SELECT * FROM public.v_inv;
CREATE VIEW public.v_owner WITH (security_invoker = false) AS SELECT id, v FROM public.secrets;
CREATE VIEW public.v_plain_over_inv AS SELECT * FROM public.v_inv;
CREATE VIEW public.v_later AS SELECT id, v FROM public.secrets;
`;

let h: Harness;
before(async () => {
  h = await startHarness({ policy: INVOKER_POLICY });
  await h.admin(DEFINITIONS);
  await h.admin(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${quoteIdent(h.role.user)}`);
});
after(async () => {
  await h?.stop();
});

const refused: readonly (readonly [string, string])[] = [
  ['a security_invoker view over a table no rule allows', 'SELECT * FROM public.v_inv'],
  ['unqualified, through the search_path', 'SELECT v FROM v_inv'],
  ["the base table read only in the view's WHERE", 'SELECT * FROM public.v_inv_on'],
  ['nested security_invoker views', 'SELECT * FROM public.v_inv_outer'],
  ['inside a sub-query', 'SELECT (SELECT count(*) FROM public.v_inv) AS n'],
  ['in a CTE', 'WITH w AS (SELECT * FROM public.v_inv) SELECT * FROM w'],
  ['under EXPLAIN', 'EXPLAIN SELECT * FROM public.v_inv'],
  ['COPY (query)', 'COPY (SELECT * FROM public.v_inv) TO STDOUT'],
];
for (const [name, sql] of refused) {
  test(`refused like PostgreSQL would for the caller: ${name}`, async () => {
    const c = await h.client();
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', e.message);
    assert.match(e.message, /secrets/, e.message);
    // the session goes on
    assert.equal((await c.query('SELECT 1 AS x')).rows[0].x, 1);
  });
}

test('extended protocol: refused the same way', async () => {
  const c = await h.client();
  const e = await failure(c.query({ text: 'SELECT * FROM public.v_inv WHERE id > $1', values: [0] }));
  assert.equal(e.code, '42501');
  assert.match(e.message, /secrets/);
});

test('allowed where PostgreSQL would allow the caller: base tables a rule allows, owner-checked views', async () => {
  const c = await h.client();
  assert.ok((await c.query('SELECT * FROM public.v_inv_orders')).rows.length > 0);
  // security_invoker = false and a plain view over an invoker view: checked against the view's owner
  assert.equal((await c.query('SELECT v FROM public.v_owner')).rows[0].v, 'top secret');
  assert.equal((await c.query('SELECT v FROM public.v_plain_over_inv')).rows[0].v, 'top secret');
});

test('a view switched to security_invoker is decided anew, not from a cached verdict', async () => {
  const first = await h.client();
  assert.equal((await first.query('SELECT v FROM public.v_later')).rows[0].v, 'top secret');
  await h.admin('ALTER VIEW public.v_later SET (security_invoker = true)');
  // A session started after the change fetches it; the same text must not be served from the decision
  // cache the first session filled (its key holds the catalog's security_invoker views).
  const fresh = await h.client();
  const e = await failure(fresh.query('SELECT v FROM public.v_later'));
  assert.equal(e.code, '42501');
  assert.match(e.message, /security_invoker view public\.v_later/);
});

// Lineage: where each output value, stored value and notification payload comes from, so masking survives
// aliases, casts, sub-queries, CTEs, set operations, rows and stars, and cannot be laundered through a write.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ColumnSource } from '../types.ts';
import { analyze } from './analyze.ts';
import { initAnalyzer } from './testing-parser.ts';
import { col, der, row, star, OPAQUE, CONST } from './testing-facts.ts';

before(async () => {
  await initAnalyzer();
});

// ---------------------------------------------------------------------------------------------
// Output lineage: masking must survive aliases, casts, sub-queries, CTEs, set operations, rows, stars.

const lineage: readonly (readonly [string, string, readonly ColumnSource[]])[] = [
  ['alias', 'SELECT email AS e FROM customers', [col('customers', 'email')]],
  ['table alias', 'SELECT c.email FROM customers c', [col('customers', 'email')]],
  [
    'schema-qualified column',
    'SELECT public.customers.email FROM public.customers',
    [col('customers', 'email', 'public')],
  ],
  [
    'cast keeps the column',
    'SELECT email::text, CAST(email AS varchar) FROM customers',
    [col('customers', 'email'), col('customers', 'email')],
  ],
  ['COLLATE keeps the column', 'SELECT email COLLATE "C" FROM customers', [col('customers', 'email')]],
  ['expression is derived', "SELECT lower(email) || '!' FROM customers", [der(col('customers', 'email'))]],
  ['aggregate is derived', 'SELECT max(email) FROM customers', [der(col('customers', 'email'))]],
  [
    'CASE and COALESCE',
    'SELECT CASE WHEN x THEN email ELSE phone END, coalesce(email, phone) FROM customers',
    [
      der(col('customers', 'x'), col('customers', 'email'), col('customers', 'phone')),
      der(col('customers', 'email'), col('customers', 'phone')),
    ],
  ],
  ['literal', "SELECT 1, 'x'", [CONST, CONST]],
  ['subquery in FROM', 'SELECT s.e FROM (SELECT email AS e FROM customers) s', [col('customers', 'email')]],
  ['subquery column aliases', 'SELECT s.x FROM (SELECT email FROM customers) s(x)', [col('customers', 'email')]],
  [
    'subquery star',
    'SELECT * FROM (SELECT email, id FROM customers) s',
    [col('customers', 'email'), col('customers', 'id')],
  ],
  ['star of a star subquery', 'SELECT * FROM (SELECT * FROM customers) s', [star('customers')]],
  ['column through a star subquery', 'SELECT email FROM (SELECT * FROM customers) s', [col('customers', 'email')]],
  ['CTE', 'WITH c AS (SELECT email AS mail FROM customers) SELECT mail FROM c', [col('customers', 'email')]],
  ['CTE column list', 'WITH c(m) AS (SELECT email FROM customers) SELECT m FROM c', [col('customers', 'email')]],
  [
    'nested CTE and subquery',
    'WITH c AS (SELECT * FROM (SELECT email FROM customers) x) SELECT c.email FROM c',
    [col('customers', 'email')],
  ],
  [
    'UNION',
    'SELECT email FROM customers UNION SELECT name FROM staff',
    [der(col('customers', 'email'), col('staff', 'name'))],
  ],
  ['UNION with star', 'SELECT * FROM customers UNION SELECT * FROM staff', [star('customers', 'staff')]],
  ['whole row', 'SELECT c FROM customers c', [row('customers')]],
  ['whole row in function', 'SELECT row_to_json(c) FROM customers c', [row('customers')]],
  ['t.* inside an expression', 'SELECT c.*::text FROM customers c', [row('customers')]],
  ['ROW(t.*)', 'SELECT ROW(c.*) FROM customers c', [row('customers')]],
  ['field of a whole row', 'SELECT (c).email FROM customers c', [col('customers', 'email')]],
  ['top-level star', 'SELECT * FROM customers', [star('customers')]],
  ['star over a join', 'SELECT * FROM customers JOIN orders USING (id)', [star('customers', 'orders')]],
  ['qualified star', 'SELECT o.*, c.email FROM customers c, orders o', [star('orders'), col('customers', 'email')]],
  [
    'ambiguous unqualified column',
    'SELECT email FROM customers, orders',
    [der(col('customers', 'email'), col('orders', 'email'))],
  ],
  ['scalar subquery', 'SELECT (SELECT email FROM customers LIMIT 1)', [der(col('customers', 'email'))]],
  [
    'correlated scalar subquery keeps every candidate',
    'SELECT (SELECT email FROM orders o WHERE o.cid = c.id) FROM customers c',
    [der(col('orders', 'email'), col('customers', 'email'))],
  ],
  ['user function is opaque', 'SELECT app.decrypt(ssn) FROM customers', [OPAQUE]],
  ['VALUES', 'VALUES (1, 2)', [CONST, CONST]],
  ['RETURNING alias', 'DELETE FROM customers c WHERE id = 1 RETURNING c.email AS gone', [col('customers', 'email')]],
  [
    'RETURNING old/new',
    'UPDATE customers SET email = lower(email) WHERE id = 1 RETURNING old.email, new.email',
    [col('customers', 'email'), col('customers', 'email')],
  ],
  [
    'aliased join hides inner names',
    'SELECT j.email FROM (customers JOIN orders USING (id)) AS j',
    [der(col('customers', 'email'), col('orders', 'email'))],
  ],
  [
    'recursive CTE carries the column',
    'WITH RECURSIVE r AS (SELECT email, 1 AS n FROM customers UNION ALL SELECT email, n + 1 FROM r WHERE n < 3) SELECT email FROM r',
    [der(col('customers', 'email'))],
  ],
  [
    'recursive CTE swapping columns',
    'WITH RECURSIVE r(a, b) AS (SELECT email, phone FROM customers UNION ALL SELECT b, a FROM r) SELECT a FROM r',
    [der(col('customers', 'email'), col('customers', 'phone'))],
  ],
  ['table_to_xml of a table', "SELECT table_to_xml('customers', true, false, '')", [row('customers')]],
  ['COPY query lineage', 'COPY (SELECT email FROM customers) TO STDOUT', [col('customers', 'email')]],
];

for (const [name, sql, want] of lineage) {
  test(`lineage: ${name}`, () => {
    const a = analyze(sql);
    assert.equal(a.error, null);
    assert.deepEqual(a.statements[0]!.unsupported, []);
    assert.deepEqual(a.statements[0]!.outputs, want);
  });
}

test('an ordered-set aggregate carries the lineage of the values it sorts', () => {
  // percentile_disc / mode return one of the sorted values: before, the output was derived from the
  // fraction only, and the oracle saw a raw e-mail reach the client.
  for (const sql of [
    'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY email) FROM public.customers',
    'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY (SELECT email FROM public.customers LIMIT 1))',
  ]) {
    const out = analyze(sql).statements[0]!.outputs[0]!;
    assert.equal(out.kind, 'derived', sql);
    assert.ok(
      out.kind === 'derived'
        && out.from.some((f) => f.kind === 'column' && f.column === 'email' && f.relation.name === 'customers'),
      sql,
    );
  }
});

// StatementFacts.written: the lineage of every value a statement stores (masking must not launder).
const stores: readonly (readonly [string, string, readonly string[]])[] = [
  [
    'INSERT … SELECT',
    'INSERT INTO orders (a, b) SELECT id, length(ssn) FROM customers',
    ['customers.id', 'customers.ssn'],
  ],
  [
    'INSERT VALUES with a subquery',
    'INSERT INTO orders VALUES ((SELECT email FROM customers LIMIT 1))',
    ['customers.email'],
  ],
  [
    'UPDATE SET from another table',
    'UPDATE orders SET note = (SELECT email FROM customers c WHERE c.id = 1) WHERE id = 1',
    ['customers.email'],
  ],
  ['UPDATE SET a constant', "UPDATE customers SET name = 'x' WHERE id = 1", []],
  ['UPDATE SET from the same table', 'UPDATE customers SET name = email WHERE id = 1', ['customers.email']],
  [
    'ON CONFLICT DO UPDATE',
    "INSERT INTO t (id, v) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = excluded.v || t.secret",
    ['t.secret'],
  ],
  ['CREATE VIEW', 'CREATE VIEW v AS SELECT email FROM customers', ['customers.email']],
  ['CREATE TABLE AS', 'CREATE TABLE t2 AS SELECT ssn FROM customers', ['customers.ssn']],
  ['SELECT INTO with a star', 'SELECT * INTO t3 FROM customers', ['*customers']],
  [
    'a filter column is not stored',
    "INSERT INTO orders (customer_id) SELECT id FROM customers WHERE email = 'x'",
    ['customers.id'],
  ],
  ['a plain SELECT stores nothing', 'SELECT email FROM customers', []],
];
function leavesOf(s: ColumnSource, out: string[]): void {
  if (s.kind === 'column') out.push(`${s.relation.name}.${s.column}`);
  else if (s.kind === 'row') out.push(`row ${s.relation.name}`);
  else if (s.kind === 'star') for (const r of s.relations) out.push(`*${r.name}`);
  else if (s.kind === 'derived') for (const f of s.from) leavesOf(f, out);
  else out.push('opaque');
}
// StatementFacts.notified: the lineage of every pg_notify payload (listeners receive it as it is).
const notifies: readonly (readonly [string, string, readonly string[]])[] = [
  ['a masked column as payload', "SELECT pg_notify('c', ssn) FROM customers", ['customers.ssn']],
  ['an expression over it', "SELECT pg_notify('c', 'x' || lower(email)) FROM customers", ['customers.email']],
  ['a whole row', "SELECT pg_notify('c', c::text) FROM customers c", ['row customers']],
  ['in WHERE, not in the target list', "SELECT id FROM customers WHERE pg_notify('c', ssn) IS NULL", ['customers.ssn']],
  ['a scalar subquery', "SELECT pg_notify('c', (SELECT ssn FROM customers LIMIT 1))", ['customers.ssn']],
  ['a constant payload', "SELECT pg_notify('c', 'hello')", []],
  ['NOTIFY statement payloads are literals', "NOTIFY c, 'hello'", []],
];
for (const [name, sql, want] of notifies) {
  test(`notification payloads: ${name}`, () => {
    const f = analyze(sql).statements[0];
    assert.ok(f !== undefined, sql);
    const got: string[] = [];
    for (const s of f.notified ?? []) leavesOf(s, got);
    assert.deepEqual(got.sort(), [...want].sort());
  });
}

for (const [name, sql, want] of stores) {
  test(`stored values: ${name}`, () => {
    const f = analyze(sql).statements[0];
    assert.ok(f !== undefined, sql);
    const got: string[] = [];
    for (const s of f.written ?? []) leavesOf(s, got);
    for (const w of want) assert.ok(got.includes(w), `${w} missing from ${JSON.stringify(got)}`);
    if (want.length === 0) assert.deepEqual(got, []);
    if (name === 'a filter column is not stored') assert.ok(!got.includes('customers.email'));
  });
}

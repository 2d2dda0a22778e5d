// The privilege oracle's bounded budget (issue 11): every catalog function, relation and setting
// PostgreSQL keeps from PUBLIC, then a few random allow-only policies × generated statements, each run
// through Airlock (superuser binding) and directly as a role with the equivalent GRANTs. Fails on any
// statement Airlock allowed that PostgreSQL refused for privileges (42501), and on any raw masked value
// that reached the client, unless it belongs to a known class (oracle.ts). The seed is fixed so a
// failure reproduces; `scripts/oracle.ts` runs larger budgets with random seeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { report, runBudget, startOracle } from './oracle.ts';
import type { OracleRun } from './oracle.ts';

let o: OracleRun;
before(async () => {
  o = await startOracle();
});
after(async () => {
  await o?.stop();
});

test('the oracle sees what it must: the catalog lists restricted objects, a bypass is flagged, a security_invoker view is refused', async () => {
  // Without these the sweep below would pass vacuously.
  assert.ok(
    o.catalog.restrictedCalls.some((c) => c.startsWith('pg_catalog.pg_read_file(')),
    'pg_read_file is restricted',
  );
  assert.ok(o.catalog.restrictedRelations.includes('pg_catalog.pg_authid'));
  assert.ok(o.catalog.superuserSettings.includes('session_replication_role'));
  assert.ok(o.catalog.hiddenSettings.includes('data_directory'));
  // The judge itself: a statement Airlock allows and PostgreSQL refuses is reported as a bypass (here
  // the documented one: a write's WHERE reads its target without SELECT).
  await o.use({ tables: { notes: ['UPDATE'] }, callAdd: false });
  const filter = await o.check('UPDATE notes SET body = body WHERE id = 1');
  assert.equal(filter.verdict, 'bypass');
  assert.match(filter.known ?? '', /^filter-read/);
  assert.equal(filter.direct.code, '42501');
  // …and one both refuse is not: a security_invoker view whose base table the policy does not allow
  // (policy/invoker.ts; it was a bypass until Airlock checked the view's reads as PostgreSQL does).
  await o.use({ tables: { v_inv: ['SELECT'] }, callAdd: false });
  const inv = await o.check('SELECT * FROM v_inv');
  assert.equal(inv.verdict, 'both-refuse');
  assert.equal(inv.direct.code, '42501');
  const both = await o.check('SELECT * FROM secrets');
  assert.equal(both.verdict, 'both-refuse');
  // Masked values: the raw value never arrives, the masked one does.
  await o.use({ tables: { customers: ['SELECT'] }, callAdd: false });
  const masked = await o.check('SELECT ssn, email FROM customers');
  assert.equal(masked.verdict, 'both-allow');
  assert.deepEqual(masked.leaked, []);
});

test('no statement Airlock allows is refused by PostgreSQL for privileges, and no masked value leaks', async () => {
  const s = await runBudget(o, { policies: 5, statements: 100, seed: 20261207 });
  const unknown = s.findings.filter((f) => f.known === null);
  console.log(report(s));
  assert.deepEqual(
    unknown.map(
      (f) =>
        `${f.verdict}: ${f.sql} → ${f.direct.code ?? 'ok'} ${f.direct.message}${f.leaked.length > 0 ? ` leaked ${f.leaked.join(',')}` : ''}`,
    ),
    [],
  );
  // The budget did reach both sides: some statements ran, some were refused by both.
  assert.ok(s.counts['both-allow'] > 20 && s.counts['both-refuse'] > 20, JSON.stringify(s.counts));
});

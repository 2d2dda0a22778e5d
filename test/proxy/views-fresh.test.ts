// Issue 11, class 1, the refresh window: a session fetches the views over masked tables when it starts, after
// its own DDL and once its copy is older than 10 s. A relation created or replaced in between must not be
// read raw: a name the session has not seen is refetched before the statement is decided, a result field
// from a relation created since the fetch (its OID above the fetch's bound) is redacted, and DDL by any
// session of the proxy makes every session refetch before its next statement.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, failure, POLICY } from './harness.ts';
import type { Harness } from './harness.ts';
import { quoteIdent } from '../support/pg.ts';
import { bind, execute, parse, query, SYNC } from '../../proxy/wire/messages.ts';
import { RawClient } from './raw-client.ts';

const types = (ms: { type: string }[]) => ms.map((m) => m.type).join('');

// Reads on public.v_*, views there may be created and replaced through the proxy; masking unchanged.
const FRESH_POLICY = POLICY.replace(
  'tables: ["public.customers", "public.orders", "public.big"] }',
  'tables: ["public.customers", "public.orders", "public.big", "public.v_*"] }',
).replace(
  '    - { name: add-customers,',
  '    - { name: views, effect: allow, operations: [DDL], tables: ["public.v_*"] }\n'
    + '    - { name: functions, effect: allow, operations: [DDL, CALL], functions: ["public.f_*"] }\n    - { name: add-customers,',
);

let h: Harness;
let grant: (rel: string) => string;
before(async () => {
  h = await startHarness({ policy: FRESH_POLICY });
  grant = (rel) => `GRANT SELECT ON ${rel} TO ${quoteIdent(h.role.user)}`;
});
after(async () => {
  await h?.stop();
});

test('a view created on a direct connection after the session started is masked by its lineage at once', async () => {
  const c = await h.client();
  await c.query('SELECT 1');
  await h.admin(`CREATE VIEW public.v_new AS SELECT id, email, ssn FROM public.customers; ${grant('public.v_new')}`);
  // the name is new to the session: refetched before the statement is decided
  assert.deepEqual((await c.query('SELECT * FROM public.v_new WHERE id = 1')).rows, [
    { id: 1, email: 'a***@example.org', ssn: '***' },
  ]);
  await h.admin(`CREATE VIEW public.v_new2 AS SELECT id, email FROM public.customers; ${grant('public.v_new2')}`);
  // an expression over it has no table OID: only the lineage known after the refetch masks it
  assert.deepEqual((await c.query("SELECT lower(email) || '' AS e FROM public.v_new2 WHERE id = 1")).rows, [
    { e: '***' },
  ]);
  await h.admin(`CREATE VIEW public.v_new3 AS SELECT id, ssn FROM public.customers; ${grant('public.v_new3')}`);
  const e = await failure(
    c.query('INSERT INTO public.orders (customer_id, amount, status) SELECT id, 1, ssn FROM public.v_new3'),
  );
  assert.equal(e.code, '42501', e.message);
  await h.admin(`CREATE VIEW public.v_new4 AS SELECT id, email FROM public.customers; ${grant('public.v_new4')}`);
  // extended protocol, first Parse of a batch
  assert.deepEqual((await c.query('SELECT email FROM public.v_new4 WHERE id = $1', [1])).rows, [
    { email: 'a***@example.org' },
  ]);
  assert.equal((await h.admin("SELECT count(*)::int AS n FROM public.orders WHERE status LIKE '9%'")).rows[0].n, 0);
});

test('a view dropped and created again under its old name is redacted until the session refetches, then masked by its lineage', async () => {
  await h.admin(
    `CREATE VIEW public.v_reborn AS SELECT id, name AS info FROM public.customers; ${grant('public.v_reborn')}`,
  );
  const c = await h.client();
  assert.deepEqual((await c.query('SELECT info FROM public.v_reborn WHERE id = 1')).rows, [{ info: 'Ava Costa' }]);
  await h.admin(
    `DROP VIEW public.v_reborn; CREATE VIEW public.v_reborn AS SELECT id, email AS info FROM public.customers; ${grant('public.v_reborn')}`,
  );
  // the name is known, the OID is not: lineage not established, redacted
  const first = (await c.query('SELECT id, info FROM public.v_reborn WHERE id = 1')).rows;
  assert.deepEqual(first, [{ id: null, info: '***' }]);
  // that read made the session refetch: now masked by the view's lineage (email: partial), id readable
  assert.deepEqual((await c.query('SELECT id, info FROM public.v_reborn WHERE id = 1')).rows, [
    { id: 1, info: 'a***@example.org' },
  ]);
});

test('extended protocol without a Describe: a view dropped and created again is redacted too', async () => {
  // over a table with no masked column at first; the client never asks for a Describe
  await h.admin(
    `CREATE VIEW public.v_reborn2 AS SELECT id, status AS info FROM public.orders; ${grant('public.v_reborn2')}`,
  );
  const c = await RawClient.connect(h.port);
  c.send(query('SELECT info FROM public.v_reborn2 WHERE id = 1'));
  assert.deepEqual((await c.readies(1)).find((m) => m.type === 'D')!.values, ['pending']);
  await h.admin(`DROP VIEW public.v_reborn2; CREATE VIEW public.v_reborn2 AS SELECT id, email AS info FROM public.customers;
    ${grant('public.v_reborn2')}`);
  const batch = [parse('', 'SELECT info FROM public.v_reborn2 WHERE id = 1'), bind({}), execute(), SYNC];
  c.send(...batch);
  const first = await c.readies(1);
  assert.equal(types(first), '12DCZ'); // the proxy's own Describe is not passed on
  assert.deepEqual(first[2]!.values, ['***']);
  c.send(...batch);
  assert.deepEqual((await c.readies(1))[2]!.values, ['a***@example.org']);
  c.close();
});

test('an SQL function or a view replaced through another session of the proxy is decided on its new definition at once', async () => {
  const a = await h.client();
  const b = await h.client();
  // orders has no masked column; customers has
  const fn = (col: string, table: string) =>
    `CREATE OR REPLACE FUNCTION public.f_info(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT ${col}::text FROM public.${table} WHERE id = $1'`;
  await b.query(fn('status', 'orders'));
  const info = async () => (await a.query('SELECT public.f_info(1) AS info')).rows[0].info as string;
  assert.equal(await info(), 'pending');
  // same OID, same name, a computed value (no table OID): only the epoch tells session a
  await b.query(fn('ssn', 'customers'));
  assert.equal(await info(), '***');
  await b.query(fn('status', 'orders'));
  assert.equal(await info(), 'pending');
  // in a transaction: the epoch moves when it commits
  await b.query('BEGIN');
  await b.query(fn('email', 'customers'));
  await b.query('COMMIT');
  assert.equal(await info(), '***');
  assert.deepEqual((await a.query('SELECT public.f_info($1) AS info', [1])).rows, [{ info: '***' }]);

  // a view the proxy's role owns, replaced in place (PostgreSQL keeps its OID)
  await h.admin(
    `CREATE VIEW public.v_mine AS SELECT id, ssn AS info FROM public.customers; ALTER VIEW public.v_mine OWNER TO ${quoteIdent(h.role.user)}`,
  );
  assert.deepEqual((await a.query('SELECT info FROM public.v_mine WHERE id = 1')).rows, [{ info: '***' }]);
  await b.query('CREATE OR REPLACE VIEW public.v_mine AS SELECT id, name AS info FROM public.customers');
  assert.deepEqual((await a.query('SELECT info FROM public.v_mine WHERE id = 1')).rows, [{ info: 'Ava Costa' }]);
});

test('a new plain table created elsewhere is readable at once; dropped and created again, after one redacted read', async () => {
  const c = await h.client();
  await c.query('SELECT 1');
  await h.admin(
    `CREATE TABLE public.v_notes (id int, note text); INSERT INTO public.v_notes VALUES (1, 'hello'); ${grant('public.v_notes')}`,
  );
  assert.deepEqual((await c.query('SELECT * FROM public.v_notes')).rows, [{ id: 1, note: 'hello' }]);
  await h.admin(`DROP TABLE public.v_notes; CREATE TABLE public.v_notes (id int, note text); INSERT INTO public.v_notes VALUES (2, 'again');
    ${grant('public.v_notes')}`);
  assert.deepEqual((await c.query('SELECT * FROM public.v_notes')).rows, [{ id: null, note: '***' }]);
  assert.deepEqual((await c.query('SELECT * FROM public.v_notes')).rows, [{ id: 2, note: 'again' }]);
});

test('inside one extended batch, a statement naming an object created since the fetch is refused, and runs after Sync', async () => {
  const c = await RawClient.connect(h.port);
  c.send(query('SELECT 1'));
  await c.readies(1);
  await h.admin(`CREATE VIEW public.v_batch AS SELECT id, email FROM public.customers; ${grant('public.v_batch')}`);
  // the first Parse of a batch may wait for a refetch; a later one cannot (no Query can be injected mid-batch)
  c.send(
    parse('', 'SELECT 1 AS one'),
    bind({}),
    execute(),
    parse('', 'SELECT email FROM public.v_batch WHERE id = 1'),
    bind({}),
    execute(),
    SYNC,
  );
  const ms = await c.readies(1);
  assert.equal(types(ms), '12DC' + 'EZ');
  assert.equal(ms[4]!.code, '55000');
  assert.match(ms[4]!.message!, /created after Airlock last read the catalog/);
  // the catalog was read again after Sync: the same batch now runs, masked by the view's lineage
  c.send(
    parse('', 'SELECT 1 AS one'),
    bind({}),
    execute(),
    parse('', 'SELECT email FROM public.v_batch WHERE id = 1'),
    bind({}),
    execute(),
    SYNC,
  );
  const again = await c.readies(1);
  assert.equal(types(again), '12DC' + '12DCZ');
  assert.deepEqual(again[6]!.values, ['a***@example.org']);
  c.close();
});

test('what the session itself creates is usable at once, in the same string and in the same batch', async () => {
  const c = await h.client();
  const r = (await c.query('CREATE VIEW public.v_own AS SELECT 7 AS n; SELECT * FROM public.v_own')) as unknown as {
    rows: unknown[];
  }[];
  assert.deepEqual(r[1]!.rows, [{ n: 7 }]);
  const raw = await RawClient.connect(h.port);
  raw.send(
    parse('', 'CREATE VIEW public.v_own2 AS SELECT 8 AS n'),
    bind({}),
    execute(),
    parse('', 'SELECT n FROM public.v_own2'),
    bind({}),
    execute(),
    SYNC,
  );
  const ms = await raw.readies(1);
  assert.equal(types(ms), '12C' + '12DCZ');
  assert.deepEqual(ms[5]!.values, ['8']);
  raw.close();
});

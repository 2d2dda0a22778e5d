import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pg from 'pg';
import { startDemoDatabase } from './demo-db.ts';

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('demo database serves the seeded schema over TCP to a real client, and stops', async () => {
  const demo = await startDemoDatabase();
  const a = new pg.Client({
    host: demo.host,
    port: demo.port,
    user: demo.user,
    password: demo.password,
    database: demo.database,
  });
  // PGlite does no authentication: any name and password get in (docs/local-mode.md says so).
  const b = new pg.Client({
    host: demo.host,
    port: demo.port,
    user: 'anyone',
    password: 'anything',
    database: 'whatever',
  });
  try {
    await a.connect();
    await b.connect();
    const columns = await a.query(`SELECT table_name, string_agg(column_name, ',' ORDER BY ordinal_position) AS cols
      FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name ORDER BY table_name`);
    assert.deepEqual(columns.rows, [
      { table_name: 'customers', cols: 'id,name,email,ssn,created_at' },
      { table_name: 'orders', cols: 'id,customer_id,amount,status,created_at' },
    ]);
    const counts = await b.query(
      'SELECT (SELECT count(*) FROM public.customers)::int AS c, (SELECT count(*) FROM public.orders)::int AS o',
    );
    assert.ok(
      counts.rows[0].c >= 24 && counts.rows[0].o >= 24,
      `a few dozen rows each, got ${JSON.stringify(counts.rows[0])}`,
    );
    // Extended protocol with parameters, as drivers use it.
    const one = await a.query('SELECT email, ssn FROM public.customers WHERE id = $1', [1]);
    assert.match(one.rows[0].email, /^[a-z]+\.[a-z]+@example\.(com|org|net)$/);
    assert.match(one.rows[0].ssn, /^9\d\d-\d\d-\d{4}$/);
    // The seed's UNIQUE email makes PostgreSQL echo the value in DETAIL: the case masking must cover.
    await assert.rejects(
      b.query(`INSERT INTO public.customers (name, email, ssn) VALUES ('X', $1, '900-00-0000')`, [one.rows[0].email]),
      (err: { code?: string; detail?: string }) =>
        err.code === '23505' && (err.detail ?? '').includes(one.rows[0].email),
    );
  } finally {
    await a.end().catch(() => {});
    await b.end().catch(() => {});
    await demo.stop();
  }
  assert.equal(await portAccepts(demo.port), false);
});

test('each start begins from the seed (in-memory)', async () => {
  const first = await startDemoDatabase();
  const c1 = new pg.Client({ host: first.host, port: first.port, user: first.user, database: first.database });
  await c1.connect();
  await c1.query('DELETE FROM public.orders');
  await c1.end();
  await first.stop();
  const second = await startDemoDatabase();
  const c2 = new pg.Client({ host: second.host, port: second.port, user: second.user, database: second.database });
  await c2.connect();
  try {
    assert.ok((await c2.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n > 0);
  } finally {
    await c2.end();
    await second.stop();
  }
});

test('connections share one PGlite session (the documented limit)', async () => {
  const demo = await startDemoDatabase();
  const a = new pg.Client({ host: demo.host, port: demo.port, user: demo.user, database: demo.database });
  const b = new pg.Client({ host: demo.host, port: demo.port, user: demo.user, database: demo.database });
  try {
    await a.connect();
    await b.connect();
    await a.query(`SET application_name = 'set-on-a'`);
    assert.equal((await b.query('SHOW application_name')).rows[0].application_name, 'set-on-a');
  } finally {
    await a.end().catch(() => {});
    await b.end().catch(() => {});
    await demo.stop();
  }
});
